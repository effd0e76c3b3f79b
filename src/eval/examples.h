// Evaluation examples and their loaders: SQuAD 2.0 JSON, JSONL (incl. the lm-evaluation-harness
// multiple-choice layout) and a sentence cloze built from a plain-text corpus.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "eval/task_config.h"

namespace dsla::eval {

struct Example {
  std::string id;
  std::map<std::string, std::string> fields;  ///< what prompt templates name as {field}
  std::vector<std::string> references;        ///< gold answers (empty: unanswerable) or summary
  std::vector<std::string> choices;           ///< multiple choice
  int64_t gold = -1;                          ///< index of the right choice
  std::string group;                          ///< squad: the article (for distractor paragraphs)
};

/// The task's examples in file order. SQuAD examples have fields title, context, question and
/// answer (the first gold answer); unanswerable ones are skipped unless include_unanswerable.
/// Throws dsla::Error naming the file (and line) for missing files, bad JSON and missing fields.
std::vector<Example> load_examples(const TaskConfig& task);

/// SQuAD paragraphs of articles other than `group`, in file order (long-context filler).
std::vector<std::string> distractor_paragraphs(const std::vector<Example>& examples,
                                               const std::string& group);

}  // namespace dsla::eval
