// Opening an existing run directory, the one way distill --resume, eval, export and serve read a
// run: its recipe and completed stages, the model after a stage, or every stage as one switchable
// model.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "config/recipe.h"
#include "model/hybrid_model.h"
#include "run/run_directory.h"

namespace dsla::run {

/// A run's resolved recipe and completed stages (no weights loaded).
struct Run {
  std::filesystem::path dir;
  config::Recipe recipe;
  RunProgress progress;
};

/// Opens `dir`. Throws dsla::Error naming the directory when it is not a run or has no completed
/// stage.
Run open_run(const std::filesystem::path& dir);

/// True when `dir` looks like a run directory (it has a progress.json).
bool is_run_directory(const std::filesystem::path& dir);

/// The run's model after one of its stages.
struct RunModel {
  config::Recipe recipe;  ///< the run's resolved recipe.yaml
  RunProgress progress;   ///< plan.converted = `stage`
  int64_t stage = 0;
  model::LlamaForCausalLM model{nullptr};
};

/// Loads the run's model after `stage` (default: the last completed; 0 = the teacher).
RunModel load_run_model(const Run& run, std::optional<int64_t> stage);
RunModel load_run_model(const std::filesystem::path& dir, std::optional<int64_t> stage);

/// The teacher with every completed stage loaded: depths 0 .. stages, on `device`.
std::unique_ptr<model::HybridModel> load_run_hybrid(const Run& run,
                                                    const c10::Device& device = c10::kCPU);

}  // namespace dsla::run
