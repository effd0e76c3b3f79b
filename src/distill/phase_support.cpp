// Implementation of the step logger, end-to-end options and phase checkpoints the phases share.
#include "distill/phase_support.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iostream>

namespace dsla::distill {

std::function<void(const FitStep&)> phase_step_logger(run::RunDirectory* dir, const char* phase,
                                                      int64_t stage, int64_t layer) {
  if (!dir) return nullptr;
  return [dir, phase, stage, layer](const FitStep& s) {
    dir->log_metrics({{"event", "step"},
                      {"phase", phase},
                      {"stage", stage},
                      {"layer", layer},
                      {"step", s.step + 1},
                      {"loss", s.loss},
                      {"main_loss", s.main_loss},
                      {"aux", s.aux},
                      {"lr", s.lr},
                      {"tokens_per_s", s.tokens_per_s},
                      {"allreduce_fraction", s.allreduce_fraction}});
    if (s.held_out) {
      dir->log_metrics({{"event", "check"},
                        {"phase", phase},
                        {"stage", stage},
                        {"layer", layer},
                        {"step", s.step + 1},
                        {"heldout", *s.held_out},
                        {"rolled_back", s.rolled_back}});
    }
  };
}

double end_to_end_lr(const config::DistillSection& d) {
  return d.e2e_lr > 0 ? d.e2e_lr : d.lr;
}

std::string ppl_summary(const std::map<std::string, double>& perplexity) {
  std::string s;
  for (const auto& [name, value] : perplexity) s += fmt::format(" {} ppl {:.3f}", name, value);
  return s;
}

EndToEndOptions end_to_end_options(const config::Recipe& recipe, const Corpus& corpus) {
  const config::DistillSection& d = recipe.distill;
  EndToEndOptions e{{d.ce_weight, d.kd_weight}, std::nullopt, {}};
  if (d.e2e_adapter == config::E2eAdapter::lora) e.lora = LoraOptions{d.lora_rank, d.lora_alpha};
  if (d.check_every > 0)
    e.held_out = corpus.heldout_sequences(recipe.data.seq_len, 2 * d.batch_size);
  return e;
}

LoopCheckpoints phase_checkpoints(const config::Recipe& r, const PhaseIdentity& phase,
                                  const std::filesystem::path& file,
                                  const std::function<bool()>& stop) {
  LoopCheckpoints c;
  c.every = r.distill.checkpoint_every;  // on every rank: the ranks agree on when to stop
  c.stop = stop;
  if (file.empty() || c.every == 0) return c;
  std::map<std::string, std::string> identity = {
      {"phase", phase.name},
      {"layers", fmt::format("{}", fmt::join(phase.layers, " "))},
      {"steps", std::to_string(phase.steps)},
      {"batch_size", std::to_string(r.distill.batch_size)},
      {"lr", fmt::format("{}", phase.lr)},
      {"train_projections", r.distill.train_projections ? "true" : "false"},
      {"seed", std::to_string(r.run.seed)}};
  const std::string& name = phase.name;
  c.save = [file, identity, name](const LoopState& s) {
    save_loop_state(file, s, identity);
    std::cerr << fmt::format("\n[distill] {} checkpointed at step {} ({})\n", name, s.steps_done,
                             file.string());
  };
  if (!std::filesystem::exists(file)) return c;
  auto [state, saved] = load_loop_state(file);
  if (saved != identity) {
    std::cerr << fmt::format(
        "[distill] {}: another phase's state ({}, layers {}); starting afresh\n", file.string(),
        saved.count("phase") ? saved.at("phase") : "?",
        saved.count("layers") ? saved.at("layers") : "?");
    return c;
  }
  std::cerr << fmt::format("[distill] {} resumes at step {} of {} ({})\n", name, state.steps_done,
                           phase.steps, file.string());
  c.resume = std::move(state);
  return c;
}

}  // namespace dsla::distill
