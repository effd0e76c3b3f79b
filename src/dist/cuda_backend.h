// The c10d backend for CUDA tensors (NCCL), built when dsla is built with CUDA; internal to
// dist/group.cpp.
#pragma once

#include <chrono>
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

namespace dsla::dist {

/// Whether this build can run collectives on CUDA tensors.
bool cuda_collectives_built();

/// A NCCL process group over `store` for rank `rank` of `size`, with `timeout` per collective.
/// Throws dsla::Error in a build without CUDA.
c10::intrusive_ptr<c10d::Backend> make_cuda_backend(const c10::intrusive_ptr<c10d::Store>& store,
                                                    int rank, int size,
                                                    std::chrono::milliseconds timeout);

}  // namespace dsla::dist
