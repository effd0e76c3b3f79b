// Implementation of threads.h.
#include "core/threads.h"

#include <ATen/Parallel.h>

#include <thread>

namespace dsla {

int init_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  return at::get_num_threads();
}

}  // namespace dsla
