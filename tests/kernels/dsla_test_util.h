// Shared helpers of the DSLA kernel tests: case generator, fp64 reference runs and the tolerance
// table.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <vector>

#include "dsla/dsla.h"

namespace dsla::kernels::test {

// ---- Tolerances (relative RMS: ||got - ref||_2 / ||ref||_2), all in one place ----
// fp32 inputs: the kernels accumulate in fp32 (eps 6e-8) over sums of <= d + C + chunk-count terms
// and carry states through exp-decay products; measured errors are 1e-7..1e-5 (T = 4096 included).
// 1e-4 leaves a 10x margin yet catches any wrong term (which costs > 1e-2).
constexpr double kTolF32 = 1e-4;
// Gradients in fp32 go through one more GEMM layer and a reverse cumsum (gates): same reasoning, 3x
// looser.
constexpr double kTolGradF32 = 3e-4;
// bf16 inputs: the reference sees the same bf16 values upcast to fp64, so the error is the final
// rounding of o (or of dq, dk, dv, dg) to bf16: 2^-9 relative per element, ~2e-3 RMS. 1e-2 is 4x
// that.
constexpr double kTolBF16 = 1e-2;
// Finite differences in fp64 (central, h = 1e-6): truncation O(h^2) ~ 1e-12, rounding ~ 1e-16/h =
// 1e-10, relative to gradients of O(1): 1e-6 is a wide margin.
constexpr double kTolFiniteDiff = 1e-6;

/// ||a - b|| / max(||b||, floor). The floor matters when the reference is tiny (e.g. dg under
/// exp(-50) decays), where the error is bounded by the scale of the terms that cancel instead.
double rel_rms(const at::Tensor& got, const at::Tensor& ref, double floor = 0.0);

enum class Gates { kTypical, kFast, kNearOne, kExtreme, kAllExtreme };

struct Case {
  std::string name;
  int64_t B = 1, T = 16, H = 2, d = 64, dv = 64;
  int64_t chunk = 64;
  bool init_state = false, final_state = false, padded = false;
  at::ScalarType dtype = at::kFloat;
  Gates gates = Gates::kTypical;
};

/// Random inputs of a case (deterministic per name); tensors in the case's dtype, states fp32.
struct Inputs {
  at::Tensor q, k, v, g1, g2, gamma, s1_0, s2_0, lengths;  // s*_0, lengths undefined when unused
  at::Tensor do_, ds1, ds2;  // upstream gradients (ds* iff final_state)
};
Inputs make_inputs(const Case& c);

/// The shapes every chunked path is tested over: T = 1 .. 4096, odd d/dv, padding, bf16, chunk
/// sizes 1/16/64, initial and final states, typical to extreme gates.
std::vector<Case> shape_matrix();

/// The same inputs on `device`.
Inputs on_device(const Inputs& in, const c10::Device& device);

/// The same inputs in fp64 (for the reference).
Inputs to_f64(const Inputs& in);

/// Reference forward + backward in fp64.
struct RefResult {
  DslaOutput out;
  DslaGrads grads;
};
RefResult run_ref(const Inputs& in, bool final_state);

/// Gradient floor for dg: the scale of |q * dq| (the terms whose difference forms dg).
double gate_grad_floor(const Inputs& in64, const DslaGrads& ref);

/// Tolerance of outputs / gradients for a dtype.
inline double tol_out(at::ScalarType t) {
  return t == at::kBFloat16 ? kTolBF16 : kTolF32;
}
inline double tol_grad(at::ScalarType t) {
  return t == at::kBFloat16 ? kTolBF16 : kTolGradF32;
}

/// A forward on leaf tensors {q, k, v, g1, g2, gamma, s1_0, s2_0} (s*_0 undefined when unused) and
/// the case's lengths (undefined unless padded).
using LeafForward =
    std::function<DslaOutput(const std::vector<at::Tensor>& leaves, const at::Tensor& lengths)>;

/// Runs `forward` on leaf copies of the inputs (on `device`), backpropagates the case's upstream
/// gradients (do, and ds1, ds2 when it has them) through ATen's autograd, and EXPECTs o, the final
/// states and every gradient against the fp64 reference.
void expect_autograd_matches_ref(const Case& c, const c10::Device& device,
                                 const LeafForward& forward, const std::string& what);

/// A decode step with dsla_recurrent_step's contract (updates s1, s2 in place, returns o).
using StepFn = std::function<at::Tensor(const Inputs& in, at::Tensor& s1, at::Tensor& s2)>;

/// Runs `step` over the case's T tokens from its initial states (zeros without) on `device` and
/// EXPECTs o, s1 and s2 against the fp64 reference.
void expect_step_matches_ref(const Case& c, const c10::Device& device, const StepFn& step);

/// EXPECTs every gradient of `got` against `ref` (with `what` in the messages).
void expect_grads_close(const DslaGrads& got, const RefResult& ref, const Inputs& in64, double tol,
                        const std::string& what);

}  // namespace dsla::kernels::test
