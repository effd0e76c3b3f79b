// dsla_bench: chunked DSLA kernels vs the fp32 reference loop, LibTorch quadratic form, SDPA; GEMM
// rate. Shapes: B = 1, H = 9, d = dv = 64 (SmolLM2-135M), T in {512, 2048, 8192, 32768}, 2 intra-op
// threads.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/autograd.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "dsla/cpu_gemm.h"
#include "dsla/dsla.h"

namespace {

using namespace dsla::kernels;
constexpr int64_t kB = 1, kH = 9, kD = 64, kChunk = 64;

struct Data {
  at::Tensor q, k, v, g1, g2, gamma, do_;
};

// [B,T,H,d] inputs with DSLA-like gates (history ~ -0.003, recency ~ -0.13 per token).
Data make(int64_t T) {
  at::manual_seed(0);
  Data x;
  x.q = at::randn({kB, T, kH, kD}), x.k = at::randn({kB, T, kH, kD}),
  x.v = at::randn({kB, T, kH, kD});
  x.g1 = at::log_sigmoid(at::randn({kB, T, kH, kD}) + 6) / 16;
  x.g2 = at::log_sigmoid(at::randn({kB, T, kH, kD}) - 2) / 16;
  x.gamma = at::full({kH}, 0.5f), x.do_ = at::randn({kB, T, kH, kD});
  return x;
}

// GEMM FLOPs of the chunked algorithm (forward; backward adds its own), per (b,h).
double chunked_flops(int64_t T, bool backward) {
  const double L = kChunk, d2 = 2.0 * kD, dv = kD, nc = static_cast<double>(T) / kChunk;
  const double fwd = 2 * (L * d2 * dv + L * L * d2 + L * L * dv + d2 * L * dv);
  const double bwd =
      2 * (L * L * dv + 3 * L * L * d2 + 2 * L * dv * d2 + L * L * dv + 3 * L * d2 * dv);
  return kB * kH * nc * (backward ? fwd + bwd : fwd);
}

void set_rate(benchmark::State& s, double flops) {
  s.counters["GFLOPs"] =
      benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_ChunkedFwd(benchmark::State& s) {
  Data x = make(s.range(0));
  for (auto _ : s) {
    auto o = dsla_forward_chunked(x.q, x.k, x.v, x.g1, x.g2, x.gamma, {}, {}, {}, kChunk, false);
    benchmark::DoNotOptimize(o.o.data_ptr());
  }
  set_rate(s, chunked_flops(s.range(0), false));
}

void BM_ChunkedFwdBwd(benchmark::State& s) {
  Data x = make(s.range(0));
  for (auto _ : s) {
    auto o = dsla_forward_chunked(x.q, x.k, x.v, x.g1, x.g2, x.gamma, {}, {}, {}, kChunk, false);
    auto g = dsla_backward_chunked(x.q, x.k, x.v, x.g1, x.g2, x.gamma, {}, {}, {}, x.do_, {}, {},
                                   kChunk);
    benchmark::DoNotOptimize(g.dq.data_ptr());
  }
  set_rate(s, chunked_flops(s.range(0), true));
}

void BM_RefF32Fwd(benchmark::State& s) {
  Data x = make(s.range(0));
  for (auto _ : s)
    benchmark::DoNotOptimize(
        dsla_forward_ref(x.q, x.k, x.v, x.g1, x.g2, x.gamma, {}, {}, {}, false).o.data_ptr());
}

void BM_RefF32FwdBwd(benchmark::State& s) {
  Data x = make(s.range(0));
  for (auto _ : s) {
    auto o = dsla_forward_ref(x.q, x.k, x.v, x.g1, x.g2, x.gamma, {}, {}, {}, false);
    auto g = dsla_backward_ref(x.q, x.k, x.v, x.g1, x.g2, x.gamma, {}, {}, {}, x.do_, {}, {});
    benchmark::DoNotOptimize(g.dq.data_ptr());
  }
}

// The DSLA output as plain LibTorch ops, one head at a time ([T,T] buffers): per state
// A = tril((q e^B)(k e^-B)^T) with B = cumsum_T g, o = s (gamma A1 + (1-gamma) A2) v. (e^-B
// overflows for long T with real decays; timing only.)
at::Tensor torch_quadratic(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const at::Tensor& g1, const at::Tensor& g2, const at::Tensor& gamma) {
  const int64_t T = q.size(1), H = q.size(2);
  at::Tensor mask = at::ones({T, T}, q.options().dtype(at::kBool)).tril().logical_not();
  std::vector<at::Tensor> outs;
  for (int64_t h = 0; h < H; ++h) {
    auto head = [&](const at::Tensor& t) { return t.select(2, h).squeeze(0); };  // [T,d] (B = 1)
    at::Tensor qh = head(q), kh = head(k), m;
    for (int j = 0; j < 2; ++j) {
      at::Tensor b = head(j == 0 ? g1 : g2).cumsum(0);
      at::Tensor a = at::mm(qh * b.exp(), (kh * (-b).exp()).t());  // [T,T]
      at::Tensor w = j == 0 ? gamma[h] : 1 - gamma[h];
      m = j == 0 ? a * w : m + a * w;
    }
    m = m.masked_fill(mask, 0.0) / std::sqrt(static_cast<double>(q.size(3)));
    outs.push_back(at::mm(m, head(v)));  // [T,dv]
  }
  return at::stack(outs, 1).unsqueeze(0);  // [1,T,H,dv]
}

void BM_TorchQuadFwd(benchmark::State& s) {
  Data x = make(s.range(0));
  x.g1 = x.g1 * 1e-3, x.g2 = x.g2 * 1e-3;  // keep e^{-B} finite at long T
  at::NoGradGuard ng;
  for (auto _ : s)
    benchmark::DoNotOptimize(torch_quadratic(x.q, x.k, x.v, x.g1, x.g2, x.gamma).data_ptr());
}

void BM_TorchQuadFwdBwd(benchmark::State& s) {
  Data x = make(s.range(0));
  x.g1 = x.g1 * 1e-3, x.g2 = x.g2 * 1e-3;
  for (auto* t : {&x.q, &x.k, &x.v, &x.g1, &x.g2}) t->requires_grad_(true);
  for (auto _ : s) {
    at::Tensor o = torch_quadratic(x.q, x.k, x.v, x.g1, x.g2, x.gamma);
    torch::autograd::backward({o}, {x.do_});
  }
}

void BM_SdpaFwd(benchmark::State& s) {
  const int64_t T = s.range(0);
  at::Tensor q = at::randn({kB, kH, T, kD}), k = at::randn({kB, kH, T, kD}),
             v = at::randn({kB, kH, T, kD});
  at::NoGradGuard ng;
  for (auto _ : s)
    benchmark::DoNotOptimize(at::scaled_dot_product_attention(q, k, v, {}, 0.0, true).data_ptr());
  set_rate(s, 2.0 * 2.0 * kB * kH * T * T * kD / 2.0);  // QK^T and PV, causal half
}

void BM_SdpaFwdBwd(benchmark::State& s) {
  const int64_t T = s.range(0);
  at::Tensor q = at::randn({kB, kH, T, kD}).requires_grad_(true);
  at::Tensor k = at::randn({kB, kH, T, kD}).requires_grad_(true);
  at::Tensor v = at::randn({kB, kH, T, kD}).requires_grad_(true);
  at::Tensor go = at::randn({kB, kH, T, kD});
  for (auto _ : s) {
    at::Tensor o = at::scaled_dot_product_attention(q, k, v, {}, 0.0, true);
    torch::autograd::backward({o}, {go});
  }
}

// One decode token against states (DSLA) or a KV cache of T tokens (SDPA).
void BM_DslaDecodeStep(benchmark::State& s) {
  Data pre = make(s.range(0)), x = make(1);
  auto st = dsla_forward_chunked(pre.q, pre.k, pre.v, pre.g1, pre.g2, pre.gamma, {}, {}, {}, kChunk,
                                 true);
  at::Tensor s1 = st.s1, s2 = st.s2;  // states after a T-token prefill
  for (auto _ : s)
    benchmark::DoNotOptimize(
        dsla_recurrent_step(x.q, x.k, x.v, x.g1, x.g2, x.gamma, s1, s2).data_ptr());
}

void BM_SdpaDecode(benchmark::State& s) {
  const int64_t T = s.range(0);
  at::Tensor q = at::randn({kB, kH, 1, kD}), k = at::randn({kB, kH, T, kD}),
             v = at::randn({kB, kH, T, kD});
  at::NoGradGuard ng;
  for (auto _ : s) benchmark::DoNotOptimize(at::scaled_dot_product_attention(q, k, v).data_ptr());
}

// Machine fp32 GEMM rate: n^3 mm into a reused output (the kernels reuse their buffers too), and
// the chunked kernel's own GEMM shape ([64,128] x [128,64]) through the same sgemm it calls.
void BM_GemmRate(benchmark::State& s) {
  const int64_t n = s.range(0);
  at::Tensor a = at::randn({n, n}), b = at::randn({n, n}), c = at::empty({n, n});
  for (auto _ : s) at::mm_out(c, a, b);
  set_rate(s, 2.0 * n * n * n);
}

void BM_GemmChunkShape(benchmark::State& s) {
  std::vector<float> a(64 * 128, 0.5f), b(128 * 64, 0.25f), c(64 * 64);
  cpu::SerialBlasScope serial;  // as inside the kernels' (b,h) tasks: one core
  for (auto _ : s) {
    cpu::gemm(false, false, 64, 64, 128, 1.f, a.data(), 128, b.data(), 64, 0.f, c.data(), 64);
    benchmark::DoNotOptimize(c.data());
  }
  set_rate(s, 2.0 * 64 * 64 * 128);
}

const std::vector<int64_t> kAllT = {512, 2048, 8192, 32768};

}  // namespace

BENCHMARK(BM_GemmRate)->Arg(1024)->Arg(2048)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GemmChunkShape)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ChunkedFwd)->ArgsProduct({kAllT})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ChunkedFwdBwd)->ArgsProduct({kAllT})->UseRealTime()->Unit(benchmark::kMillisecond);
// The fp32 loop and the T x T LibTorch form stop at 8192 (32768: minutes / 4 GiB per [T,T] buffer).
BENCHMARK(BM_RefF32Fwd)
    ->Arg(512)
    ->Arg(2048)
    ->Arg(8192)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RefF32FwdBwd)
    ->Arg(512)
    ->Arg(2048)
    ->Arg(8192)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TorchQuadFwd)
    ->Arg(512)
    ->Arg(2048)
    ->Arg(8192)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TorchQuadFwdBwd)
    ->Arg(512)
    ->Arg(2048)
    ->Arg(8192)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SdpaFwd)->ArgsProduct({kAllT})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SdpaFwdBwd)->ArgsProduct({kAllT})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DslaDecodeStep)->ArgsProduct({kAllT})->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SdpaDecode)->ArgsProduct({kAllT})->UseRealTime()->Unit(benchmark::kMicrosecond);

int main(int argc, char** argv) {
  at::set_num_threads(2);
  std::printf("dsla_bench: intra-op threads %d, cpu gemm backend: %s\n", at::get_num_threads(),
              dsla::kernels::cpu::gemm_backend());
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
