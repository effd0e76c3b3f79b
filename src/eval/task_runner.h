// Running one evaluation task on one model: generation tasks (QA, summarization), multiple choice
// by log-likelihood, and perplexity; what a run reports.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "eval/examples.h"
#include "model/llama.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace dsla::eval {

struct EvalSettings {
  int64_t limit = 0;  ///< > 0: only the first N examples (overrides the task's limit)
  uint64_t seed = 0;  ///< few-shot exemplars and distractor placement
  int64_t batch_size = 8;
  bool progress = true;
  std::filesystem::path predictions;   ///< where to write per-example JSONL (empty: nowhere)
  const ChatTemplate* chat = nullptr;  ///< the model's chat template, for chat_template tasks
};

struct TaskResult {
  std::string task;                       ///< label, e.g. "squad" or "squad_long@4096"
  std::map<std::string, double> metrics;  ///< e.g. exact, f1 (percent) or ppl:wikitext2
  int64_t examples = 0;
  double seconds = 0;  ///< model time (prompt building and scoring excluded)
  double mean_prompt_tokens = 0;
  std::string protocol;  ///< how the numbers were made (e.g. the perplexity window)
  double examples_per_second() const { return seconds > 0 ? examples / seconds : 0; }
};

/// Where the earliest stop string starts in a generated `text`, ignoring its leading whitespace
/// (an answer that opens with a newline is not cut to nothing by stop "\n"); npos when none does.
size_t stop_position(const std::string& text, const std::vector<std::string>& stop);
/// `text` cut at stop_position and stripped of surrounding ASCII whitespace (what Python's
/// str.strip() removes of ASCII; Unicode spaces such as U+00A0 stay).
std::string finish_text(std::string text, const std::vector<std::string>& stop);

/// The examples a run evaluates: the first `limit` (settings, else the task's) of the file.
size_t examples_to_run(const TaskConfig& task, const EvalSettings& settings, size_t available);

/// Greedy generation per example, cut at the stop strings, scored by the task's metric (squad:
/// exact and f1; rouge: rouge1, rouge2, rougeL F-measure; all in percent). `pad_to` > 0 pads
/// SQuAD contexts to that many prompt tokens.
TaskResult run_generate_task(model::LlamaForCausalLMImpl& model, const Tokenizer& tokenizer,
                             const TaskConfig& task, const std::vector<Example>& examples,
                             int64_t pad_to, const EvalSettings& settings);

/// Log-likelihood of each choice after the prompt: acc (sum) and acc_norm (divided by the
/// choice's length in characters), in percent, as the lm-evaluation-harness computes them.
TaskResult run_choice_task(model::LlamaForCausalLMImpl& model, const Tokenizer& tokenizer,
                           const TaskConfig& task, const std::vector<Example>& examples,
                           const EvalSettings& settings);

/// Sliding-window perplexity of each text file ("ppl:<file stem>").
TaskResult run_perplexity_task(model::LlamaForCausalLMImpl& model, const Tokenizer& tokenizer,
                               const TaskConfig& task, const EvalSettings& settings);

}  // namespace dsla::eval
