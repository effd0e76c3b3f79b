// Implementation of resolve_device: the name's format, then CUDA's presence and device count.
#include "model/device.h"

#include <torch/cuda.h>

#include "core/device_spec.h"
#include "core/error.h"

namespace dsla::model {

c10::Device resolve_device(const std::string& spec, const std::string& where) {
  if (auto problem = device_spec_error(spec)) DSLA_FAIL("{}: {}", where, *problem);
  c10::Device device(spec);
  if (device.is_cpu()) return device;
  DSLA_CHECK(torch::cuda::is_available(),
             "{} {}: no CUDA device is available here (no GPU, or no driver); use --device cpu",
             where, spec);
  auto count = static_cast<int64_t>(torch::cuda::device_count());
  DSLA_CHECK(!device.has_index() || device.index() < count,
             "{} {}: this machine has {} CUDA device(s), indices 0..{}", where, spec, count,
             count - 1);
  return device.has_index() ? device : c10::Device(c10::kCUDA, 0);
}

}  // namespace dsla::model
