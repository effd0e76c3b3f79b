// Prompt construction for evaluation: {field} templates, few-shot exemplars, field truncation and
// long-context padding of a SQuAD context with unrelated paragraphs.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "eval/examples.h"
#include "tokenizer/tokenizer.h"

namespace dsla::eval {

/// `tmpl` with every {name} replaced by the example's field; throws dsla::Error naming `where`
/// and the fields the example has when a name is unknown.
std::string render_template(const std::string& tmpl, const Example& example,
                            const std::string& where);

class PromptBuilder {
 public:
  /// `examples` is the whole file (exemplars and distractors come from it); `seed` fixes which.
  PromptBuilder(const TaskConfig& task, const std::vector<Example>& examples,
                const Tokenizer& tokenizer, uint64_t seed);

  /// The prompt of example `index`: few-shot exemplars, then the rendered prompt. With
  /// `pad_to` > 0 the context is padded with other articles' paragraphs (the real one at a seeded
  /// place) until the prompt has about `pad_to` tokens.
  std::string prompt(size_t index, int64_t pad_to = 0);

 private:
  Example prepared(size_t index);
  std::string few_shot_prefix(size_t index);
  Example padded(Example example, int64_t pad_to);
  int64_t tokens(const std::string& text);

  const TaskConfig& task_;
  const std::vector<Example>& examples_;
  const Tokenizer& tokenizer_;
  uint64_t seed_;
  std::vector<size_t> exemplar_pool_;
  std::map<std::string, int64_t> token_counts_;
};

}  // namespace dsla::eval
