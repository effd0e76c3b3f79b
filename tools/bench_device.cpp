// dsla_bench_device: DSLA attention (two states) forward+backward per kernel path and SDPA
// forward+backward on one device (cpu, cuda), for the GPU check's kernel comparison; one JSON line
// per (path, T).
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/autograd.h>
#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <cxxopts.hpp>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "dsla/dsla.h"
#include "model/device.h"

namespace {

using dsla::kernels::DslaKernel;

struct Shape {
  int64_t batch, heads, dim, tokens;
  at::TensorOptions options;
};

void sync(const c10::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

/// Median milliseconds of `repeat` runs of `fn` after two warm-ups.
template <class Fn>
double median_ms(const c10::Device& device, int repeat, Fn fn) {
  for (int i = 0; i < 2; ++i) fn();
  sync(device);
  std::vector<double> ms;
  for (int i = 0; i < repeat; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    sync(device);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

at::Tensor leaf(const at::Tensor& t) {
  return t.detach().requires_grad_(true);
}

/// dsla_attention fwd+bwd with `kernel` ([B, T, H, d] inputs, DSLA-like gates).
double dsla_ms(const Shape& s, DslaKernel kernel, int repeat) {
  at::manual_seed(0);
  auto o = s.options;
  std::vector<int64_t> bthd = {s.batch, s.tokens, s.heads, s.dim};
  at::Tensor q = leaf(at::randn(bthd, o)), k = leaf(at::randn(bthd, o)),
             v = leaf(at::randn(bthd, o));
  at::Tensor g1 = leaf(at::log_sigmoid(at::randn(bthd, o) + 6) / 16);
  at::Tensor g2 = leaf(at::log_sigmoid(at::randn(bthd, o) - 2) / 16);
  at::Tensor gamma = leaf(at::full({s.heads}, 0.5, o.dtype(at::kFloat)));
  at::Tensor grad = at::randn(bthd, o);
  dsla::kernels::DslaOptions opts;
  opts.kernel = kernel;
  return median_ms(o.device(), repeat, [&] {
    auto out = dsla::kernels::dsla_attention(q, k, v, g1, g2, gamma, {}, {}, {}, opts);
    out.o.backward(grad);
  });
}

/// Causal SDPA fwd+bwd ([B, H, T, d]; flash attention on CUDA for bf16).
double sdpa_ms(const Shape& s, int repeat) {
  at::manual_seed(0);
  std::vector<int64_t> bhtd = {s.batch, s.heads, s.tokens, s.dim};
  at::Tensor q = leaf(at::randn(bhtd, s.options)), k = leaf(at::randn(bhtd, s.options));
  at::Tensor v = leaf(at::randn(bhtd, s.options)), grad = at::randn(bhtd, s.options);
  return median_ms(s.options.device(), repeat, [&] {
    at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true).backward(grad);
  });
}

std::vector<int64_t> int_list(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoll(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) try {
  cxxopts::Options options("dsla_bench_device", "DSLA and SDPA forward+backward on one device");
  // clang-format off
  options.add_options()
      ("device", "cpu, cuda or cuda:N", cxxopts::value<std::string>()->default_value("cpu"))
      ("dtype", "bfloat16 or float32", cxxopts::value<std::string>()->default_value("bfloat16"))
      ("batch", "B", cxxopts::value<int64_t>()->default_value("4"))
      ("heads", "H", cxxopts::value<int64_t>()->default_value("9"))
      ("dim", "d = dv", cxxopts::value<int64_t>()->default_value("64"))
      ("tokens", "sequence lengths", cxxopts::value<std::string>()->default_value("2048,8192,32768"))
      ("custom-max-tokens", "time the custom kernels up to this length", cxxopts::value<int64_t>()->default_value("8192"))
      ("repeat", "timed runs (median)", cxxopts::value<int>()->default_value("5"))
      ("h,help", "show this help");
  // clang-format on
  auto args = options.parse(argc, argv);
  if (args.count("help") != 0) {
    std::cout << options.help() << std::endl;
    return 0;
  }
  c10::Device device = dsla::model::resolve_device(args["device"].as<std::string>(), "--device");
  std::string dtype = args["dtype"].as<std::string>();
  if (dtype != "bfloat16" && dtype != "float32") {
    std::cerr << "--dtype must be bfloat16 or float32, got " << dtype << "\n";
    return 1;
  }
  at::TensorOptions opts =
      at::TensorOptions().device(device).dtype(dtype == "bfloat16" ? at::kBFloat16 : at::kFloat);
  int repeat = args["repeat"].as<int>();
  for (int64_t t : int_list(args["tokens"].as<std::string>())) {
    Shape s{args["batch"].as<int64_t>(), args["heads"].as<int64_t>(), args["dim"].as<int64_t>(), t,
            opts};
    auto row = [&](const char* path, double ms) {
      std::cout
          << fmt::format(
                 R"({{"device":"{}","dtype":"{}","path":"{}","B":{},"H":{},"d":{},"T":{},"fwd_bwd_ms":{:.3f}}})",
                 device.str(), dtype, path, s.batch, s.heads, s.dim, t, ms)
          << std::endl;
    };
    // dsla_auto: what kAuto runs here (CPU: the CPU kernels; CUDA: the ATen path); dsla_aten where
    // that differs; dsla_custom: the custom CUDA kernels.
    row("dsla_auto", dsla_ms(s, DslaKernel::kAuto, repeat));
    if (dsla::kernels::resolve_kernel(DslaKernel::kAuto, device) != DslaKernel::kAten) {
      row("dsla_aten", dsla_ms(s, DslaKernel::kAten, repeat));
    }
    if (device.is_cuda() && t <= args["custom-max-tokens"].as<int64_t>()) {
      row("dsla_custom", dsla_ms(s, DslaKernel::kChunked, repeat));
    }
    row("sdpa", sdpa_ms(s, repeat));
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "dsla_bench_device: " << e.what() << "\n";
  return 1;
}
