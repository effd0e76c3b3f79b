// Implementation of threads.h.
#include "core/threads.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <thread>

#include "core/error.h"

namespace dsla {

int max_threads() {
  return std::max(64, 4 * static_cast<int>(std::thread::hardware_concurrency()));
}

int init_threads(int n) {
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  DSLA_CHECK(n <= max_threads(),
             "threads: {} is more than {} (this machine has {} cores; more threads than 4 per "
             "core only wait on each other)",
             n, max_threads(), cores);
  if (n <= 0) n = cores;
  at::set_num_threads(n);
  return at::get_num_threads();
}

}  // namespace dsla
