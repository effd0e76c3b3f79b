// Applying a linear layer, with a faster form for the few rows of a decode step.
#pragma once

#include <torch/nn/modules/linear.h>

namespace dsla::model {

/// x [..., in] @ weight^T (+ bias) -> [..., out]. With at most kFewRows rows it computes
/// (weight @ x^T)^T instead: this LibTorch's CPU GEMM reads a [out, in] weight about twice as fast
/// as the left operand than as the transposed right one when x has few rows (decode steps;
/// docs/benchmarks.md, "Decode throughput").
at::Tensor project(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias = {});

/// project() through a torch::nn::Linear's weight and bias.
at::Tensor project(const torch::nn::Linear& layer, const at::Tensor& x);

constexpr int64_t kFewRows = 16;

}  // namespace dsla::model
