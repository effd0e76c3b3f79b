// Implementation of single-sequence generation.
#include "model/generator.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "core/seconds.h"

namespace dsla::model {

double GenerateResult::prefill_tokens_per_second() const {
  return prefill_seconds > 0 ? static_cast<double>(prompt_tokens) / prefill_seconds : 0;
}

double GenerateResult::decode_tokens_per_second() const {
  // The first new token comes from the prefill; decode produced the rest.
  auto n = static_cast<double>(std::max<size_t>(tokens.size(), 1) - 1);
  return decode_seconds > 0 ? n / decode_seconds : 0;
}

GenerateResult generate(LlamaForCausalLMImpl& model, const std::vector<int64_t>& prompt,
                        const GenerateOptions& options,
                        const std::function<void(int64_t)>& on_token) {
  DSLA_CHECK(!prompt.empty(), "generate needs a non-empty prompt (add BOS for an empty text)");
  DSLA_CHECK(options.max_new_tokens >= 0, "max_new_tokens must be >= 0");
  c10::InferenceMode guard;
  GenerateResult result;
  result.prompt_tokens = static_cast<int64_t>(prompt.size());
  if (options.max_new_tokens == 0) return result;
  Sampler sampler(options.sampling);
  InferenceCache cache = model.make_cache();
  at::Tensor ids = at::tensor(prompt, at::kLong).unsqueeze(0);  // [1, T]
  auto t0 = std::chrono::steady_clock::now();
  int64_t total = ids.size(1);
  int64_t chunk = options.prefill_chunk > 0 ? options.prefill_chunk : total;
  at::Tensor logits;
  for (int64_t start = 0; start < total; start += chunk) {
    int64_t len = std::min(chunk, total - start);
    logits = model.forward(ids.narrow(1, start, len), start, &cache, LogitsFor::kLast);
  }
  result.prefill_seconds = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  int64_t pos = total;
  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    if (step > 0) {
      at::Tensor last = at::tensor({result.tokens.back()}, at::kLong).unsqueeze(0);  // [1, 1]
      logits = model.forward(last, pos++, &cache, LogitsFor::kLast);
    }
    int64_t next = sampler.next(logits.select(1, 0)).item<int64_t>();
    result.tokens.push_back(next);
    if (on_token) on_token(next);
    if (std::find(options.stop_ids.begin(), options.stop_ids.end(), next) !=
        options.stop_ids.end()) {
      result.stopped = true;
      break;
    }
  }
  result.decode_seconds = seconds_since(t0);
  return result;
}

}  // namespace dsla::model
