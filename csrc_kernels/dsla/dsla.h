// Public API of the DSLA kernels: differentiable dual-state attention, decode step, fp64 reference.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace dsla::kernels {

/// Which implementation runs. kChunked: the device's own chunked kernels (CPU: chunk_*_cpu.cpp;
/// CUDA: dsla_cuda.cu). kAten: the portable chunked implementation in ATen ops (any device,
/// autograd by ATen). kAuto: what resolve_kernel() picks for the tensors' device.
enum class DslaKernel { kAuto, kRef, kChunked, kRecurrent, kAten };

/// What kAuto runs on `device`: the process-wide choice of set_auto_kernel() when one is set; else
/// kChunked on CPU; on CUDA kAten, unless the environment sets DSLA_CUDA_KERNELS=custom (the custom
/// CUDA kernels run only once tools/gpu_check.sh has passed them). Other requests pass through.
DslaKernel resolve_kernel(DslaKernel requested, const c10::Device& device);

/// Sets what kAuto means process-wide (kAuto restores the default). For tests and benchmarks.
void set_auto_kernel(DslaKernel kernel);

/// Sets what kAuto means for its lifetime, then restores the previous choice.
class AutoKernelScope {
 public:
  explicit AutoKernelScope(DslaKernel kernel);
  ~AutoKernelScope();
  AutoKernelScope(const AutoKernelScope&) = delete;
  AutoKernelScope& operator=(const AutoKernelScope&) = delete;

 private:
  DslaKernel previous_;
};

struct DslaOptions {
  /// Tokens per chunk of the chunked kernels (>= 1). 64 balances GEMM size against the L^2
  /// intra-chunk work.
  int64_t chunk_size = 64;
  /// Return the final states s1, s2 (fp32 [B,H,d,dv]); they then take part in autograd.
  bool output_final_state = false;
  DslaKernel kernel = DslaKernel::kAuto;
};

struct DslaOutput {
  at::Tensor o;  ///< [B,T,H,dv], dtype of v (fp64 for the fp64 reference)
  at::Tensor s1,
      s2;  ///< final states fp32 [B,H,d,dv] (fp64 for the fp64 reference), defined iff requested
};

/// Differentiable DSLA attention (an autograd Function inside).
///   q, k, g1, g2: [B,T,H,d]; v: [B,T,H,dv]; gamma: [H] in (0,1); fp32 or bf16 (fp64 only with
///   kRef). g1, g2 are log-decays (<= 0), one per key channel. s1_0, s2_0: optional fp32 [B,H,d,dv]
///   initial states (undefined = zeros). lengths: optional int64 [B], valid prefix length per
///   sequence; positions >= length neither read nor write the states and get o = 0 (and zero
///   gradients).
/// S1_t = diag(exp g1_t) S1_{t-1} + k_t v_t^T (same for S2 with g2); o_t = d^-1/2 q_t^T (gamma S1_t
/// + (1-gamma) S2_t). Gradients flow to q, k, v, g1, g2, gamma, s1_0, s2_0 (and from the final
/// states when returned).
DslaOutput dsla_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                          const at::Tensor& g1, const at::Tensor& g2, const at::Tensor& gamma,
                          const at::Tensor& s1_0, const at::Tensor& s2_0, const at::Tensor& lengths,
                          const DslaOptions& opts);

/// Decode: updates s1, s2 (fp32 [B,H,d,dv], contiguous) in place with T_new tokens and returns
/// o [B,T_new,H,dv] in v's dtype. No autograd. The device's step kernel, or dsla_step_aten when
/// resolve_kernel(kAuto) is kAten.
at::Tensor dsla_recurrent_step(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               const at::Tensor& g1, const at::Tensor& g2, const at::Tensor& gamma,
                               at::Tensor& s1, at::Tensor& s2);

/// True when this build contains the CUDA kernels.
bool cuda_compiled();

// ---- Non-differentiable entry points (tests, benchmarks, the autograd Function) ----

/// Gradients of one DSLA call. Undefined when the matching input was undefined.
struct DslaGrads {
  at::Tensor dq, dk, dv, dg1, dg2, dgamma, ds1_0, ds2_0;
};

/// Plain token-serial recurrence, computed in fp64 for fp64 inputs and in fp32 otherwise (states
/// and o then come back in that dtype). Used by tests and --kernel ref. Same argument conventions
/// as dsla_attention.
DslaOutput dsla_forward_ref(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const at::Tensor& g1, const at::Tensor& g2, const at::Tensor& gamma,
                            const at::Tensor& s1_0, const at::Tensor& s2_0,
                            const at::Tensor& lengths, bool output_final_state);

/// Reference backward (same precision rule as dsla_forward_ref). do_ is dL/do [B,T,H,dv]; ds1, ds2
/// are the optional gradients of the final states.
DslaGrads dsla_backward_ref(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const at::Tensor& g1, const at::Tensor& g2, const at::Tensor& gamma,
                            const at::Tensor& s1_0, const at::Tensor& s2_0,
                            const at::Tensor& lengths, const at::Tensor& do_, const at::Tensor& ds1,
                            const at::Tensor& ds2);

/// Chunked forward (CPU or CUDA by the device of q); no autograd.
DslaOutput dsla_forward_chunked(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const at::Tensor& g1, const at::Tensor& g2, const at::Tensor& gamma,
                                const at::Tensor& s1_0, const at::Tensor& s2_0,
                                const at::Tensor& lengths, int64_t chunk_size,
                                bool output_final_state);

/// The portable chunked forward in ATen ops (chunk_aten.cpp): any device, differentiable through
/// ATen's autograd (no custom backward), fp32 accumulation (fp64 for fp64 inputs).
DslaOutput dsla_forward_aten(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             const at::Tensor& g1, const at::Tensor& g2, const at::Tensor& gamma,
                             const at::Tensor& s1_0, const at::Tensor& s2_0,
                             const at::Tensor& lengths, int64_t chunk_size,
                             bool output_final_state);

/// The decode step in ATen ops (any device): same contract as dsla_recurrent_step.
at::Tensor dsla_step_aten(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                          const at::Tensor& g1, const at::Tensor& g2, const at::Tensor& gamma,
                          at::Tensor& s1, at::Tensor& s2);

/// Chunked backward: recomputes the chunk-boundary states, then walks the chunks in reverse.
DslaGrads dsla_backward_chunked(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const at::Tensor& g1, const at::Tensor& g2, const at::Tensor& gamma,
                                const at::Tensor& s1_0, const at::Tensor& s2_0,
                                const at::Tensor& lengths, const at::Tensor& do_,
                                const at::Tensor& ds1, const at::Tensor& ds2, int64_t chunk_size);

}  // namespace dsla::kernels
