// LlamaConfig helpers.
#include "model/llama_config.h"

namespace dsla::model {

int64_t LlamaConfig::parameter_count() const {
  int64_t q = hidden_size * num_attention_heads * head_dim;
  int64_t kv = 2 * hidden_size * num_key_value_heads * head_dim;
  int64_t o = num_attention_heads * head_dim * hidden_size;
  int64_t bias =
      (attention_bias ? (num_attention_heads + 2 * num_key_value_heads) * head_dim + hidden_size
                      : 0) +
      (qkv_bias ? (num_attention_heads + 2 * num_key_value_heads) * head_dim : 0);
  int64_t mlp =
      3 * hidden_size * intermediate_size + (mlp_bias ? 2 * intermediate_size + hidden_size : 0);
  int64_t layer = q + kv + o + bias + mlp + 2 * hidden_size;
  int64_t embed = vocab_size * hidden_size * (tie_word_embeddings ? 1 : 2);
  return num_hidden_layers * layer + embed + hidden_size;
}

}  // namespace dsla::model
