// The model of a distillation run after one of its stages: the teacher with the run's first
// `stage` layers of the order converted and loaded from the stage checkpoints.
#pragma once

#include <filesystem>
#include <optional>

#include "config/recipe.h"
#include "distill/run_state.h"

namespace dsla::distill {

struct RunModel {
  config::Recipe recipe;  ///< the run's resolved recipe.yaml
  RunProgress progress;   ///< plan.converted = `stage`
  int64_t stage = 0;
  model::LlamaForCausalLM model{nullptr};
};

/// The completed stages of a run (its progress.json) and its recipe, without loading weights.
/// Throws dsla::Error naming the directory when it is not a run or has no completed stage.
std::pair<config::Recipe, RunProgress> read_run(const std::filesystem::path& run_dir);

/// Loads the run's model after `stage` (default: the last completed; 0 = the teacher).
RunModel load_run_model(const std::filesystem::path& run_dir, std::optional<int64_t> stage);

}  // namespace dsla::distill
