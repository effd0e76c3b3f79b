// POD parameter blocks passed from the tensor boundary (dsla_api.cpp) to the CPU and CUDA kernels;
// no ATen.
#pragma once

#include <cstdint>

namespace dsla::kernels {

/// Element type of an input or output buffer. States and gamma are always fp32.
enum class DslaDtype : int { kF32 = 0, kBF16 = 1 };

/// Forward (and decode-step) arguments. All tensors contiguous:
///   q, k, g1, g2 [B,T,H,d]; v, o [B,T,H,dv]; gamma [H]; s*_0, s1, s2 [B,H,d,dv]; lengths [B].
struct DslaFwdParams {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  const void* g1 = nullptr;
  const void* g2 = nullptr;
  DslaDtype qkv_dtype = DslaDtype::kF32;   ///< q, k, v and o (and dq, dk, dv)
  DslaDtype gate_dtype = DslaDtype::kF32;  ///< g1, g2 (and dg1, dg2)
  const float* gamma = nullptr;            ///< [H]
  const float* s1_0 = nullptr;             ///< nullable: zero initial state
  const float* s2_0 = nullptr;
  const int64_t* lengths = nullptr;  ///< nullable: every sequence has T valid tokens
  void* o = nullptr;
  float* s1 =
      nullptr;  ///< final states (nullable in the chunked forward; in/out in the decode step)
  float* s2 = nullptr;
  int64_t B = 0, T = 0, H = 0, d = 0, dv = 0;
  int64_t chunk = 64;
  float scale = 1.f;  ///< d^-1/2
};

/// Backward arguments on top of the forward ones (o, s1, s2 unused).
struct DslaBwdParams : DslaFwdParams {
  const void* grad_o = nullptr;    ///< [B,T,H,dv], qkv dtype
  const float* grad_s1 = nullptr;  ///< nullable gradient of the final states
  const float* grad_s2 = nullptr;
  void* grad_q = nullptr;  ///< [B,T,H,d], qkv dtype
  void* grad_k = nullptr;
  void* grad_v = nullptr;   ///< [B,T,H,dv], qkv dtype
  void* grad_g1 = nullptr;  ///< [B,T,H,d], gate dtype
  void* grad_g2 = nullptr;
  float* grad_gamma_bh = nullptr;  ///< [B,H] partial sums, reduced over B by the caller
  float* grad_s1_0 = nullptr;      ///< [B,H,d,dv]
  float* grad_s2_0 = nullptr;
};

}  // namespace dsla::kernels
