// Implementation of batched generation with left padding and row compaction.
#include "model/batch_generator.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "core/seconds.h"

namespace dsla::model {
namespace {

/// Prompts left-padded into ids [B, T] and their padding [B].
std::pair<at::Tensor, at::Tensor> left_pad(const std::vector<std::vector<int64_t>>& prompts,
                                           int64_t pad_id) {
  size_t longest = 0;
  for (const auto& p : prompts) longest = std::max(longest, p.size());
  auto b = static_cast<int64_t>(prompts.size());
  at::Tensor ids = at::full({b, static_cast<int64_t>(longest)}, pad_id, at::kLong);
  at::Tensor pad = at::empty({b}, at::kLong);
  auto acc = ids.accessor<int64_t, 2>();
  for (size_t r = 0; r < prompts.size(); ++r) {
    size_t offset = longest - prompts[r].size();
    pad[static_cast<int64_t>(r)] = static_cast<int64_t>(offset);
    for (size_t j = 0; j < prompts[r].size(); ++j) {
      acc[static_cast<int64_t>(r)][static_cast<int64_t>(offset + j)] = prompts[r][j];
    }
  }
  return {ids, pad};
}

bool is_stop_id(const std::vector<int64_t>& stop_ids, int64_t id) {
  return std::find(stop_ids.begin(), stop_ids.end(), id) != stop_ids.end();
}

}  // namespace

std::vector<GenerateResult> generate_batch(LlamaForCausalLMImpl& model,
                                           const std::vector<std::vector<int64_t>>& prompts,
                                           const BatchGenerateOptions& options,
                                           const StopCheck& should_stop) {
  DSLA_CHECK(options.max_new_tokens >= 0, "max_new_tokens must be >= 0");
  for (const auto& p : prompts) {
    DSLA_CHECK(!p.empty(), "generate needs non-empty prompts (add BOS for an empty text)");
  }
  std::vector<GenerateResult> results(prompts.size());
  for (size_t r = 0; r < prompts.size(); ++r) {
    results[r].prompt_tokens = static_cast<int64_t>(prompts[r].size());
  }
  if (prompts.empty() || options.max_new_tokens == 0) return results;
  c10::InferenceMode guard;
  Sampler sampler(options.sampling);
  InferenceCache cache = model.make_cache();
  auto [ids, pad] = left_pad(prompts, options.pad_id);
  bool padded = pad.max().item<int64_t>() > 0;
  auto t0 = std::chrono::steady_clock::now();
  at::Tensor logits =
      model.forward(ids, 0, &cache, LogitsFor::kLast, padded ? pad : at::Tensor());  // [B, 1, V]
  double prefill = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  std::vector<size_t> active(prompts.size());  // batch row -> prompt index
  for (size_t r = 0; r < active.size(); ++r) active[r] = r;
  int64_t column = ids.size(1);
  for (int64_t step = 0; step < options.max_new_tokens && !active.empty(); ++step) {
    at::Tensor next = sampler.next(logits.select(1, 0));  // [B]
    auto next_acc = next.accessor<int64_t, 1>();
    std::vector<int64_t> keep;
    for (size_t r = 0; r < active.size(); ++r) {
      GenerateResult& res = results[active[r]];
      int64_t id = next_acc[static_cast<int64_t>(r)];
      res.tokens.push_back(id);
      bool stop = is_stop_id(options.stop_ids, id);
      if (!stop && should_stop) stop = should_stop(active[r], res.tokens);
      res.stopped = stop;
      if (!stop) keep.push_back(static_cast<int64_t>(r));
    }
    if (keep.empty() || step + 1 == options.max_new_tokens) break;
    if (keep.size() < active.size()) {
      at::Tensor rows = at::tensor(keep, at::kLong);
      cache.keep_rows(rows);
      pad = pad.index_select(0, rows);
      next = next.index_select(0, rows);
      std::vector<size_t> still;
      for (int64_t r : keep) still.push_back(active[static_cast<size_t>(r)]);
      active = std::move(still);
      padded = pad.max().item<int64_t>() > 0;
    }
    logits = model.forward(next.unsqueeze(1), column++, &cache, LogitsFor::kLast,
                           padded ? pad : at::Tensor());
  }
  double decode = seconds_since(t0);
  for (auto& r : results) {
    r.prefill_seconds = prefill;
    r.decode_seconds = decode;
  }
  return results;
}

}  // namespace dsla::model
