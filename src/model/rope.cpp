// Implementation of rotary position embeddings.
#include "model/rope.h"

#include <ATen/ATen.h>

#include <cmath>

namespace dsla::model {
namespace {

/// Llama-3 scaling: long wavelengths divided by `factor`, short kept, smooth blend in between.
at::Tensor llama3_scale(const at::Tensor& inv_freq, const RopeScaling& s) {
  auto f = inv_freq.accessor<double, 1>();
  at::Tensor out = inv_freq.clone();
  auto o = out.accessor<double, 1>();
  double old_len = static_cast<double>(s.original_max_position_embeddings);
  double low_wavelen = old_len / s.low_freq_factor;
  double high_wavelen = old_len / s.high_freq_factor;
  for (int64_t i = 0; i < inv_freq.size(0); ++i) {
    double wavelen = 2 * M_PI / f[i];
    if (wavelen > low_wavelen) {
      o[i] = f[i] / s.factor;
    } else if (wavelen >= high_wavelen) {
      double smooth =
          (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      o[i] = (1 - smooth) * f[i] / s.factor + smooth * f[i];
    }
  }
  return out;
}

}  // namespace

RotaryEmbedding::RotaryEmbedding(const LlamaConfig& config) : head_dim_(config.head_dim) {
  // inv_freq[i] = theta^(-2i / head_dim), computed in fp64 then kept in fp32 as HF does.
  at::Tensor idx = at::arange(0, head_dim_, 2, at::kDouble);
  at::Tensor inv = at::pow(config.rope_theta, -idx / static_cast<double>(head_dim_));
  if (config.rope_scaling.type == "llama3") inv = llama3_scale(inv, config.rope_scaling);
  inv_freq_ = inv.to(at::kFloat);
  grow(std::min<int64_t>(config.max_position_embeddings, 4096));
}

void RotaryEmbedding::grow(int64_t positions) {
  at::Tensor t = at::arange(positions, inv_freq_.options());
  at::Tensor freqs = at::outer(t, inv_freq_);    // [P, head_dim/2]
  at::Tensor emb = at::cat({freqs, freqs}, -1);  // [P, head_dim]
  cos_ = emb.cos();
  sin_ = emb.sin();
}

void RotaryEmbedding::to(const c10::Device& device) {
  if (cos_.device() == device) return;
  inv_freq_ = inv_freq_.to(device), cos_ = cos_.to(device), sin_ = sin_.to(device);
}

std::pair<at::Tensor, at::Tensor> RotaryEmbedding::table(int64_t start, int64_t length) {
  int64_t need = start + length;
  if (need > cos_.size(0)) grow(std::max(need, 2 * cos_.size(0)));
  return {cos_.narrow(0, start, length), sin_.narrow(0, start, length)};
}

std::pair<at::Tensor, at::Tensor> RotaryEmbedding::table_at(const at::Tensor& positions) {
  at::Tensor pos = positions.to(cos_.device()).clamp_min(0);
  int64_t need = pos.numel() ? pos.max().item<int64_t>() + 1 : 0;
  if (need > cos_.size(0)) grow(std::max(need, 2 * cos_.size(0)));
  at::Tensor flat = pos.reshape({-1});
  std::vector<int64_t> shape = pos.sizes().vec();
  shape.push_back(head_dim_);
  return {cos_.index_select(0, flat).view(shape), sin_.index_select(0, flat).view(shape)};
}

at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  int64_t half = x.size(-1) / 2;
  at::Tensor x1 = x.narrow(-1, 0, half);
  at::Tensor x2 = x.narrow(-1, half, half);
  at::Tensor rotated = at::cat({-x2, x1}, -1);
  // cos/sin [T, hd] -> [1, T, 1, hd] (or [B, T, hd] -> [B, T, 1, hd]) to broadcast over heads.
  at::Tensor c = (cos.dim() == 2 ? cos.unsqueeze(0) : cos).unsqueeze(2);
  at::Tensor s = (sin.dim() == 2 ? sin.unsqueeze(0) : sin).unsqueeze(2);
  return (x.to(at::kFloat) * c + rotated.to(at::kFloat) * s).to(x.scalar_type());
}

}  // namespace dsla::model
