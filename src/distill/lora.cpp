// Implementation of the low-rank adapters of the end-to-end phase.
#include "distill/lora.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/autograd.h>

#include <cmath>

#include "core/error.h"

namespace dsla::distill {

LoraScope::LoraScope(const std::vector<std::shared_ptr<torch::nn::LinearImpl>>& linears,
                     const LoraOptions& o, uint64_t seed)
    : scale_(o.alpha / static_cast<double>(o.rank)) {
  DSLA_CHECK(o.rank > 0, "LoRA rank must be positive, got {}", o.rank);
  DSLA_CHECK(!linears.empty(), "LoRA: no projections to adapt");
  torch::NoGradGuard no_grad;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (const auto& linear : linears) {
    at::Tensor w = linear->weight;  // [out, in]
    int64_t out = w.size(0), in = w.size(1);
    DSLA_CHECK(o.rank <= std::min(out, in), "LoRA rank {} exceeds the projection's {} x {}", o.rank,
               out, in);
    // Kaiming-uniform bound for a fan-in of `in` (as nn.Linear and the PEFT library draw A).
    double bound = 1.0 / std::sqrt(static_cast<double>(in));
    at::Tensor a = at::empty({o.rank, in}, at::kFloat).uniform_(-bound, bound, gen);
    adapters_.push_back({linear, w, a.to(w.options()), at::zeros({out, o.rank}, w.options())});
    w.set_requires_grad(false);
  }
}

LoraScope::~LoraScope() {
  if (!done_) restore();
}

std::vector<at::Tensor> LoraScope::parameters() const {
  std::vector<at::Tensor> out;
  for (const auto& ad : adapters_) out.insert(out.end(), {ad.a, ad.b});
  return out;
}

at::Tensor LoraScope::delta(const Adapter& ad) const {
  return at::mm(ad.b, ad.a) * scale_;
}

void LoraScope::apply() {
  DSLA_CHECK(!done_, "LoRA: apply() after merge()");
  for (auto& ad : adapters_) ad.linear->weight = ad.base + delta(ad);
}

void LoraScope::merge() {
  DSLA_CHECK(!done_, "LoRA: merged twice");
  torch::NoGradGuard no_grad;
  for (auto& ad : adapters_) ad.base.add_(delta(ad));
  restore();
}

void LoraScope::restore() {
  for (auto& ad : adapters_) ad.linear->weight = ad.base;
  done_ = true;
}

std::vector<std::shared_ptr<torch::nn::LinearImpl>> attention_projections(
    model::AttentionModule& attention) {
  std::vector<std::shared_ptr<torch::nn::LinearImpl>> out;
  for (const auto& child : attention.named_children()) {
    for (const char* name : {"q_proj", "k_proj", "v_proj", "o_proj"}) {
      if (child.key() != name) continue;
      auto linear = std::dynamic_pointer_cast<torch::nn::LinearImpl>(child.value());
      DSLA_CHECK(linear != nullptr, "attention child {} is not a linear layer", name);
      out.push_back(linear);
    }
  }
  return out;
}

}  // namespace dsla::distill
