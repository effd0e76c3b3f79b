// The portable ATen chunked path (the CUDA training path) against the fp64 reference on CPU:
// values, final states and every gradient (through ATen's autograd) over the shape matrix; the
// decode step; which kernel kAuto resolves to.
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <cstdlib>

#include "core/error.h"
#include "dsla_test_util.h"

namespace dsla::kernels::test {
namespace {

class DslaAten : public ::testing::TestWithParam<Case> {};

TEST_P(DslaAten, ValuesStatesAndGradientsMatchRef) {
  const Case& c = GetParam();
  expect_autograd_matches_ref(
      c, c10::kCPU,
      [&](const std::vector<at::Tensor>& l, const at::Tensor& lengths) {
        return dsla_forward_aten(l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7], lengths, c.chunk,
                                 true);
      },
      "aten");
}

TEST_P(DslaAten, DecodeStepMatchesRef) {
  const Case& c = GetParam();
  if (c.padded || c.T > 256) GTEST_SKIP() << "the decode step takes no lengths; long T above";
  expect_step_matches_ref(c, c10::kCPU, [](const Inputs& in, at::Tensor& s1, at::Tensor& s2) {
    return dsla_step_aten(in.q, in.k, in.v, in.g1, in.g2, in.gamma, s1, s2);
  });
}

INSTANTIATE_TEST_SUITE_P(Matrix, DslaAten, ::testing::ValuesIn(shape_matrix()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

// fp64 inputs run in fp64: the ATen path's own gradient matches central finite differences.
TEST(DslaAtenF64, GradientMatchesFiniteDifferences) {
  Case c;
  c.name = "aten_fd", c.B = 1, c.T = 37, c.H = 1, c.d = 8, c.dv = 4, c.chunk = 32;
  c.init_state = true, c.gates = Gates::kFast;
  Inputs in = to_f64(make_inputs(c));
  at::Tensor g1 = in.g1.detach().requires_grad_(true);
  auto loss = [&](const at::Tensor& gate) {
    DslaOutput out = dsla_forward_aten(in.q, in.k, in.v, gate, in.g2, in.gamma, in.s1_0, in.s2_0,
                                       {}, c.chunk, false);
    return (out.o * in.do_).sum();
  };
  loss(g1).backward();
  at::Tensor fd = at::zeros_like(in.g1);
  const double h = 1e-6;
  auto flat = fd.view({-1});
  for (int64_t i = 0; i < fd.numel(); i += 7) {  // every 7th entry: all positions and channels
    at::Tensor up = in.g1.clone(), down = in.g1.clone();
    up.view({-1})[i] += h, down.view({-1})[i] -= h;
    flat[i] = (loss(up) - loss(down)).item<double>() / (2 * h);
  }
  at::Tensor picked = at::arange(0, fd.numel(), 7);
  EXPECT_LT(rel_rms(g1.grad().view({-1}).index_select(0, picked), flat.index_select(0, picked)),
            kTolFiniteDiff);
}

// kAuto: the CPU kernels on CPU, the ATen path on CUDA unless DSLA_CUDA_KERNELS=custom; an override
// scope wins and restores the default when it ends.
TEST(DslaKernelChoice, AutoResolvesPerDeviceAndEnvironment) {
  c10::Device cpu(c10::kCPU), gpu(c10::kCUDA, 0);
  unsetenv("DSLA_CUDA_KERNELS");
  EXPECT_EQ(resolve_kernel(DslaKernel::kAuto, cpu), DslaKernel::kChunked);
  EXPECT_EQ(resolve_kernel(DslaKernel::kAuto, gpu), DslaKernel::kAten);
  EXPECT_EQ(resolve_kernel(DslaKernel::kRef, gpu), DslaKernel::kRef);
  setenv("DSLA_CUDA_KERNELS", "custom", 1);
  EXPECT_EQ(resolve_kernel(DslaKernel::kAuto, gpu), DslaKernel::kChunked);
  setenv("DSLA_CUDA_KERNELS", "fast", 1);
  EXPECT_THROW(resolve_kernel(DslaKernel::kAuto, gpu), dsla::Error);
  unsetenv("DSLA_CUDA_KERNELS");
  {
    AutoKernelScope aten(DslaKernel::kAten);
    EXPECT_EQ(resolve_kernel(DslaKernel::kAuto, cpu), DslaKernel::kAten);
  }
  EXPECT_EQ(resolve_kernel(DslaKernel::kAuto, cpu), DslaKernel::kChunked);
}

}  // namespace
}  // namespace dsla::kernels::test
