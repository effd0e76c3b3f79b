// Phase 1 of a `distill.transfer: parallel` run: every planned layer's student trained at once on
// fresh sequences of the mixture, or loaded from the run directory's transfer checkpoint.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

#include "config/recipe.h"
#include "distill/builders.h"
#include "distill/parallel_transfer.h"
#include "model/hybrid_model.h"
#include "run/run_directory.h"

namespace dsla::dist {
class Group;
}

namespace dsla::distill {

/// Sequences of the training stream the phase reads (trained on, then held out); the stages'
/// end-to-end phases read from the stream after them.
int64_t transfer_phase_sequences(const config::Recipe& recipe);

/// The phase's students and what it recorded (transfer.json: per layer first/final training loss
/// and held-out relative MSE; per run of the phase its time split and the tokens it read).
struct TransferPhase {
  LayerStudents students;
  nlohmann::json summary;
};

/// Students of `layers` (initialised as convert_layer would, seed run.seed + layer): the ones the
/// run directory's checkpoint holds are loaded, the rest trained now with parallel_transfer on the
/// first steps_per_layer x batch_size sequences of the stream (the teacher at depth 0 of
/// `hybrid`), scored on the next 2 x batch_size, and checkpointed (main rank). Every rank ends
/// with the same students. `dir` is null on the other ranks. Part-way, the loop is checkpointed
/// every distill.checkpoint_every steps (transfer_partial_file(), resumed from when it matches
/// this phase); `stop` is asked after each and throws RunStopped when it says so.
/// With distill.extra_steps, a second phase then trains the layers that fit worst (extra_layers,
/// or the extra_worst of highest held-out MSE) for extra_steps more steps on the sequences after
/// the first phase's and its held-out ones, with a fresh optimizer and schedule; transfer.json
/// records it per layer ("extra") and as a second "phases" entry, so a resumed run skips it.
TransferPhase run_transfer_phase(model::HybridModel& hybrid, const config::Recipe& recipe,
                                 const model::DslaSettings& spec,
                                 const std::vector<int64_t>& layers, const Corpus& corpus,
                                 dist::Group& group, run::RunDirectory* dir,
                                 const std::function<bool()>& stop = nullptr);

/// Makes `student` layer `layer`'s attention module in `model` (the converted layer of a stage).
void install_student(model::LlamaForCausalLMImpl& model, int64_t layer,
                     const std::shared_ptr<model::AttentionModule>& student);

}  // namespace dsla::distill
