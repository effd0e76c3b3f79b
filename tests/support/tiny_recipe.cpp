// Implementation of the small stories260K distill recipe for tests.
#include "support/tiny_recipe.h"

#include "core/paths.h"
#include "support/test_paths.h"

namespace dsla::testing {

config::Recipe tiny_stories_recipe(const std::filesystem::path& run_dir) {
  config::Recipe r;
  r.model.path = stories260k_dir().string();
  std::filesystem::path data = assets_dir() / "datasets" / "tinystories_val_sample";
  r.data.train_files = {(data / "tinystories_val.txt").string()};
  r.data.holdout_fraction = 0.1;
  r.data.seq_len = 64;
  r.data.max_train_tokens = 20000;
  r.dsla.gate_rank = 4;
  r.distill.batch_size = 4;
  r.distill.cache_sequences = 8;
  r.run.dir = run_dir.string();
  r.run.threads = 1;
  return r;
}

}  // namespace dsla::testing
