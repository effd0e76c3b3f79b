// Implementation of the parallel attention-transfer phase: load what the checkpoint holds, train
// the rest at once, score and checkpoint them.
#include "distill/transfer_phase.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/autograd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <set>
#include <string>

#include "core/error.h"
#include "core/seconds.h"
#include "dist/group.h"
#include "distill/phase_support.h"
#include "io/safetensors.h"
#include "model/conversion.h"
#include "model/export.h"
#include "model/weight_loader.h"

namespace dsla::distill {
namespace fs = std::filesystem;
namespace {

/// The students of `layers`, initialised from the teacher's layers as convert_layer would.
LayerStudents initial_students(model::HybridModel& hybrid, const config::Recipe& r,
                               const model::DslaSettings& spec,
                               const std::vector<int64_t>& layers) {
  LayerStudents students;
  const at::Tensor& reference = hybrid.model().model->embed_tokens->weight;
  for (int64_t layer : layers) {
    at::manual_seed(r.run.seed + static_cast<uint64_t>(layer));
    auto s =
        model::make_student_attention(hybrid.attention(0, layer), hybrid.config(), spec, layer);
    s->to(reference.device(), reference.scalar_type());
    s->eval();
    students[layer] = s;
  }
  return students;
}

/// Loads the students the run directory's checkpoint holds; returns {"loaded": [layers],
/// "summary": transfer.json or null}.
nlohmann::json load_checkpointed(run::RunDirectory& dir, LayerStudents& students) {
  nlohmann::json out = {{"loaded", nlohmann::json::array()}, {"summary", nullptr}};
  auto summary = dir.load_transfer_summary();
  if (!summary) return out;
  DSLA_CHECK(summary->contains("layers") && summary->at("layers").is_object(),
             "{}: no \"layers\" object", dir.transfer_summary_file().string());
  io::SafetensorsCollection files(dir.transfer_file());
  torch::NoGradGuard no_grad;
  for (auto& [layer, student] : students) {
    if (!summary->at("layers").contains(std::to_string(layer))) continue;
    std::string prefix = model::layer_attention_prefix(layer);
    auto elsewhere = [&](const std::string& name) { return name.rfind(prefix, 0) != 0; };
    model::load_parameters(*student, files, elsewhere, prefix);
    out["loaded"].push_back(layer);
  }
  out["summary"] = *summary;
  if (out["loaded"].empty()) return out;
  std::cerr << fmt::format("[distill] parallel transfer: {} layer(s) from {}\n",
                           out["loaded"].size(), dir.transfer_file().string());
  return out;
}

/// The tensors of the layers the checkpoint holds besides `students` (an earlier run of the phase
/// for stages already completed); they are written back with the new ones.
std::map<std::string, at::Tensor> earlier_layers(const run::RunDirectory& dir,
                                                 const LayerStudents& students) {
  std::map<std::string, at::Tensor> out;
  if (!fs::exists(dir.transfer_file())) return out;
  io::SafetensorsFile file(dir.transfer_file());
  for (const auto& [name, entry] : file.entries()) {
    bool replaced = false;
    for (const auto& [layer, s] : students) {
      replaced = replaced || name.rfind(model::layer_attention_prefix(layer), 0) == 0;
    }
    if (!replaced) out[name] = file.tensor(name).clone();
  }
  return out;
}

/// metrics.jsonl lines of the phase, with every layer's loss.
std::function<void(const FitStep&)> transfer_logger(run::RunDirectory* dir, const std::string& name,
                                                    const std::vector<int64_t>& layers) {
  if (!dir) return nullptr;
  return [dir, name, layers](const FitStep& s) {
    nlohmann::json losses = nlohmann::json::object();
    for (size_t i = 0; i < layers.size() && i < s.parts.size(); ++i) {
      losses[std::to_string(layers[i])] = s.parts[i];
    }
    dir->log_metrics({{"event", "step"},
                      {"phase", name},
                      {"stage", 0},  // before the stages
                      {"step", s.step + 1},
                      {"loss", s.main_loss},
                      {"layer_losses", losses},
                      {"aux", s.aux},
                      {"lr", s.lr},
                      {"tokens_per_s", s.tokens_per_s}});
  };
}

}  // namespace

int64_t transfer_phase_sequences(const config::Recipe& r) {
  return (r.distill.steps_per_layer + 2 + r.distill.extra_steps) * r.distill.batch_size;
}

namespace {

/// The phases' sequences, in stream order: the first phase's [S, T], the held-out [2B, T] both
/// phases are scored on, the extra phase's [S', T] (undefined when it is off).
struct PhaseSequences {
  at::Tensor train, heldout, extra;
  std::vector<data::SourceUsage> train_usage, extra_usage;
};

PhaseSequences phase_sequences(const Corpus& corpus, const config::Recipe& r) {
  const int64_t batch = r.distill.batch_size;
  data::SequenceStream stream = corpus.training_stream(r.data.seq_len, r.run.seed);
  PhaseSequences p;
  p.train = next_sequences(stream, r.distill.steps_per_layer * batch);
  p.train_usage = stream.usage();
  p.heldout = next_sequences(stream, 2 * batch);
  if (r.distill.extra_steps == 0) return p;
  std::vector<data::SourceUsage> before = stream.usage();
  p.extra = next_sequences(stream, r.distill.extra_steps * batch);
  p.extra_usage = stream.usage();
  for (size_t i = 0; i < p.extra_usage.size() && i < before.size(); ++i) {
    p.extra_usage[i].sequences -= before[i].sequences;  // this phase's share; passes stay totals
    p.extra_usage[i].tokens -= before[i].tokens;
  }
  return p;
}

nlohmann::json sources_json(const std::vector<data::SourceUsage>& usage) {
  nlohmann::json sources = nlohmann::json::array();
  for (const auto& u : usage) {
    sources.push_back(
        {{"name", u.name}, {"sequences", u.sequences}, {"tokens", u.tokens}, {"passes", u.passes}});
  }
  return sources;
}

/// What a phase run needs besides its layers and data.
struct PhaseContext {
  model::HybridModel& hybrid;
  const config::Recipe& r;
  dist::Group& group;
  run::RunDirectory* dir;
  const std::function<bool()>& stop;
};

/// One phase of the transfer: its name, steps, seed and sequences.
struct PhaseRun {
  std::string name;  ///< "parallel_transfer" or "extra_transfer"
  int64_t steps = 0;
  uint64_t seed = 0;
  at::Tensor train;  ///< [steps x batch, T]
  std::vector<data::SourceUsage> usage;
};

/// Trains `todo` (parallel_transfer, checkpointed as phase `run.name`), scores every layer on
/// `heldout` and records it into `summary` on the main rank: a "phases" entry, and per layer the
/// first/final training loss and the held-out MSE (the extra phase keeps the first phase's
/// first_loss and puts what it replaced under "extra"); then checkpoints all of `all`.
nlohmann::json train_phase(const PhaseContext& c, const LayerStudents& todo,
                           const LayerStudents& all, const PhaseRun& run, const at::Tensor& heldout,
                           const nlohmann::json& summary) {
  const int64_t batch = c.r.distill.batch_size;
  bool extra = run.name == "extra_transfer";
  FitOptions o = fit_options(
      c.r, run.steps,
      fmt::format("{} of {} layers", extra ? "extra transfer" : "parallel transfer", todo.size()),
      run.seed);
  o.group = &c.group;
  std::vector<int64_t> layers;
  for (const auto& [layer, s] : todo) layers.push_back(layer);
  LoopCheckpoints checkpoints =
      phase_checkpoints(c.r, {run.name, layers, run.steps, c.r.distill.lr},
                        c.dir ? c.dir->transfer_partial_file() : fs::path(), c.stop);
  o.checkpoints = &checkpoints;
  ParallelTransferResult fit = parallel_transfer(c.hybrid.model(), todo, run.train, o,
                                                 transfer_logger(c.dir, run.name, layers));
  return dist::run_on_main(c.group, fmt::format("scoring and checkpointing {}", run.name), [&] {
    auto start = std::chrono::steady_clock::now();
    std::map<int64_t, double> mse = transfer_mse(c.hybrid.model(), todo, heldout, batch);
    double eval_seconds = seconds_since(start);
    nlohmann::json out = summary;
    for (size_t i = 0; i < fit.layers.size(); ++i) {
      nlohmann::json& entry = out["layers"][std::to_string(fit.layers[i])];
      if (extra) {
        entry["extra"] = {{"steps", run.steps},
                          {"first_loss", fit.first_loss[i]},
                          {"final_loss", fit.final_loss[i]},
                          {"before_final_loss", entry.at("final_loss")},
                          {"before_heldout_mse", entry.at("heldout_mse")}};
      } else {
        entry["first_loss"] = fit.first_loss[i];
      }
      entry["final_loss"] = fit.final_loss[i];
      entry["heldout_mse"] = mse.at(fit.layers[i]);
    }
    out["phases"].push_back({{"name", run.name},
                             {"layers", layers},
                             {"steps", o.steps},
                             {"tokens_per_layer", fit.tokens},
                             {"heldout_sequences", heldout.size(0)},
                             {"seconds", fit.seconds},
                             {"teacher_forward_seconds", fit.teacher_seconds},
                             {"student_seconds", fit.seconds - fit.teacher_seconds},
                             {"heldout_seconds", eval_seconds},
                             {"resumed_at_step", fit.resumed_at},
                             {"sources", sources_json(run.usage)}});
    std::map<std::string, at::Tensor> tensors = earlier_layers(*c.dir, all);
    for (const auto& [layer, s] : all) {
      std::string prefix = model::layer_attention_prefix(layer);
      for (const auto& item : s->named_parameters(true))
        tensors[prefix + item.key()] = item.value();
    }
    c.dir->save_transfer(tensors, out);
    fs::remove(c.dir->transfer_partial_file());
    std::cerr << fmt::format(
        "[distill] {}: {} layers, {} tokens each, {:.0f} s ({:.0f} s teacher forward); held-out "
        "relative MSE per layer:",
        run.name, todo.size(), fit.tokens, fit.seconds, fit.teacher_seconds);
    for (const auto& [layer, value] : mse) std::cerr << fmt::format(" L{} {:.4f}", layer, value);
    std::cerr << "\n";
    return out;
  });
}

/// The students the extra phase trains: distill.extra_layers among `students`, else the
/// extra_worst of them with the highest held-out relative MSE in `summary`; a layer the extra phase
/// has already trained (its "extra" record) is not trained again.
LayerStudents extra_phase_students(const config::DistillSection& d, const LayerStudents& students,
                                   const nlohmann::json& summary) {
  const nlohmann::json& fitted = summary.at("layers");
  std::vector<int64_t> chosen;
  if (!d.extra_layers.empty()) {
    for (int64_t layer : d.extra_layers) {
      if (students.count(layer)) chosen.push_back(layer);
    }
  } else {
    std::vector<std::pair<double, int64_t>> by_mse;  // (held-out MSE, layer)
    for (const auto& [layer, s] : students) {
      by_mse.emplace_back(fitted.at(std::to_string(layer)).at("heldout_mse").get<double>(), layer);
    }
    std::sort(by_mse.rbegin(), by_mse.rend());
    for (size_t i = 0; i < by_mse.size() && static_cast<int64_t>(i) < d.extra_worst; ++i)
      chosen.push_back(by_mse[i].second);
  }
  LayerStudents out;
  for (int64_t layer : chosen) {
    if (!fitted.at(std::to_string(layer)).contains("extra")) out[layer] = students.at(layer);
  }
  return out;
}

}  // namespace

TransferPhase run_transfer_phase(model::HybridModel& hybrid, const config::Recipe& r,
                                 const model::DslaSettings& spec,
                                 const std::vector<int64_t>& layers, const Corpus& corpus,
                                 dist::Group& group, run::RunDirectory* dir,
                                 const std::function<bool()>& stop) {
  for (int64_t layer : r.distill.extra_layers) {  // before an hour of the first phase, not after
    DSLA_CHECK(layer >= 0 && layer < hybrid.model().num_layers(),
               "distill.extra_layers: layer {} is outside the model's [0, {})", layer,
               hybrid.model().num_layers());
  }
  TransferPhase phase{initial_students(hybrid, r, spec, layers), {}};
  nlohmann::json known = dist::run_on_main(group, "reading the transfer checkpoint",
                                           [&] { return load_checkpointed(*dir, phase.students); });
  std::set<int64_t> loaded;
  for (const auto& layer : known["loaded"]) loaded.insert(layer.get<int64_t>());
  if (group.size() > 1) {
    std::vector<at::Tensor> params;
    for (int64_t layer : loaded) {
      for (auto& p : phase.students.at(layer)->parameters(true)) params.push_back(p);
    }
    torch::NoGradGuard no_grad;
    group.broadcast(params, 0, "sharing the checkpointed transfer phase");
  }
  phase.summary = known["summary"].is_null() ? nlohmann::json{{"layers", nlohmann::json::object()},
                                                              {"phases", nlohmann::json::array()}}
                                             : known["summary"];
  LayerStudents todo;
  for (const auto& [layer, s] : phase.students) {
    if (!loaded.count(layer)) todo[layer] = s;
  }
  if (todo.empty() && r.distill.extra_steps == 0) return phase;
  PhaseContext c{hybrid, r, group, dir, stop};
  model::DepthScope teacher_scope = hybrid.at_depth(0);
  PhaseSequences data = phase_sequences(corpus, r);
  if (!todo.empty()) {
    PhaseRun first{"parallel_transfer", r.distill.steps_per_layer, r.run.seed, data.train,
                   data.train_usage};
    phase.summary = train_phase(c, todo, phase.students, first, data.heldout, phase.summary);
  }
  if (r.distill.extra_steps == 0) return phase;
  LayerStudents extra = extra_phase_students(r.distill, phase.students, phase.summary);
  if (extra.empty()) return phase;
  PhaseRun second{"extra_transfer", r.distill.extra_steps, r.run.seed + 1, data.extra,
                  data.extra_usage};
  phase.summary = train_phase(c, extra, phase.students, second, data.heldout, phase.summary);
  return phase;
}

void install_student(model::LlamaForCausalLMImpl& model, int64_t layer,
                     const std::shared_ptr<model::AttentionModule>& student) {
  const at::Tensor& reference = model.model->embed_tokens->weight;
  student->to(reference.device(), reference.scalar_type());
  student->train(model.is_training());
  model.layer(layer).set_attention(student);
}

}  // namespace dsla::distill
