// What the training phases share: the metrics.jsonl step logger, the recipe's end-to-end
// options and the loop checkpoints of a phase that runs in the run directory.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "config/recipe.h"
#include "distill/builders.h"
#include "distill/end_to_end.h"
#include "distill/loop_state.h"
#include "run/run_directory.h"

namespace dsla::distill {

/// Logs a phase's steps (and held-out checks) to the run's metrics.jsonl; null without a
/// directory (the other ranks). `layer` -1 = every converted layer.
std::function<void(const FitStep&)> phase_step_logger(run::RunDirectory* dir, const char* phase,
                                                      int64_t stage, int64_t layer);

/// The end-to-end phase's AdamW learning rate: e2e_lr, else lr.
double end_to_end_lr(const config::DistillSection& d);

/// " name ppl 12.345" for each perplexity, for the progress lines.
std::string ppl_summary(const std::map<std::string, double>& perplexity);

/// The recipe's end-to-end loss and adapters, and held-out sequences when it checks
/// (distill.check_every).
EndToEndOptions end_to_end_options(const config::Recipe& recipe, const Corpus& corpus);

/// What identifies one checkpointed phase: a saved state of another phase is not resumed.
struct PhaseIdentity {
  std::string name;             ///< e.g. "parallel_transfer", "repair"
  std::vector<int64_t> layers;  ///< the layers it trains
  int64_t steps = 0;
  double lr = 0;
};

/// Checkpoints of a phase's loop every distill.checkpoint_every steps into `file` (main rank,
/// `file` non-empty; `stop` asked after each), and the state to resume from when `file` holds one
/// of the same phase (identity, batch size, train_projections, seed); another phase's partial state
/// is ignored.
LoopCheckpoints phase_checkpoints(const config::Recipe& recipe, const PhaseIdentity& phase,
                                  const std::filesystem::path& file,
                                  const std::function<bool()>& stop);

}  // namespace dsla::distill
