// Per-element DSLA math shared by the reference, the CPU kernels and the CUDA kernels (host +
// device inline).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "dsla/dsla_params.h"

#if defined(__CUDACC__)
#define DSLA_HD __host__ __device__ __forceinline__
#else
#define DSLA_HD inline
#endif

namespace dsla::kernels {

/// Largest per-channel decay span (sum of -g over a chunk) for which the chunked kernels use the
/// factorised scores (q*exp(b-ref)) . (k*exp(ref-b)) with ref at the middle of the span: every
/// factor then lies in [e^-30, e^30], so fp32 products of moderate q, k stay far from overflow
/// (3.4e38) and from denormals. Chunks with a larger span compute exp(b_r - b_u) <= 1 per element
/// instead (always safe).
constexpr float kMaxFactorisedSpan = 60.f;

/// bf16 bits -> fp32 (exact).
DSLA_HD float bf16_to_float(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
#endif
}

/// fp32 -> bf16 bits, round to nearest even (NaN kept quiet).
DSLA_HD uint16_t float_to_bf16(float f) {
#if defined(__CUDA_ARCH__)
  uint32_t u = __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
#endif
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

/// Reads element i of a buffer of dtype dt as fp32.
DSLA_HD float load_elem(const void* p, int64_t i, DslaDtype dt) {
  return dt == DslaDtype::kF32 ? static_cast<const float*>(p)[i]
                               : bf16_to_float(static_cast<const uint16_t*>(p)[i]);
}

/// Writes x to element i of a buffer of dtype dt.
DSLA_HD void store_elem(void* p, int64_t i, DslaDtype dt, float x) {
  if (dt == DslaDtype::kF32) {
    static_cast<float*>(p)[i] = x;
  } else {
    static_cast<uint16_t*>(p)[i] = float_to_bf16(x);
  }
}

/// Output weights of the two states: w1 = s*gamma (history), w2 = s*(1-gamma) (recency).
template <typename T>
DSLA_HD void mix_weights(T scale, T gamma, T* w1, T* w2) {
  *w1 = scale * gamma;
  *w2 = scale * (T(1) - gamma);
}

/// One state element per token: S[i,j] <- exp(g_i) S[i,j] + k_i v_j (a = exp(g_i) precomputed).
template <typename T>
DSLA_HD T state_step(T s, T a, T k_i, T v_j) {
  return a * s + k_i * v_j;
}

/// Contribution of state element (i,j) to o_j: q_i (w1 S1[i,j] + w2 S2[i,j]).
template <typename T>
DSLA_HD T mixed_read(T q_i, T w1, T s1, T w2, T s2) {
  return q_i * (w1 * s1 + w2 * s2);
}

/// Intra-chunk decay between positions r >= u of one key channel from in-chunk cumulative
/// log-gates: exp(b_r - b_u) <= 1, never overflows.
template <typename T>
DSLA_HD T chunk_decay(T b_r, T b_u) {
  return std::exp(b_r - b_u);
}

/// Gate-gradient term of one position: dB = q * dq - k * dk (both for the state the gate belongs
/// to).
template <typename T>
DSLA_HD T gate_grad_term(T q_i, T dq_i, T k_i, T dk_i) {
  return q_i * dq_i - k_i * dk_i;
}

/// Valid length of sequence b (lengths may be null).
DSLA_HD int64_t seq_len(const int64_t* lengths, int64_t b, int64_t T) {
  if (lengths == nullptr) return T;
  int64_t l = lengths[b];
  return l < 0 ? 0 : (l > T ? T : l);
}

}  // namespace dsla::kernels
