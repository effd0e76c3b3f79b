// Autoregressive generation with a KV cache: prefill the prompt, then decode token by token.
#pragma once

#include <functional>
#include <vector>

#include "model/llama.h"
#include "model/sampling.h"

namespace dsla::model {

struct GenerateOptions {
  int64_t max_new_tokens = 128;
  SamplingOptions sampling;
  std::vector<int64_t> stop_ids;  ///< stop after emitting any of these (e.g. EOS)
  int64_t prefill_chunk = 0;  ///< >0: prefill in chunks of this many tokens (bounds peak memory)
};

struct GenerateResult {
  std::vector<int64_t> tokens;  ///< new tokens only
  double prefill_seconds = 0, decode_seconds = 0;
  int64_t prompt_tokens = 0;
  bool stopped = false;  ///< ended on a stop id
  double prefill_tokens_per_second() const;
  double decode_tokens_per_second() const;
};

/// Generates from one prompt (ids, BOS included if wanted). `on_token` sees each new id as it is
/// chosen.
GenerateResult generate(LlamaForCausalLMImpl& model, const std::vector<int64_t>& prompt,
                        const GenerateOptions& options,
                        const std::function<void(int64_t)>& on_token = nullptr);

}  // namespace dsla::model
