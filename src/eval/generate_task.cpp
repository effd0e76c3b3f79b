// Generation tasks: prompts in length-sorted batches, greedy decoding cut at stop strings, SQuAD or
// ROUGE scores, per-example predictions as JSONL.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/seconds.h"
#include "eval/prompts.h"
#include "eval/rouge.h"
#include "eval/squad_metric.h"
#include "eval/task_runner.h"
#include "model/batch_generator.h"

namespace dsla::eval {

namespace {
/// The ASCII whitespace Python's str.strip() removes (Unicode spaces such as U+00A0 stay).
constexpr const char* kWhitespace = " \t\r\n\f\v\x1c\x1d\x1e\x1f";
}  // namespace

size_t stop_position(const std::string& text, const std::vector<std::string>& stop) {
  size_t from = text.find_first_not_of(kWhitespace);
  if (from == std::string::npos) return std::string::npos;
  size_t cut = std::string::npos;
  for (const auto& s : stop) cut = std::min(cut, s.empty() ? cut : text.find(s, from));
  return cut;
}

std::string finish_text(std::string text, const std::vector<std::string>& stop) {
  size_t cut = stop_position(text, stop);
  if (cut != std::string::npos) text.resize(cut);
  size_t b = text.find_first_not_of(kWhitespace);
  if (b == std::string::npos) return "";
  return text.substr(b, text.find_last_not_of(kWhitespace) - b + 1);
}

namespace {

constexpr int64_t kMaxBatchTokens = 8192;  // padded prompt tokens per batch (bounds the masks)

/// Per-example scores of the task's metric (fractions).
std::map<std::string, double> score(const TaskConfig& task, const std::string& prediction,
                                    const Example& e) {
  if (task.metric == "squad") {
    SquadScore s = squad_score(prediction, e.references);
    return {{"exact", s.exact}, {"f1", s.f1}};
  }
  RougeScores r = rouge_scores(prediction, e.references.front());
  return {
      {"rouge1", r.rouge1.fmeasure}, {"rouge2", r.rouge2.fmeasure}, {"rougeL", r.rougeL.fmeasure}};
}

/// Batches of example indices, longest prompts first, within the batch size and token budget.
std::vector<std::vector<size_t>> make_batches(const std::vector<std::vector<int64_t>>& ids,
                                              int64_t batch_size) {
  std::vector<size_t> order(ids.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return ids[a].size() > ids[b].size(); });
  std::vector<std::vector<size_t>> batches;
  for (size_t i : order) {
    bool fits = !batches.empty() && static_cast<int64_t>(batches.back().size()) < batch_size &&
                static_cast<int64_t>((batches.back().size() + 1) * ids[batches.back()[0]].size()) <=
                    kMaxBatchTokens;
    if (!fits) batches.emplace_back();
    batches.back().push_back(i);
  }
  return batches;
}

}  // namespace

size_t examples_to_run(const TaskConfig& task, const EvalSettings& settings, size_t available) {
  int64_t limit = settings.limit > 0 ? settings.limit : task.limit;
  return limit > 0 ? std::min(available, static_cast<size_t>(limit)) : available;
}

TaskResult run_generate_task(model::LlamaForCausalLMImpl& model, const Tokenizer& tokenizer,
                             const TaskConfig& task, const std::vector<Example>& examples,
                             int64_t pad_to, const EvalSettings& settings) {
  size_t n = examples_to_run(task, settings, examples.size());
  PromptBuilder builder(task, examples, tokenizer, settings.seed);
  std::vector<std::string> prompts(n);
  std::vector<std::vector<int64_t>> ids(n);
  int64_t max_pos = model.config().max_position_embeddings;
  std::vector<std::string> stop = task.stop;
  if (task.chat_template) {
    DSLA_CHECK(settings.chat != nullptr && settings.chat->supported(),
               "{}: chat_template is true, but the model's chat template cannot be used: {}",
               task.file.string(), settings.chat ? settings.chat->error() : "none was given");
    stop.push_back(settings.chat->end_of_turn());
  }
  for (size_t i = 0; i < n; ++i) {
    prompts[i] = builder.prompt(i, pad_to > 0 ? pad_to - task.max_new_tokens : 0);
    if (task.chat_template) prompts[i] = settings.chat->render({{"user", prompts[i]}});
    ids[i] = tokenizer.encode(prompts[i], task.add_bos);
    DSLA_CHECK(!ids[i].empty(), "{}: example '{}' has an empty prompt", task.file.string(),
               examples[i].id);
    DSLA_CHECK(static_cast<int64_t>(ids[i].size()) + task.max_new_tokens <= max_pos,
               "{}: example '{}' needs {} + {} positions, the model has {}", task.file.string(),
               examples[i].id, ids[i].size(), task.max_new_tokens, max_pos);
  }
  model::BatchGenerateOptions go;
  go.max_new_tokens = task.max_new_tokens;
  go.sampling.vocab_limit = tokenizer.vocab_size();
  if (auto eos = tokenizer.eos_id()) go.stop_ids.push_back(*eos), go.pad_id = *eos;
  auto stop_found = [&](size_t, const std::vector<int64_t>& tokens) {
    return stop_position(tokenizer.decode(tokens), stop) != std::string::npos;
  };
  TaskResult result;
  result.task = task_label(task, pad_to);
  result.examples = static_cast<int64_t>(n);
  std::vector<std::string> predictions(n);
  std::vector<double> seconds(n);
  std::optional<ProgressBar> bar;
  if (settings.progress) bar.emplace(result.task, static_cast<int64_t>(n), "ex");
  for (const auto& batch : make_batches(ids, settings.batch_size)) {
    std::vector<std::vector<int64_t>> batch_ids;
    for (size_t i : batch) batch_ids.push_back(ids[i]);
    auto t0 = std::chrono::steady_clock::now();
    auto out = model::generate_batch(model, batch_ids, go, stop_found);
    double dt = seconds_since(t0);
    result.seconds += dt;
    for (size_t r = 0; r < batch.size(); ++r) {
      predictions[batch[r]] = finish_text(tokenizer.decode(out[r].tokens), stop);
      seconds[batch[r]] = dt / static_cast<double>(batch.size());
    }
    if (bar) bar->advance(static_cast<int64_t>(batch.size()));
  }
  if (bar) bar->finish();
  std::ostringstream lines;
  std::map<std::string, double> sums;
  double prompt_tokens = 0;
  for (size_t i = 0; i < n; ++i) {
    auto s = score(task, predictions[i], examples[i]);
    for (const auto& [k, v] : s) sums[k] += v;
    prompt_tokens += static_cast<double>(ids[i].size());
    nlohmann::json line = {{"task", result.task},
                           {"index", i},
                           {"id", examples[i].id},
                           {"prompt", prompts[i]},
                           {"add_bos", task.add_bos},
                           {"max_new_tokens", task.max_new_tokens},
                           {"stop", stop},
                           {"prediction", predictions[i]},
                           {"references", examples[i].references},
                           {"metric", task.metric},
                           {"prompt_tokens", ids[i].size()},
                           {"seconds", seconds[i]},
                           {"scores", s}};
    lines << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  for (const auto& [k, v] : sums) result.metrics[k] = 100.0 * v / static_cast<double>(n);
  result.mean_prompt_tokens = prompt_tokens / static_cast<double>(n);
  result.protocol = fmt::format(
      "{}-shot{}, greedy, at most {} new tokens, ends at EOS or a stop string ({}) after the "
      "answer's leading whitespace, the text cut there and stripped",
      task.few_shot, task.chat_template ? " in the model's chat template (one user turn)" : "",
      task.max_new_tokens, nlohmann::json(stop).dump());
  if (!settings.predictions.empty()) write_text_atomically(settings.predictions, lines.str());
  return result;
}

}  // namespace dsla::eval
