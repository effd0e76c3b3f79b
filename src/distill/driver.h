// The profile and distill jobs: recipe in, run directory out (sensitivity files, stage
// checkpoints, metrics, report).
#pragma once

#include <filesystem>

#include "config/recipe.h"
#include "distill/builders.h"
#include "distill/sensitivity.h"
#include "run/run_directory.h"

namespace dsla::dist {
class Group;
}

namespace dsla::distill {

/// Profiles every layer of the (unconverted) `model` with the recipe's profile section on
/// calibration sequences from the training data, and writes the sensitivity files into `out_dir`.
SensitivityReport profile_layers(model::LlamaForCausalLMImpl& model, const config::Recipe& recipe,
                                 const Corpus& corpus, const std::filesystem::path& out_dir);

struct DistillOptions {
  bool resume = false;  ///< continue after the last completed stage in run.dir
  /// The data-parallel job this process is a rank of; null = a single-process run. Only rank 0
  /// touches the run directory (the others receive the progress and the completed stages).
  dist::Group* group = nullptr;
  int threads = 0;     ///< intra-op threads; 0 = the recipe's run.threads
  int local_rank = 0;  ///< this rank's index on its machine: run.device cuda means cuda:local_rank
  /// Stop at the first checkpoint (a parallel transfer checkpoint or a completed stage) after
  /// this many seconds, throwing RunStopped (distill/loop_state.h); 0 = no limit.
  double time_limit_s = 0;
  /// Resume even when the recipe changes settings that shape training (recipe_changes()); the
  /// earlier recipe is kept in recipe_history/ and the change logged in metrics.jsonl.
  bool allow_change = false;
};

/// The settings of `recipe` that differ from the recipe.yaml a run directory was started with and
/// change what training does: all but run.threads, run.dir, run.device, distill.fraction (more
/// stages), distill.eval_every, distill.log_every and distill.checkpoint_every. Empty when the
/// directory holds no started run.
std::vector<std::string> recipe_changes(const config::Recipe& recipe, const run::RunDirectory& dir);

/// Runs chained distillation as the recipe says and returns the final progress. Stage k converts
/// order[k-1] with the earlier stages' layers converted and frozen; every stage is checkpointed,
/// evaluated and logged before the next starts.
run::RunProgress run_distill(const config::Recipe& recipe, const DistillOptions& options);

}  // namespace dsla::distill
