// Implementation of the repair phase: one end-to-end fit over all converted layers.
#include "distill/repair_phase.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "dist/group.h"
#include "distill/end_to_end.h"
#include "distill/phase_support.h"
#include "model/export.h"

namespace dsla::distill {

namespace {

/// The repair's AdamW learning rate: repair_lr, else e2e_lr, else lr.
double repair_lr(const config::DistillSection& d) {
  return d.repair_lr > 0 ? d.repair_lr : end_to_end_lr(d);
}

}  // namespace

run::RepairRecord run_repair_phase(model::HybridModel& hybrid, const config::Recipe& r,
                                   const Corpus& corpus, run::RunProgress& progress,
                                   int64_t skip_sequences, dist::Group& group,
                                   run::RunDirectory* dir, const std::function<bool()>& stop) {
  const config::DistillSection& d = r.distill;
  int64_t depth = progress.plan.converted;
  std::vector<int64_t> layers(progress.plan.order.begin(), progress.plan.order.begin() + depth);
  FitOptions o =
      fit_options(r, d.repair_steps, fmt::format("repair of {} layers", depth), r.run.seed + 2000);
  o.group = &group;
  o.lr = repair_lr(d);
  o.check_every = d.check_every;
  o.spike_factor = d.spike_factor;
  // The loop checkpoints only without held-out checks (the loop's keep-best state is not saved).
  LoopCheckpoints checkpoints = phase_checkpoints(
      r, {"repair", layers, d.repair_steps, o.lr},
      dir && d.check_every == 0 ? dir->repair_partial_file() : std::filesystem::path(), stop);
  if (d.check_every == 0) o.checkpoints = &checkpoints;
  int64_t n = d.repair_steps * d.batch_size;
  data::SequenceStream stream = corpus.training_stream(r.data.seq_len, r.run.seed);
  stream.skip(skip_sequences);
  at::Tensor all = next_sequences(stream, n);  // [n, T]
  at::Tensor ids = all.index_select(0, at::tensor(local_items(n, o), at::kLong));
  FitResult fit = fit_end_to_end(hybrid, layers, ids, n, end_to_end_options(r, corpus), o,
                                 phase_step_logger(dir, "repair", depth, -1));
  run::RepairRecord rec;
  rec.depth = depth;
  rec.steps = d.repair_steps;
  rec.first_loss = fit.first_loss;
  rec.final_loss = fit.final_loss;
  if (fit.held_out_first) {
    rec.checks =
        run::HeldOutChecks{*fit.held_out_first, *fit.held_out_best, fit.best_step, fit.rollbacks};
  }
  rec.tokens = fit.tokens;
  rec.seconds = fit.seconds;
  if (!dir) return rec;
  rec.perplexity = evaluate_perplexity(hybrid.model(), corpus, r);
  progress.repair.reset();  // no record names the files while they are rewritten
  dir->save_progress(progress);
  for (int64_t k = 1; k <= depth; ++k) {
    dir->save_repaired_stage(
        k, model::layer_attention_parameters(hybrid.model(), layers[static_cast<size_t>(k - 1)]));
  }
  progress.repair = rec;
  dir->save_progress(progress);
  std::filesystem::remove(dir->repair_partial_file());
  dir->log_metrics({{"event", "repair"}, {"record", to_json(rec)}});
  std::cerr << fmt::format("[distill] repair of {} layers: loss {:.4f} -> {:.4f}{} ({:.1f} s)\n",
                           depth, rec.first_loss, rec.final_loss, ppl_summary(rec.perplexity),
                           rec.seconds);
  return rec;
}

}  // namespace dsla::distill
