// CUDA entry points of a build without CUDA (DSLA_WITH_CUDA=OFF): a clear error, never a copy to
// CPU.
#include "core/error.h"
#include "dsla/dsla.h"
#include "dsla/dsla_device.h"

namespace dsla::kernels {
namespace {

[[noreturn]] void no_cuda(const at::Tensor& like) {
  DSLA_FAIL(
      "dsla kernels: got a tensor on {} but this build has no CUDA kernels (DSLA_WITH_CUDA=OFF)",
      like.device().str());
}

}  // namespace

bool cuda_compiled() {
  return false;
}
void run_fwd_cuda(const DslaFwdParams&, const at::Tensor& like) {
  no_cuda(like);
}
void run_bwd_cuda(const DslaBwdParams&, const at::Tensor& like) {
  no_cuda(like);
}
void run_step_cuda(const DslaFwdParams&, const at::Tensor& like) {
  no_cuda(like);
}

}  // namespace dsla::kernels
