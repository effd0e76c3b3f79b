// Implementation of the NCCL backend factory (a build without CUDA refuses CUDA collectives).
#include "dist/cuda_backend.h"

#include "core/error.h"

#ifdef DSLA_DIST_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace dsla::dist {

#ifdef DSLA_DIST_NCCL

bool cuda_collectives_built() {
  return true;
}

c10::intrusive_ptr<c10d::Backend> make_cuda_backend(const c10::intrusive_ptr<c10d::Store>& store,
                                                    int rank, int size,
                                                    std::chrono::milliseconds timeout) {
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, options);
}

#else

bool cuda_collectives_built() {
  return false;
}

c10::intrusive_ptr<c10d::Backend> make_cuda_backend(const c10::intrusive_ptr<c10d::Store>&, int,
                                                    int, std::chrono::milliseconds) {
  DSLA_FAIL("collectives on CUDA tensors need NCCL: this dsla was built without CUDA");
}

#endif

}  // namespace dsla::dist
