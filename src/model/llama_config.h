// LlamaConfig: the typed architecture description of a Llama-family model (Llama, Mistral-style,
// Qwen2-style).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dsla::model {

/// RoPE frequency scaling; only Llama-3's "llama3" type and none are supported.
struct RopeScaling {
  std::string type;  ///< "" (none) or "llama3"
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct LlamaConfig {
  std::string model_type = "llama";  ///< "llama", "mistral" or "qwen2"
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  ///< GQA: query heads share KV heads in groups
  int64_t head_dim = 0;             ///< defaults to hidden_size / num_attention_heads
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  ///< bias on q, k, v and o projections (Llama's attention_bias)
  bool qkv_bias = false;        ///< bias on q, k, v only (Qwen2)
  bool mlp_bias = false;
  std::optional<int64_t> sliding_window;  ///< Mistral-style window, when in use
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  std::string torch_dtype = "float32";

  int64_t kv_groups() const { return num_attention_heads / num_key_value_heads; }
  /// Total parameter count implied by the shapes (tied embeddings counted once).
  int64_t parameter_count() const;
};

}  // namespace dsla::model
