// Argument checks shared by every DSLA entry point (implemented in dsla_api.cpp).
#pragma once

#include <ATen/core/Tensor.h>

namespace dsla::kernels {

/// Throws dsla::Error naming the argument when shapes, dtypes or devices do not match dsla.h's
/// contract. fp64 inputs are accepted only when allow_f64 (the reference).
void check_dsla_inputs(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                       const at::Tensor& g1, const at::Tensor& g2, const at::Tensor& gamma,
                       const at::Tensor& s1_0, const at::Tensor& s2_0, const at::Tensor& lengths,
                       bool allow_f64);

}  // namespace dsla::kernels
