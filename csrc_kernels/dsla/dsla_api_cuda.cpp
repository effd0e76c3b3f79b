// CUDA side of the tensor boundary: device guard, current stream, scratch, then the raw launchers.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "core/error.h"
#include "dsla/dsla.h"
#include "dsla/dsla_cuda.h"
#include "dsla/dsla_device.h"

namespace dsla::kernels {
namespace {

void* stream_of(const at::Tensor& like) {
  return c10::cuda::getCurrentCUDAStream(like.device().index()).stream();
}

void check_launch(int err, const char* what) {
  DSLA_CHECK(err == 0, "dsla: CUDA {} launch failed: {}", what,
             cudaGetErrorString(static_cast<cudaError_t>(err)));
}

void check_dims(const DslaFwdParams& p) {
  DSLA_CHECK(p.dv <= 1024, "dsla: the CUDA kernels take dv <= 1024 (one thread per column), got {}",
             p.dv);
}

}  // namespace

bool cuda_compiled() {
  return true;
}

void run_fwd_cuda(const DslaFwdParams& p, const at::Tensor& like) {
  c10::cuda::CUDAGuard guard(like.device());
  check_dims(p);
  check_launch(cuda::dsla_fwd_cuda(p, stream_of(like)), "forward");
}

void run_bwd_cuda(const DslaBwdParams& p, const at::Tensor& like) {
  check_dims(p);
  c10::cuda::CUDAGuard guard(like.device());
  at::Tensor ws = at::empty({cuda::dsla_bwd_cuda_workspace(p)}, like.options().dtype(at::kFloat));
  check_launch(cuda::dsla_bwd_cuda(p, ws.data_ptr<float>(), stream_of(like)), "backward");
}

void run_step_cuda(const DslaFwdParams& p, const at::Tensor& like) {
  c10::cuda::CUDAGuard guard(like.device());
  check_dims(p);
  check_launch(cuda::dsla_step_cuda(p, stream_of(like)), "decode step");
}

}  // namespace dsla::kernels
