// Which DSLA implementation kAuto means: per device, the process-wide override, the CUDA opt-in.
#include <atomic>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "dsla/dsla.h"

namespace dsla::kernels {
namespace {

std::atomic<DslaKernel> auto_kernel{DslaKernel::kAuto};

/// DSLA_CUDA_KERNELS: "aten" (default) or "custom"; anything else is refused by name.
bool custom_cuda_requested() {
  const char* env = std::getenv("DSLA_CUDA_KERNELS");
  std::string value = env != nullptr ? env : "aten";
  DSLA_CHECK(value == "aten" || value == "custom",
             "DSLA_CUDA_KERNELS must be 'aten' or 'custom', got '{}'", value);
  return value == "custom";
}

}  // namespace

DslaKernel resolve_kernel(DslaKernel requested, const c10::Device& device) {
  if (requested != DslaKernel::kAuto) return requested;
  DslaKernel chosen = auto_kernel.load();
  if (chosen != DslaKernel::kAuto) return chosen;
  if (device.is_cpu()) return DslaKernel::kChunked;
  return custom_cuda_requested() && device.is_cuda() ? DslaKernel::kChunked : DslaKernel::kAten;
}

void set_auto_kernel(DslaKernel kernel) {
  auto_kernel.store(kernel);
}

AutoKernelScope::AutoKernelScope(DslaKernel kernel) : previous_(auto_kernel.exchange(kernel)) {}

AutoKernelScope::~AutoKernelScope() {
  auto_kernel.store(previous_);
}

}  // namespace dsla::kernels
