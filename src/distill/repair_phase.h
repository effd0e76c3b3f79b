// The repair phase after a run's last stage: every converted layer trained at once, end to end
// (the recipe's e2e loss and adapters), on fresh sequences; kept beside the stages' own layers.
#pragma once

#include "config/recipe.h"
#include "distill/builders.h"
#include "model/hybrid_model.h"
#include "run/run_directory.h"

namespace dsla::dist {
class Group;
}

namespace dsla::distill {

/// Trains every converted layer of `hybrid` (the plan's first plan.converted layers) on every
/// rank, each on its share of distill.repair_steps x batch_size sequences read after the first
/// `skip_sequences` of the training stream. The main rank (`dir` non-null) evaluates the
/// perplexity, writes the repaired stage files, then progress.json with the record (after
/// clearing any older record first, so none ever names a half-written set). Without held-out
/// checks the loop checkpoints every distill.checkpoint_every steps (repair_partial.safetensors,
/// resumed by a later run of the same repair); `stop` is asked after each and throws RunStopped
/// when it says so. Returns the record.
run::RepairRecord run_repair_phase(model::HybridModel& hybrid, const config::Recipe& recipe,
                                   const Corpus& corpus, run::RunProgress& progress,
                                   int64_t skip_sequences, dist::Group& group,
                                   run::RunDirectory* dir,
                                   const std::function<bool()>& stop = nullptr);

}  // namespace dsla::distill
