// dsla_test_util.h: inputs, fp64 reference runs, relative-RMS comparison.
#include "dsla_test_util.h"

#include <gtest/gtest.h>

#include <functional>

namespace dsla::kernels::test {

double rel_rms(const at::Tensor& got, const at::Tensor& ref, double floor) {
  at::Tensor g = got.to(at::kDouble), r = ref.to(at::kDouble);
  const double num = (g - r).norm().item<double>();
  const double den = std::max(r.norm().item<double>(), floor);
  return den == 0.0 ? num : num / den;
}

namespace {

at::Tensor gates(const Case& c, at::IntArrayRef shape) {
  at::Tensor z = at::randn(shape, at::kDouble);
  switch (c.gates) {
    case Gates::kTypical:  // DSLA's logsigmoid(x)/16: decays 0.96..1 per token
      return at::log_sigmoid(2 * z + 1) / 16;
    case Gates::kFast:  // recency-like: decays ~0.1..0.9
      return at::log_sigmoid(z - 1);
    case Gates::kNearOne:  // exp(g) within 1e-4 of 1
      return -1e-4 * at::rand(shape, at::kDouble);
    case Gates::kExtreme: {  // half the channels at the -50 clamp, half typical
      at::Tensor hard = at::rand(shape, at::kDouble) < 0.5;
      return at::where(hard, at::full(shape, -50.0, at::kDouble), at::log_sigmoid(2 * z + 1) / 16);
    }
    case Gates::kAllExtreme:
      return -50.0 + 0.5 * at::rand(shape, at::kDouble);
  }
  return z;
}

}  // namespace

Inputs make_inputs(const Case& c) {
  at::manual_seed(static_cast<uint64_t>(std::hash<std::string>{}(c.name) & 0x7fffffff));
  Inputs in;
  auto cast = [&](const at::Tensor& t) { return t.to(c.dtype); };
  in.q = cast(at::randn({c.B, c.T, c.H, c.d}, at::kDouble));
  in.k = cast(at::randn({c.B, c.T, c.H, c.d}, at::kDouble));
  in.v = cast(at::randn({c.B, c.T, c.H, c.dv}, at::kDouble));
  in.g1 = cast(gates(c, {c.B, c.T, c.H, c.d}));
  in.g2 = cast(gates(c, {c.B, c.T, c.H, c.d}));
  in.gamma = 0.1 + 0.8 * at::rand({c.H}, at::kFloat);
  if (c.init_state) {
    in.s1_0 = 0.5 * at::randn({c.B, c.H, c.d, c.dv}, at::kFloat);
    in.s2_0 = 0.5 * at::randn({c.B, c.H, c.d, c.dv}, at::kFloat);
  }
  if (c.padded) {  // first sequence full, then shorter ones, the last empty when B > 2
    in.lengths = at::empty({c.B}, at::kLong);
    for (int64_t b = 0; b < c.B; ++b)
      in.lengths[b] = b == 0 ? c.T : (b == c.B - 1 ? 0 : c.T * 2 / 3);
  }
  in.do_ = cast(at::randn({c.B, c.T, c.H, c.dv}, at::kDouble));
  if (c.final_state) {
    in.ds1 = at::randn({c.B, c.H, c.d, c.dv}, at::kFloat);
    in.ds2 = at::randn({c.B, c.H, c.d, c.dv}, at::kFloat);
  }
  return in;
}

Inputs to_f64(const Inputs& in) {
  auto f = [](const at::Tensor& t) { return t.defined() ? t.to(at::kDouble) : t; };
  Inputs r = in;
  r.q = f(in.q), r.k = f(in.k), r.v = f(in.v), r.g1 = f(in.g1), r.g2 = f(in.g2);
  r.gamma = f(in.gamma), r.s1_0 = f(in.s1_0), r.s2_0 = f(in.s2_0);
  r.do_ = f(in.do_), r.ds1 = f(in.ds1), r.ds2 = f(in.ds2);
  return r;
}

RefResult run_ref(const Inputs& in, bool final_state) {
  RefResult r;
  r.out = dsla_forward_ref(in.q, in.k, in.v, in.g1, in.g2, in.gamma, in.s1_0, in.s2_0, in.lengths,
                           final_state);
  r.grads = dsla_backward_ref(in.q, in.k, in.v, in.g1, in.g2, in.gamma, in.s1_0, in.s2_0,
                              in.lengths, in.do_, in.ds1, in.ds2);
  return r;
}

double gate_grad_floor(const Inputs& in64, const DslaGrads& ref) {
  return (in64.q * ref.dq).norm().item<double>();
}

void expect_grads_close(const DslaGrads& got, const RefResult& ref, const Inputs& in64, double tol,
                        const std::string& what) {
  const DslaGrads& r = ref.grads;
  const double gf = gate_grad_floor(in64, r);
  EXPECT_LT(rel_rms(got.dq, r.dq), tol) << what << " dq";
  EXPECT_LT(rel_rms(got.dk, r.dk), tol) << what << " dk";
  EXPECT_LT(rel_rms(got.dv, r.dv), tol) << what << " dv";
  EXPECT_LT(rel_rms(got.dg1, r.dg1, gf), tol) << what << " dg1";
  EXPECT_LT(rel_rms(got.dg2, r.dg2, gf), tol) << what << " dg2";
  EXPECT_LT(rel_rms(got.dgamma, r.dgamma), tol) << what << " dgamma";
  if (in64.s1_0.defined()) {
    ASSERT_TRUE(got.ds1_0.defined() && got.ds2_0.defined()) << what;
    EXPECT_LT(rel_rms(got.ds1_0, r.ds1_0), tol) << what << " ds1_0";
    EXPECT_LT(rel_rms(got.ds2_0, r.ds2_0), tol) << what << " ds2_0";
  }
}

Inputs on_device(const Inputs& in, const c10::Device& device) {
  auto f = [&](const at::Tensor& t) { return t.defined() ? t.to(device) : t; };
  Inputs r;
  r.q = f(in.q), r.k = f(in.k), r.v = f(in.v), r.g1 = f(in.g1), r.g2 = f(in.g2);
  r.gamma = f(in.gamma), r.s1_0 = f(in.s1_0), r.s2_0 = f(in.s2_0), r.lengths = f(in.lengths);
  r.do_ = f(in.do_), r.ds1 = f(in.ds1), r.ds2 = f(in.ds2);
  return r;
}

namespace {

at::Tensor cpu_or_undefined(const at::Tensor& t) {
  return t.defined() ? t.cpu() : t;
}

}  // namespace

void expect_autograd_matches_ref(const Case& c, const c10::Device& device,
                                 const LeafForward& forward, const std::string& what) {
  Inputs in = make_inputs(c);
  Inputs in64 = to_f64(in);
  RefResult ref = run_ref(in64, /*final_state=*/true);
  Inputs dev = on_device(in, device);
  std::vector<at::Tensor> leaves = {dev.q,  dev.k,     dev.v,    dev.g1,
                                    dev.g2, dev.gamma, dev.s1_0, dev.s2_0};
  for (auto& t : leaves) {
    if (t.defined()) t = t.detach().requires_grad_(true);
  }
  DslaOutput out = forward(leaves, dev.lengths);
  ASSERT_EQ(out.o.scalar_type(), c.dtype) << what;
  EXPECT_LT(rel_rms(out.o.cpu(), ref.out.o), tol_out(c.dtype)) << what << " o";
  EXPECT_LT(rel_rms(out.s1.cpu(), ref.out.s1), kTolF32) << what << " s1";
  EXPECT_LT(rel_rms(out.s2.cpu(), ref.out.s2), kTolF32) << what << " s2";
  // The loss is formed from o upcast, so a bf16 case's upstream gradient equals the reference's.
  at::Tensor loss = (out.o.to(at::kFloat) * dev.do_.to(at::kFloat)).sum();
  if (dev.ds1.defined()) loss = loss + (out.s1 * dev.ds1).sum() + (out.s2 * dev.ds2).sum();
  loss.backward();
  auto grad = [](const at::Tensor& t) { return t.defined() ? cpu_or_undefined(t.grad()) : t; };
  DslaGrads got{grad(leaves[0]), grad(leaves[1]), grad(leaves[2]), grad(leaves[3]),
                grad(leaves[4]), grad(leaves[5]), grad(leaves[6]), grad(leaves[7])};
  ASSERT_EQ(got.dq.scalar_type(), c.dtype) << what;
  ASSERT_TRUE(got.dq.isfinite().all().item<bool>() && got.dg1.isfinite().all().item<bool>());
  expect_grads_close(got, ref, in64, tol_grad(c.dtype), what);
}

void expect_step_matches_ref(const Case& c, const c10::Device& device, const StepFn& step) {
  Inputs in = make_inputs(c);
  Inputs in64 = to_f64(in);
  DslaOutput ref = dsla_forward_ref(in64.q, in64.k, in64.v, in64.g1, in64.g2, in64.gamma, in64.s1_0,
                                    in64.s2_0, {}, true);
  Inputs dev = on_device(in, device);
  auto f32 = at::TensorOptions().dtype(at::kFloat).device(device);
  at::Tensor s1 = c.init_state ? dev.s1_0.clone() : at::zeros({c.B, c.H, c.d, c.dv}, f32);
  at::Tensor s2 = c.init_state ? dev.s2_0.clone() : at::zeros({c.B, c.H, c.d, c.dv}, f32);
  at::Tensor o = step(dev, s1, s2);
  EXPECT_EQ(o.scalar_type(), c.dtype);
  EXPECT_LT(rel_rms(o.cpu(), ref.o), tol_out(c.dtype)) << "o";
  EXPECT_LT(rel_rms(s1.cpu(), ref.s1), kTolF32) << "s1";
  EXPECT_LT(rel_rms(s2.cpu(), ref.s2), kTolF32) << "s2";
}

std::vector<Case> shape_matrix() {
  auto mk = [](std::string n, int64_t B, int64_t T, int64_t H, int64_t d, int64_t dv) {
    Case c;
    c.name = std::move(n), c.B = B, c.T = T, c.H = H, c.d = d, c.dv = dv;
    return c;
  };
  std::vector<Case> v;
  Case c = mk("T1_d64", 1, 1, 2, 64, 64);
  c.init_state = c.final_state = true;
  v.push_back(c);
  c = mk("T37_d128_B3", 3, 37, 1, 128, 128);
  c.final_state = true;
  v.push_back(c);
  c = mk("T150_odd_d37_dv45_padded", 3, 150, 2, 37, 45);
  c.init_state = c.final_state = c.padded = true;
  v.push_back(c);
  c = mk("T64_exact_chunk", 1, 64, 2, 64, 64);
  c.init_state = true;
  v.push_back(c);
  c = mk("T130_bf16_padded", 3, 130, 2, 64, 64);
  c.init_state = c.final_state = c.padded = true, c.dtype = at::kBFloat16;
  v.push_back(c);
  c = mk("T100_bf16_d128_fast_gates", 1, 100, 2, 128, 128);
  c.dtype = at::kBFloat16, c.gates = Gates::kFast;
  v.push_back(c);
  c = mk("T200_extreme_gates", 1, 200, 2, 64, 64);
  c.init_state = c.final_state = true, c.gates = Gates::kExtreme;
  v.push_back(c);
  c = mk("T90_all_extreme_gates", 1, 90, 1, 64, 64);
  c.init_state = c.final_state = true, c.gates = Gates::kAllExtreme;
  v.push_back(c);
  c = mk("T200_near_one_gates", 1, 200, 2, 64, 64);
  c.init_state = c.final_state = true, c.gates = Gates::kNearOne;
  v.push_back(c);
  c = mk("T100_chunk16_fast", 2, 100, 2, 64, 64);
  c.final_state = true, c.chunk = 16, c.gates = Gates::kFast;
  v.push_back(c);
  c = mk("T20_chunk1_d16_dv8", 1, 20, 1, 16, 8);
  c.init_state = c.final_state = true, c.chunk = 1;
  v.push_back(c);
  c = mk("T4096_d64", 1, 4096, 1, 64, 64);
  c.init_state = c.final_state = true;
  v.push_back(c);
  return v;
}

}  // namespace dsla::kernels::test
