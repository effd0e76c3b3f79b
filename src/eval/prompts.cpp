// Implementation of evaluation prompt construction.
#include "eval/prompts.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <random>

#include "core/error.h"

namespace dsla::eval {

std::string render_template(const std::string& tmpl, const Example& example,
                            const std::string& where) {
  std::string out;
  size_t pos = 0;
  while (pos < tmpl.size()) {
    size_t open = tmpl.find('{', pos);
    size_t close = open == std::string::npos ? open : tmpl.find('}', open);
    if (close == std::string::npos) {
      out += tmpl.substr(pos);
      break;
    }
    std::string name = tmpl.substr(open + 1, close - open - 1);
    auto it = example.fields.find(name);
    if (it == example.fields.end()) {
      std::vector<std::string> have;
      for (const auto& [k, v] : example.fields) have.push_back(k);
      DSLA_FAIL("{}: the template names {{{}}} but example '{}' has fields: {}", where, name,
                example.id, fmt::join(have, ", "));
    }
    out += tmpl.substr(pos, open - pos) + it->second;
    pos = close + 1;
  }
  return out;
}

PromptBuilder::PromptBuilder(const TaskConfig& task, const std::vector<Example>& examples,
                             const Tokenizer& tokenizer, uint64_t seed)
    : task_(task), examples_(examples), tokenizer_(tokenizer), seed_(seed) {
  for (size_t i = 0; i < examples.size(); ++i) {
    bool usable = task.kind == TaskKind::kMultipleChoice ? examples[i].gold >= 0
                                                         : !examples[i].references.empty();
    if (usable) exemplar_pool_.push_back(i);
  }
  DSLA_CHECK(task.few_shot == 0 || exemplar_pool_.size() > static_cast<size_t>(task.few_shot),
             "{}: few_shot {} needs more examples with answers than the file has",
             task.file.string(), task.few_shot);
}

int64_t PromptBuilder::tokens(const std::string& text) {
  auto it = token_counts_.find(text);
  if (it != token_counts_.end()) return it->second;
  auto n = static_cast<int64_t>(tokenizer_.encode(text, false).size());
  token_counts_.emplace(text, n);
  return n;
}

Example PromptBuilder::prepared(size_t index) {
  Example e = examples_.at(index);
  if (task_.max_field_tokens > 0 && !task_.truncate_field.empty()) {
    auto it = e.fields.find(task_.truncate_field);
    DSLA_CHECK(it != e.fields.end(), "{}: truncate_field '{}' is not a field of example '{}'",
               task_.file.string(), task_.truncate_field, e.id);
    std::vector<int64_t> ids = tokenizer_.encode(it->second, false);
    if (static_cast<int64_t>(ids.size()) > task_.max_field_tokens) {
      ids.resize(static_cast<size_t>(task_.max_field_tokens));
      it->second = tokenizer_.decode(ids);
    }
  }
  if (!e.references.empty()) e.fields.emplace("answer", e.references.front());
  if (e.gold >= 0) e.fields["answer"] = e.choices[static_cast<size_t>(e.gold)];
  return e;
}

std::string PromptBuilder::few_shot_prefix(size_t index) {
  if (task_.few_shot == 0) return "";
  // The same exemplars for an example whatever else is evaluated: a generator seeded by both.
  std::mt19937_64 rng(seed_ * 1000003 + index);
  std::vector<size_t> pool = exemplar_pool_;
  std::shuffle(pool.begin(), pool.end(), rng);
  std::string out;
  int64_t taken = 0;
  const auto& mine = examples_[index].fields;
  auto context = mine.find("context");
  for (size_t j : pool) {
    if (taken == task_.few_shot) break;
    if (j == index) continue;
    Example ex = prepared(j);
    // Never show the example's own paragraph as an exemplar.
    auto ctx = ex.fields.find("context");
    if (context != mine.end() && ctx != ex.fields.end() && ctx->second == context->second) continue;
    out += render_template(task_.prompt, ex, task_.file.string()) +
           render_template(task_.target, ex, task_.file.string()) + task_.few_shot_separator;
    ++taken;
  }
  return out;
}

Example PromptBuilder::padded(Example e, int64_t pad_to) {
  auto ctx = e.fields.find("context");
  DSLA_CHECK(ctx != e.fields.end(), "{}: pad_context_to needs a 'context' field",
             task_.file.string());
  int64_t base = tokens(render_template(task_.prompt, e, task_.file.string()));
  std::vector<std::string> filler = distractor_paragraphs(examples_, e.group);
  std::mt19937_64 rng(seed_ * 7919 + std::hash<std::string>{}(e.id));
  std::shuffle(filler.begin(), filler.end(), rng);
  const int64_t sep = tokens("\n\n");
  std::vector<std::string> chosen;
  int64_t total = base;
  for (const auto& p : filler) {
    int64_t n = tokens(p) + sep;
    if (total + n > pad_to) continue;  // a shorter paragraph may still fit
    chosen.push_back(p);
    total += n;
  }
  size_t at = std::uniform_int_distribution<size_t>(0, chosen.size())(rng);
  chosen.insert(chosen.begin() + static_cast<std::ptrdiff_t>(at), ctx->second);
  ctx->second = fmt::format("{}", fmt::join(chosen, "\n\n"));
  return e;
}

std::string PromptBuilder::prompt(size_t index, int64_t pad_to) {
  std::string prefix = few_shot_prefix(index);
  Example e = prepared(index);
  if (pad_to <= 0) return prefix + render_template(task_.prompt, e, task_.file.string());
  // Tokens of joined texts differ a little from the sum of their parts: measure the whole prompt
  // and drop filler until it fits.
  int64_t budget = pad_to - tokens(prefix) - 8;
  for (int attempt = 0;; ++attempt) {
    std::string p = prefix + render_template(task_.prompt, padded(e, budget), task_.file.string());
    auto n = static_cast<int64_t>(tokenizer_.encode(p, task_.add_bos).size());
    if (n <= pad_to || attempt == 8) return p;
    budget -= n - pad_to + 8;
  }
}

}  // namespace dsla::eval
