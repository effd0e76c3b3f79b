// CUDA launchers of the DSLA kernels over the POD params (no torch types); stream is a
// cudaStream_t. Each returns the cudaError_t of its launch (0 = success). Requires dv <= 1024 (one
// thread per value column).
#pragma once

#include "dsla/dsla_params.h"

namespace dsla::kernels::cuda {

/// Forward (token-serial scan): o, and the final states into p.s1/p.s2 (both required).
int dsla_fwd_cuda(const DslaFwdParams& p, void* stream);
/// Backward (checkpointed reverse scan); ws is fp32 scratch of dsla_bwd_cuda_workspace(p) floats.
int dsla_bwd_cuda(const DslaBwdParams& p, float* ws, void* stream);
int64_t dsla_bwd_cuda_workspace(const DslaBwdParams& p);
/// Decode step: p.s1/p.s2 updated in place, o written.
int dsla_step_cuda(const DslaFwdParams& p, void* stream);

}  // namespace dsla::kernels::cuda
