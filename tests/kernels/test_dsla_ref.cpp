// The fp64 reference: finite-difference check of its backward and a closed-form single-token case.
#include <gtest/gtest.h>

#include "dsla_test_util.h"

namespace dsla::kernels::test {
namespace {

double loss(const Inputs& in, const at::Tensor& W, const at::Tensor& W1, const at::Tensor& W2) {
  DslaOutput o = dsla_forward_ref(in.q, in.k, in.v, in.g1, in.g2, in.gamma, in.s1_0, in.s2_0,
                                  in.lengths, true);
  return ((o.o * W).sum() + (o.s1 * W1).sum() + (o.s2 * W2).sum()).item<double>();
}

TEST(DslaRef, BackwardMatchesFiniteDifferences) {
  Case c;
  c.name = "fd", c.B = 2, c.T = 5, c.H = 2, c.d = 3, c.dv = 2;
  c.init_state = c.final_state = c.padded = true, c.gates = Gates::kFast;
  Inputs in = to_f64(make_inputs(c));
  in.lengths = at::tensor({int64_t{5}, int64_t{3}});
  DslaGrads g = dsla_backward_ref(in.q, in.k, in.v, in.g1, in.g2, in.gamma, in.s1_0, in.s2_0,
                                  in.lengths, in.do_, in.ds1, in.ds2);
  struct Item {
    at::Tensor* x;
    at::Tensor grad;
    const char* name;
  };
  std::vector<Item> items = {{&in.q, g.dq, "q"},          {&in.k, g.dk, "k"},
                             {&in.v, g.dv, "v"},          {&in.g1, g.dg1, "g1"},
                             {&in.g2, g.dg2, "g2"},       {&in.gamma, g.dgamma, "gamma"},
                             {&in.s1_0, g.ds1_0, "s1_0"}, {&in.s2_0, g.ds2_0, "s2_0"}};
  const double h = 1e-6;
  for (Item& it : items) {
    at::Tensor fd = at::zeros_like(*it.x);
    at::Tensor flat = it.x->view({-1}), fdf = fd.view({-1});
    for (int64_t e = 0; e < flat.numel(); ++e) {
      const double x0 = flat[e].item<double>();
      flat[e] = x0 + h;
      const double up = loss(in, in.do_, in.ds1, in.ds2);
      flat[e] = x0 - h;
      const double dn = loss(in, in.do_, in.ds1, in.ds2);
      flat[e] = x0;
      fdf[e] = (up - dn) / (2 * h);
    }
    EXPECT_LT(rel_rms(it.grad, fd), kTolFiniteDiff) << it.name;
    EXPECT_GT(fd.abs().max().item<double>(), 1e-3) << it.name << ": gradient should not vanish";
  }
}

// One token from zero states: o = s (q.k) v (the decays do not act on an empty state).
TEST(DslaRef, SingleTokenClosedForm) {
  at::manual_seed(3);
  auto f = at::TensorOptions().dtype(at::kDouble);
  at::Tensor q = at::randn({1, 1, 1, 4}, f), k = at::randn({1, 1, 1, 4}, f);
  at::Tensor v = at::randn({1, 1, 1, 3}, f), g = -at::rand({1, 1, 1, 4}, f);
  at::Tensor gamma = at::full({1}, 0.3, f);
  DslaOutput o = dsla_forward_ref(q, k, v, g, g, gamma, {}, {}, {}, true);
  at::Tensor expect = (q * k).sum() * v / 2.0;
  EXPECT_LT(rel_rms(o.o, expect), 1e-14);
  EXPECT_LT(rel_rms(o.s1[0][0], k[0][0][0].unsqueeze(1) * v[0][0][0].unsqueeze(0)), 1e-14);
}

}  // namespace
}  // namespace dsla::kernels::test
