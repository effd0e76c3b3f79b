// Seconds elapsed since a steady_clock time point (timings in progress lines and JSONL records).
#pragma once

#include <chrono>

namespace dsla {

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace dsla
