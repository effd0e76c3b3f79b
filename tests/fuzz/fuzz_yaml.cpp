// libFuzzer target: YAML files through the three typed loaders (the first byte picks one): a
// distill recipe (then validate_recipe), an eval task, a load-test recipe. Every problem must be a
// dsla::Error listing it, never a yaml-cpp exception or a crash.
#include "config/recipe.h"
#include "core/error.h"
#include "eval/task_config.h"
#include "fuzz_support.h"
#include "loadtest/load_recipe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  try {
    auto path = dsla::fuzz::write_scratch("input.yaml", data + 1, size - 1);
    switch (data[0] % 3) {
      case 0: {
        dsla::config::Recipe r = dsla::config::load_recipe(path, {"run.seed=3"});
        dsla::config::validate_recipe(r, false);
        break;
      }
      case 1:
        dsla::eval::load_task(path);
        break;
      default:
        dsla::loadtest::plan_requests(dsla::loadtest::read_load_recipe(path));
        break;
    }
  } catch (const dsla::Error&) {
  }
  return 0;
}
