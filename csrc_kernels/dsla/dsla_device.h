// Device routing of the tensor boundary: CPU kernels, or the CUDA launchers when this build has
// them.
#pragma once

#include <ATen/core/Tensor.h>

#include "dsla/dsla_params.h"

namespace dsla::kernels {

/// Runs the CUDA forward / backward / step for params built from CUDA tensors on `like`'s device
/// and current stream. Throws dsla::Error in a build without CUDA (dsla_api_nocuda.cpp).
void run_fwd_cuda(const DslaFwdParams& p, const at::Tensor& like);
void run_bwd_cuda(const DslaBwdParams& p, const at::Tensor& like);
void run_step_cuda(const DslaFwdParams& p, const at::Tensor& like);

}  // namespace dsla::kernels
