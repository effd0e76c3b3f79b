// dsla_bench_forms: one attention layer of SmolLM2-135M's shape (hidden 576, 9 query / 3 KV heads,
// head_dim 64) per DSLA layer form against the paper's form and the teacher's softmax layer (SDPA),
// forward and forward+backward (input and parameter gradients), B = 1, T = 512 .. 32768, 2 threads.
// Unlike dsla_bench (the kernels alone) each row includes the projections, gates and feature maps.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/autograd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "model/dsla_attention.h"
#include "model/rope.h"
#include "model/softmax_attention.h"

namespace {

using namespace dsla::model;

LlamaConfig smollm2_shape() {
  LlamaConfig c;
  c.hidden_size = 576, c.intermediate_size = 1536, c.num_hidden_layers = 30;
  c.num_attention_heads = 9, c.num_key_value_heads = 3, c.head_dim = 64;
  c.vocab_size = 49152, c.max_position_embeddings = 65536, c.rope_theta = 100000.0;
  return c;
}

struct Form {
  const char* name;
  DslaSettings settings;
};

DslaSettings paper() {
  return DslaSettings{};
}  // identity, no normaliser, no window, no RoPE

DslaSettings qz_form(FeatureMap map, int64_t window, int64_t sinks,
                     DslaVariant variant = DslaVariant::dual) {
  DslaSettings s;
  s.variant = variant, s.feature_map = map, s.normalize = Normalize::qz, s.rope = true;
  s.window = window, s.sinks = sinks;
  return s;
}

// Index 0 is the teacher's softmax layer (SDPA); the others are DSLA forms.
const std::vector<Form>& forms() {
  static const std::vector<Form> all = {
      {"softmax (SDPA)", {}},
      {"paper: identity, no normaliser", paper()},
      {"hedgehog + qz", qz_form(FeatureMap::hedgehog, 0, 0)},
      {"softmax map + qz", qz_form(FeatureMap::softmax, 0, 0)},
      {"hedgehog + qz + window 64 + 4 sinks", qz_form(FeatureMap::hedgehog, 64, 4)},
      {"hedgehog + qz + window 128 + 4 sinks (default)", qz_form(FeatureMap::hedgehog, 128, 4)},
      {"single, hedgehog + qz + window 128 + 4 sinks",
       qz_form(FeatureMap::hedgehog, 128, 4, DslaVariant::single)},
  };
  return all;
}

std::shared_ptr<AttentionModule> make_layer(size_t form) {
  if (form == 0) return std::make_shared<SoftmaxAttention>(smollm2_shape());
  return std::make_shared<DslaAttention>(smollm2_shape(), forms()[form].settings, 15);
}

struct Inputs {
  at::Tensor x, grad;
  AttentionContext ctx;
};

Inputs make_inputs(int64_t T) {
  at::manual_seed(0);
  RotaryEmbedding rope(smollm2_shape());
  Inputs in;
  in.x = at::randn({1, T, 576}) * 0.5;
  in.grad = at::randn({1, T, 576});
  std::tie(in.ctx.cos, in.ctx.sin) = rope.table(0, T);
  return in;
}

void BM_Forward(benchmark::State& s) {
  auto form = static_cast<size_t>(s.range(0));
  s.SetLabel(forms()[form].name);
  auto layer = make_layer(form);
  Inputs in = make_inputs(s.range(1));
  at::NoGradGuard no_grad;
  for (auto _ : s) benchmark::DoNotOptimize(layer->forward(in.x, in.ctx, nullptr).data_ptr());
}

void BM_ForwardBackward(benchmark::State& s) {
  auto form = static_cast<size_t>(s.range(0));
  s.SetLabel(forms()[form].name);
  auto layer = make_layer(form);
  Inputs in = make_inputs(s.range(1));
  in.x.requires_grad_(true);
  for (auto _ : s) {
    at::Tensor y = layer->forward(in.x, in.ctx, nullptr);
    torch::autograd::backward({y}, {in.grad});
    layer->zero_grad();
    in.x.mutable_grad().reset();
  }
}

void all_rows(benchmark::internal::Benchmark* b) {
  for (int64_t form = 0; form < static_cast<int64_t>(forms().size()); ++form)
    for (int64_t t : {512, 2048, 4096, 8192, 32768}) b->Args({form, t});
}

}  // namespace

BENCHMARK(BM_Forward)->Apply(all_rows)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ForwardBackward)->Apply(all_rows)->UseRealTime()->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  at::set_num_threads(2);
  std::printf("dsla_bench_forms: intra-op threads %d; form index:\n", at::get_num_threads());
  for (size_t i = 0; i < forms().size(); ++i) std::printf("  %zu: %s\n", i, forms()[i].name);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
