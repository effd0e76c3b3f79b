// Decode throughput of a served run at a fixed batch and context, for several conversion depths,
// next to the bound from the bytes each decode step must read (weights, K/V of softmax layers,
// DSLA states) and the machine's measured memory bandwidth.
// With --prefill-chunk C it also times one request's prefill chunk of C tokens at each context.
// With --mixed it also times a step of two half batches at depth 0 and the deepest depth: one pass
// (serve::decode_mixed, what dsla serve runs) against one forward per depth.
// Usage: bench_decode RUN_DIR [--batch 8] [--contexts 4096,8192] [--depths 0,0.25,0.5,0.75,1]
//                     [--steps 6] [--prefill-chunk C] [--mixed] [--json OUT] [--device cpu|cuda]
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>
#include <torch/cuda.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/seconds.h"
#include "core/threads.h"
#include "model/device.h"
#include "model/dsla_attention.h"
#include "serve/batch_cache.h"
#include "serve/mixed_decode.h"
#include "serve/served_model.h"

using namespace dsla;
using Clock = std::chrono::steady_clock;

namespace {

c10::Device bench_device = c10::kCPU;  // --device

/// Waits for the device's queued work, so the clock reads what the GPU did (a no-op on the CPU).
void wait_for_device() {
  if (bench_device.is_cuda()) torch::cuda::synchronize(bench_device.index());
}

/// Best-of-5 read bandwidth (bytes/s) of summing a 1 GiB fp32 tensor, and copy bandwidth.
std::pair<double, double> memory_bandwidth() {
  at::Tensor a = at::rand({256 << 20}), b = at::empty_like(a);
  double bytes = static_cast<double>(a.numel()) * 4, read = 0, copy = 0;
  for (int i = 0; i < 5; ++i) {
    auto t = Clock::now();
    volatile float s = a.sum().item<float>();
    (void)s;
    read = std::max(read, bytes / seconds_since(t));
    t = Clock::now();
    b.copy_(a);
    copy = std::max(copy, 2 * bytes / seconds_since(t));
  }
  return {read, copy};
}

/// Bytes of a defined tensor (0 when undefined).
double nbytes(const at::Tensor& t) {
  return t.defined() ? static_cast<double>(t.nbytes()) : 0.0;
}

/// A cache of `batch` rows and `context` columns with synthetic contents, room for `extra` more.
/// A short real prefill gives every converted layer its states, window and sinks in the shapes its
/// form needs; the softmax layers' K/V are then replaced by `context` synthetic columns.
serve::BatchCache synthetic_cache(model::LlamaForCausalLMImpl& m, int64_t batch, int64_t context,
                                  int64_t extra) {
  const auto& c = m.config();
  int64_t hd = c.hidden_size / c.num_attention_heads;
  // Layers allocate their window and sink buffers whole, so 256 real tokens give every shape.
  int64_t prefill = std::min<int64_t>(context, 256);
  model::InferenceCache cache(m.num_layers());
  m.forward(at::randint(3, c.vocab_size, {batch, prefill}, at::kLong), 0, &cache,
            model::LogitsFor::kLast);
  for (int64_t i = 0; i < m.num_layers(); ++i) {
    model::LayerCache& l = cache.layer(i);
    if (m.layer(i).attention()->kind() == "softmax") {
      l.k = at::randn({batch, c.num_key_value_heads, context + extra, hd}) * 0.5;
      l.v = at::randn({batch, c.num_key_value_heads, context + extra, hd});
    }
    l.length = context;
  }
  serve::BatchCache out(m.num_layers());
  out.append(std::move(cache), batch, context);
  return out;
}

/// Bytes one decode step reads: every weight once, softmax K/V of `context` tokens, and for a
/// converted layer its states (read and written), exact-window ring and sinks (read).
double step_bytes(model::LlamaForCausalLMImpl& m, serve::BatchCache& cache, int64_t batch,
                  int64_t context) {
  double weights = 0;
  for (const auto& p : m.parameters(true))
    weights += static_cast<double>(p.numel() * p.element_size());
  // A lookup reads only B rows of the embedding table; tied to the LM head, it is read whole there.
  if (m.lm_head) {
    const at::Tensor& e = m.model->embed_tokens->weight;
    weights -= static_cast<double>(e.numel() * e.element_size());
  }
  const auto& c = m.config();
  int64_t hd = c.hidden_size / c.num_attention_heads;
  double bytes = weights;
  for (int64_t i = 0; i < m.num_layers(); ++i) {
    const model::LayerCache& l = cache.cache().layer(i);
    if (m.layer(i).attention()->kind() == "softmax") {
      bytes += 2.0 * static_cast<double>(batch * c.num_key_value_heads * context * hd) * 4;
    } else {
      bytes += 2 * (nbytes(l.s1) + nbytes(l.s2)) + nbytes(l.window_k) + nbytes(l.window_v) +
               nbytes(l.sink_k) + nbytes(l.sink_v);
    }
  }
  return bytes;
}

/// Seconds for one prefill chunk of `chunk` tokens of a single request whose cache holds `context`
/// tokens (best of `repeats`); the cache is rewound after each chunk.
double prefill_chunk_seconds(model::LlamaForCausalLMImpl& m, int64_t context, int64_t chunk,
                             int64_t repeats) {
  serve::BatchCache cache = synthetic_cache(m, 1, context, chunk);
  at::Tensor ids = at::randint(3, m.config().vocab_size, {1, chunk}, at::kLong);
  double best = 1e30;
  for (int64_t r = 0; r <= repeats; ++r) {  // the first is a warm-up
    auto t = Clock::now();
    m.forward(ids, context, &cache.cache(), model::LogitsFor::kLast);
    wait_for_device();
    if (r > 0) best = std::min(best, seconds_since(t));
    for (int64_t i = 0; i < m.num_layers(); ++i) cache.cache().layer(i).length = context;
  }
  return best;
}

/// Seconds per decode step of two half batches (depth 0 and the deepest) whose caches hold
/// `context` tokens: {one pass, one forward per depth}.
std::pair<double, double> mixed_step_seconds(serve::ServedModel& h, int64_t batch, int64_t context,
                                             int64_t steps) {
  std::vector<int64_t> depths{0, h.max_depth()};
  std::vector<serve::BatchCache> caches;
  std::vector<serve::DepthBatch> batches;
  for (int64_t d : depths) {
    model::DepthScope scope = h.at_depth(d);
    caches.push_back(synthetic_cache(scope.model(), batch / 2, context, 2 * steps + 4));
  }
  for (size_t g = 0; g < depths.size(); ++g) {
    batches.push_back(
        {depths[g], at::randint(3, h.config().vocab_size, {batch / 2, 1}, at::kLong), &caches[g]});
  }
  auto one_pass = [&] {
    serve::decode_mixed(h, batches);
    for (auto& c : caches) c.advance();
  };
  auto per_depth = [&] {
    for (auto& b : batches) {
      h.at_depth(b.depth)->forward(b.ids, b.cache->columns(), &b.cache->cache(),
                                   model::LogitsFor::kLast, b.cache->pad());
      b.cache->advance();
    }
  };
  auto time = [&](auto&& step) {
    step();  // warm-up
    wait_for_device();
    auto t = Clock::now();
    for (int64_t s = 0; s < steps; ++s) step();
    wait_for_device();
    return seconds_since(t) / static_cast<double>(steps);
  };
  double separate = time(per_depth);
  double mixed = time(one_pass);
  return {mixed, separate};
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(item);
  return out;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: bench_decode RUN_DIR [--batch B] [--contexts a,b] "
                 "[--depths f,...] [--steps N] [--prefill-chunk C] [--json OUT] [--device D]\n");
    return 2;
  }
  std::string run = argv[1], contexts = "4096,8192", depths = "0,0.25,0.5,0.75,1", json_out;
  int64_t batch = 8, steps = 6, prefill_chunk = 0;
  bool mixed = false;
  for (int i = 2; i < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--mixed") {
      mixed = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s needs a value\n", k.c_str());
      return 2;
    }
    std::string v = argv[i + 1];
    if (k == "--batch")
      batch = std::stoll(v);
    else if (k == "--contexts")
      contexts = v;
    else if (k == "--depths")
      depths = v;
    else if (k == "--steps")
      steps = std::stoll(v);
    else if (k == "--prefill-chunk")
      prefill_chunk = std::stoll(v);
    else if (k == "--json")
      json_out = v;
    else if (k == "--device")
      bench_device = model::resolve_device(v, "--device");
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  int threads = init_threads(0);
  c10::InferenceMode guard;
  auto model = serve::ServedModel::load(run, bench_device);
  auto [read_bw, copy_bw] = memory_bandwidth();
  std::printf("machine: %d threads; memory bandwidth: read %.1f GB/s, copy %.1f GB/s\n", threads,
              read_bw / 1e9, copy_bw / 1e9);
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& ctx_text : split(contexts)) {
    int64_t context = std::stoll(ctx_text);
    double teacher_seconds = 0, teacher_bytes = 0;
    std::printf(
        "\n| context | depth | layers converted | step ms | tokens/s | x teacher | bytes/step (MB) "
        "| bound x teacher | step ms at read bandwidth |\n|---|---|---|---|---|---|---|---|---|\n");
    for (const auto& frac_text : split(depths)) {
      double frac = std::stod(frac_text);
      auto depth =
          static_cast<int64_t>(std::lround(frac * static_cast<double>(model->max_depth())));
      model::DepthScope scope = model->at_depth(depth);
      model::LlamaForCausalLMImpl& m = scope.model();
      serve::BatchCache cache = synthetic_cache(m, batch, context, steps + 2);
      at::Tensor ids = at::randint(3, m.config().vocab_size, {batch, 1}, at::kLong);
      auto step = [&] {
        m.forward(ids, cache.columns(), &cache.cache(), model::LogitsFor::kLast, cache.pad());
        cache.advance();
      };
      step();  // warm-up
      wait_for_device();
      auto t = Clock::now();
      for (int64_t s = 0; s < steps; ++s) step();
      wait_for_device();
      double per_step = seconds_since(t) / static_cast<double>(steps);
      double bytes = step_bytes(m, cache, batch, context);
      if (depth == 0) teacher_seconds = per_step, teacher_bytes = bytes;
      double speedup = teacher_seconds > 0 ? teacher_seconds / per_step : 0;
      double bound = teacher_bytes > 0 ? teacher_bytes / bytes : 0;
      std::printf("| %lld | %.0f%% | %lld/%lld | %.1f | %.1f | %.2fx | %.0f | %.2fx | %.1f |\n",
                  static_cast<long long>(context), 100 * frac, static_cast<long long>(depth),
                  static_cast<long long>(m.num_layers()), per_step * 1e3,
                  static_cast<double>(batch) / per_step, speedup, bytes / 1e6, bound,
                  bytes / read_bw * 1e3);
      std::fflush(stdout);
      rows.push_back({{"context", context},
                      {"depth_fraction", frac},
                      {"depth", depth},
                      {"step_seconds", per_step},
                      {"tokens_per_second", batch / per_step},
                      {"speedup", speedup},
                      {"bytes_per_step", bytes},
                      {"bound", bound}});
    }
  }
  if (prefill_chunk > 0) {
    std::printf(
        "\n| context | depth | layers converted | prefill chunk of %lld ms | x teacher |\n"
        "|---|---|---|---|---|\n",
        static_cast<long long>(prefill_chunk));
    for (const auto& ctx_text : split(contexts)) {
      int64_t context = std::stoll(ctx_text);
      double teacher = 0;
      for (const auto& frac_text : split(depths)) {
        double frac = std::stod(frac_text);
        auto depth =
            static_cast<int64_t>(std::lround(frac * static_cast<double>(model->max_depth())));
        model::DepthScope scope = model->at_depth(depth);
        model::LlamaForCausalLMImpl& m = scope.model();
        double s = prefill_chunk_seconds(m, context, prefill_chunk, steps);
        if (depth == 0) teacher = s;
        std::printf("| %lld | %.0f%% | %lld/%lld | %.1f | %.2fx |\n",
                    static_cast<long long>(context), 100 * frac, static_cast<long long>(depth),
                    static_cast<long long>(m.num_layers()), s * 1e3, teacher > 0 ? teacher / s : 0);
        std::fflush(stdout);
        rows.push_back({{"context", context},
                        {"depth", depth},
                        {"prefill_chunk", prefill_chunk},
                        {"prefill_chunk_seconds", s}});
      }
    }
  }
  if (mixed) {
    std::printf(
        "\n| context | batch | rows at depth 0 / %lld | one pass ms | one forward per depth ms "
        "| x |\n|---|---|---|---|---|---|\n",
        static_cast<long long>(model->max_depth()));
    for (const auto& ctx_text : split(contexts)) {
      int64_t context = std::stoll(ctx_text);
      auto [one, separate] = mixed_step_seconds(*model, batch, context, steps);
      std::printf("| %lld | %lld | %lld / %lld | %.1f | %.1f | %.2fx |\n",
                  static_cast<long long>(context), static_cast<long long>(batch),
                  static_cast<long long>(batch / 2), static_cast<long long>(batch / 2), one * 1e3,
                  separate * 1e3, separate / one);
      std::fflush(stdout);
      rows.push_back({{"context", context},
                      {"mixed_one_pass_seconds", one},
                      {"mixed_per_depth_seconds", separate}});
    }
  }
  if (!json_out.empty()) {
    std::ofstream(json_out) << nlohmann::json{
        {"batch", batch},
        {"threads", threads},
        {"read_bandwidth", read_bw},
        {"copy_bandwidth", copy_bw},
        {"rows", rows}}.dump(1);
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_decode: %s\n", e.what());
  return 1;
}
