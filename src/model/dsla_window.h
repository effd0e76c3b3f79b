// The exact part of a windowed DSLA layer: softmax scores over the last N tokens and the first S
// (sinks), left unnormalised so that the states' linear part shares their denominator.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace dsla::model {

/// The keys and values the exact part reads, at KV-head count (query heads share them in groups:
/// head h reads KV head h / (H / KVH), as repeat_interleave would give them).
struct WindowKeys {
  at::Tensor k,
      v;  ///< [B, N + T, KVH, d|dv]: the N buffered tokens (columns start - N ..), then T new
  at::Tensor sink_k,
      sink_v;  ///< [B, S, KVH, d|dv]: sink s of row b at column pad[b] + s; S may be 0
};

/// Sums over the visible keys of one query (fp32): num = sum_j exp(s_j - m) v_j and den = sum_j
/// exp(s_j - m), s_j = q . k_j / sqrt(d), m = max_j s_j over the visible keys.
struct ExactPart {
  at::Tensor num;  ///< [B, T, H, dv]
  at::Tensor den;  ///< [B, T, H, 1]
};

/// The exact part for queries q [B, T, H, d] (H a multiple of KVH) at columns start .. start + T -
/// 1 of rows padded by pad [B] (int64). A sequence key at column c is visible when pad <= c <= t
/// and t - c < window; a sink at column c when c <= t and t - c >= window (inside the window it is
/// a sequence key). Queries are taken `chunk` at a time, so memory grows with T * (window + chunk +
/// S), not T^2.
ExactPart exact_window_part(const at::Tensor& q, const WindowKeys& keys, int64_t start,
                            const at::Tensor& pad, int64_t window, int64_t chunk);

/// Which of the T tokens entering the states at columns start .. start + T - 1 are real: the token
/// entering at column t is the one at column t - window; it is real when it is at or after the
/// row's padding and is not one of its first `sinks` tokens. [B, T] bool.
at::Tensor entering_mask(int64_t start, int64_t t, int64_t window, int64_t sinks,
                         const at::Tensor& pad);

/// The sink buffer [B, S, ...] after this call's tokens new_ [B, T, ...] at columns start ..: row
/// b's slot s takes the token at column pad[b] + s when that column is among the new ones.
at::Tensor updated_sinks(const at::Tensor& sinks, const at::Tensor& new_, int64_t start,
                         const at::Tensor& pad);

}  // namespace dsla::model
