// Multiple choice by log-likelihood (the lm-evaluation-harness convention): each choice's summed
// token log-probability after the prompt; acc and length-normalised acc_norm.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/seconds.h"
#include "eval/prompts.h"
#include "eval/task_runner.h"

namespace dsla::eval {
namespace {

/// One scored continuation: the full ids and where the continuation starts.
struct Request {
  std::vector<int64_t> ids;
  size_t continuation_start = 0;
};

/// The harness's split: encode the context and context + continuation; the continuation's tokens
/// are those of the whole past the context's.
Request make_request(const Tokenizer& tok, const std::string& context,
                     const std::string& continuation, bool add_bos) {
  Request r;
  std::vector<int64_t> ctx = tok.encode(context, add_bos);
  r.ids = tok.encode(context + continuation, add_bos);
  r.continuation_start = std::min(ctx.size(), r.ids.size() - 1);
  DSLA_CHECK(r.continuation_start >= 1,
             "multiple choice: an empty prompt has nothing to condition "
             "on (set add_bos or a prompt)");
  return r;
}

/// Summed log-probabilities of each request's continuation, in one right-padded forward pass.
std::vector<double> log_likelihoods(model::LlamaForCausalLMImpl& model,
                                    const std::vector<Request>& requests) {
  size_t longest = 0;
  for (const auto& r : requests) longest = std::max(longest, r.ids.size());
  auto b = static_cast<int64_t>(requests.size());
  at::Tensor ids = at::zeros({b, static_cast<int64_t>(longest)}, at::kLong);
  for (int64_t i = 0; i < b; ++i) {
    const auto& r = requests[static_cast<size_t>(i)].ids;
    ids[i].narrow(0, 0, static_cast<int64_t>(r.size())).copy_(at::tensor(r, at::kLong));
  }
  // Right padding needs no mask: causal positions before the padding never see it.
  ids = ids.to(model.device());
  at::Tensor hidden = model.hidden_states(ids, 0, nullptr);  // [B, T, hidden]
  std::vector<double> out;
  for (int64_t i = 0; i < b; ++i) {
    const Request& r = requests[static_cast<size_t>(i)];
    auto start = static_cast<int64_t>(r.continuation_start);
    auto count = static_cast<int64_t>(r.ids.size()) - start;
    // Position p predicts token p + 1: positions start - 1 .. end - 2.
    at::Tensor logp = at::log_softmax(model.logits(hidden[i].narrow(0, start - 1, count)), -1);
    at::Tensor target = ids[i].narrow(0, start, count).unsqueeze(1);  // [count, 1]
    out.push_back(logp.gather(1, target).sum().item<double>());
  }
  return out;
}

/// Characters (UTF-8 code points) of `s`.
double char_length(const std::string& s) {
  double n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

TaskResult run_choice_task(model::LlamaForCausalLMImpl& model, const Tokenizer& tokenizer,
                           const TaskConfig& task, const std::vector<Example>& examples,
                           const EvalSettings& settings) {
  c10::InferenceMode guard;
  size_t n = examples_to_run(task, settings, examples.size());
  PromptBuilder builder(task, examples, tokenizer, settings.seed);
  TaskResult result;
  result.task = task.name;
  result.examples = static_cast<int64_t>(n);
  double correct = 0, correct_norm = 0, prompt_tokens = 0;
  std::ostringstream lines;
  std::optional<ProgressBar> bar;
  if (settings.progress) bar.emplace(task.name, static_cast<int64_t>(n), "ex");
  for (size_t i = 0; i < n; ++i) {
    const Example& e = examples[i];
    std::string context = builder.prompt(i);
    std::vector<Request> requests;
    for (const auto& c : e.choices) {
      requests.push_back(make_request(tokenizer, context, task.choice_prefix + c, task.add_bos));
    }
    auto t0 = std::chrono::steady_clock::now();
    std::vector<double> ll = log_likelihoods(model, requests);
    result.seconds += seconds_since(t0);
    size_t best = 0, best_norm = 0;
    std::vector<double> norm;
    for (size_t c = 0; c < ll.size(); ++c) {
      norm.push_back(ll[c] / char_length(task.choice_prefix + e.choices[c]));
      if (ll[c] > ll[best]) best = c;
      if (norm[c] > norm[best_norm]) best_norm = c;
    }
    correct += static_cast<int64_t>(best) == e.gold;
    correct_norm += static_cast<int64_t>(best_norm) == e.gold;
    prompt_tokens += static_cast<double>(requests.front().continuation_start);
    lines << nlohmann::json({{"task", task.name},
                             {"index", i},
                             {"id", e.id},
                             {"prompt", context},
                             {"choices", e.choices},
                             {"gold", e.gold},
                             {"loglikelihoods", ll},
                             {"pred", best},
                             {"pred_norm", best_norm}})
                 .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
          << "\n";
    if (bar) bar->advance(1);
  }
  if (bar) bar->finish();
  result.metrics = {{"acc", 100.0 * correct / static_cast<double>(n)},
                    {"acc_norm", 100.0 * correct_norm / static_cast<double>(n)}};
  result.mean_prompt_tokens = prompt_tokens / static_cast<double>(n);
  result.protocol = fmt::format(
      "log-likelihood of each of the choices after the prompt (choice prefix '{}'); acc_norm "
      "divides by the continuation's length in characters",
      task.choice_prefix);
  if (!settings.predictions.empty()) write_text_atomically(settings.predictions, lines.str());
  return result;
}

}  // namespace dsla::eval
