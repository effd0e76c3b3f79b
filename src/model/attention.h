// The replaceable attention interface of a decoder layer, its per-layer inference cache, and the
// RoPE context.
#pragma once

#include <torch/nn/module.h>

#include <string>
#include <vector>

namespace dsla::model {

/// What one layer carries between forward calls of one batch of sequences.
struct LayerCache {
  at::Tensor k, v;    ///< softmax attention: [B, KVH, capacity, head_dim]; the first `length` used
  at::Tensor s1, s2;  ///< DSLA: the two fp32 states [B, H, f, dv (+1 with a q.z normaliser)]
  /// DSLA with an exact window: the last N tokens' k, v [B, N, KVH, head_dim] (columns length - N
  /// .. length - 1, zeros before a row's first token) and the sinks' [B, S, KVH, head_dim].
  at::Tensor window_k, window_v, sink_k, sink_v;
  int64_t length = 0;  ///< tokens seen
};

/// The caches of all layers of a model for one batch of sequences.
class InferenceCache {
 public:
  explicit InferenceCache(int64_t num_layers) : layers_(static_cast<size_t>(num_layers)) {}
  LayerCache& layer(int64_t i) { return layers_.at(static_cast<size_t>(i)); }
  int64_t num_layers() const { return static_cast<int64_t>(layers_.size()); }
  /// Bytes held by all tensors of all layers.
  int64_t bytes() const;
  /// Keeps only the batch rows `rows` (int64 [R]) of every layer's tensors, in that order (drops
  /// finished sequences from a batch).
  void keep_rows(const at::Tensor& rows);

 private:
  std::vector<LayerCache> layers_;
};

/// Per-call context shared by the layers: positions and their rotary tables.
///
/// A left-padded batch sets `pad`: row b's first pad[b] columns are padding. Column c of row b is
/// then the token at position c - pad[b]; padding writes nothing that real tokens read (hidden
/// keys for softmax attention, zero keys for the DSLA states).
struct AttentionContext {
  int64_t start_pos = 0;  ///< column of the first token of x
  at::Tensor cos, sin;    ///< fp32 [T, head_dim], or [B, T, head_dim] per row when padded
  at::Tensor pad;         ///< int64 [B] left padding per row; undefined when there is none
};

/// A decoder layer's token mixer. Softmax attention is the teacher's; dsla swaps in other kinds.
class AttentionModule : public torch::nn::Module {
 public:
  /// x: [B, T, hidden] -> [B, T, hidden]. `cache` is null for stateless (training) calls; otherwise
  /// the layer reads the cache for positions before ctx.start_pos and appends this call's tokens.
  virtual at::Tensor forward(const at::Tensor& x, const AttentionContext& ctx,
                             LayerCache* cache) = 0;
  /// A short name for logs and exports ("softmax", "dsla", ...).
  virtual std::string kind() const = 0;
  /// Cache bytes one sequence of `tokens` tokens needs in this layer (fp32 unless the cache dtype
  /// differs).
  virtual int64_t cache_bytes_per_sequence(int64_t tokens) const = 0;
};

}  // namespace dsla::model
