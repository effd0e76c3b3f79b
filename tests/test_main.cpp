// Shared gtest main: sets LibTorch threads and skips tests named *_CUDA when no GPU is present.
#include <ATen/Context.h>
#include <gtest/gtest.h>

#include "core/threads.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  dsla::init_threads(0);
  if (!at::hasCUDA()) {
    std::string filter = ::testing::GTEST_FLAG(filter);
    std::string neg = "*_CUDA:*_CUDA/*";
    if (filter.find('-') == std::string::npos) {
      filter += "-" + neg;
    } else {
      filter += ":" + neg;
    }
    ::testing::GTEST_FLAG(filter) = filter;
  }
  return RUN_ALL_TESTS();
}
