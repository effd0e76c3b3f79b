// Implementation of the parallel attention-transfer phase: load what the checkpoint holds, train
// the rest at once, score and checkpoint them.
#include "distill/transfer_phase.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/autograd.h>

#include <chrono>
#include <iostream>
#include <set>
#include <string>

#include "core/error.h"
#include "dist/group.h"
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

/// Checkpoints of the phase's loop every distill.checkpoint_every steps into the run directory
/// (main rank; `stop` asked after each), and the state to resume from when the directory holds one
/// of the same phase (the same layers, steps, batch, learning rate and seed); another phase's
/// partial state is ignored.
LoopCheckpoints phase_checkpoints(const config::Recipe& r, const std::vector<int64_t>& layers,
                                  run::RunDirectory* dir, const std::function<bool()>& stop) {
  LoopCheckpoints c;
  c.every = r.distill.checkpoint_every;  // on every rank: the ranks agree on when to stop
  c.stop = stop;
  if (!dir || c.every == 0) return c;
  std::map<std::string, std::string> phase = {
      {"phase", "parallel_transfer"},
      {"layers", fmt::format("{}", fmt::join(layers, " "))},
      {"steps", std::to_string(r.distill.steps_per_layer)},
      {"batch_size", std::to_string(r.distill.batch_size)},
      {"lr", fmt::format("{}", r.distill.lr)},
      {"train_projections", r.distill.train_projections ? "true" : "false"},
      {"seed", std::to_string(r.run.seed)}};
  fs::path file = dir->transfer_partial_file();
  c.save = [file, phase](const LoopState& s) {
    save_loop_state(file, s, phase);
    std::cerr << fmt::format("\n[distill] parallel transfer checkpointed at step {} ({})\n",
                             s.steps_done, file.string());
  };
  if (!fs::exists(file)) return c;
  auto [state, saved] = load_loop_state(file);
  if (saved != phase) {
    std::cerr << fmt::format("[distill] {}: another phase's state (layers {}); starting afresh\n",
                             file.string(), saved.count("layers") ? saved.at("layers") : "?");
    return c;
  }
  std::cerr << fmt::format("[distill] parallel transfer resumes at step {} of {} ({})\n",
                           state.steps_done, r.distill.steps_per_layer, file.string());
  c.resume = std::move(state);
  return c;
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
std::function<void(const FitStep&)> transfer_logger(run::RunDirectory* dir,
                                                    const std::vector<int64_t>& layers) {
  if (!dir) return nullptr;
  return [dir, layers](const FitStep& s) {
    nlohmann::json losses = nlohmann::json::object();
    for (size_t i = 0; i < layers.size() && i < s.parts.size(); ++i) {
      losses[std::to_string(layers[i])] = s.parts[i];
    }
    dir->log_metrics({{"event", "step"},
                      {"phase", "parallel_transfer"},
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
  return (r.distill.steps_per_layer + 2) * r.distill.batch_size;
}

TransferPhase run_transfer_phase(model::HybridModel& hybrid, const config::Recipe& r,
                                 const model::DslaSettings& spec,
                                 const std::vector<int64_t>& layers, const Corpus& corpus,
                                 dist::Group& group, run::RunDirectory* dir,
                                 const std::function<bool()>& stop) {
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
  if (todo.empty()) return phase;

  model::DepthScope teacher_scope = hybrid.at_depth(0);
  const int64_t batch = r.distill.batch_size;
  data::SequenceStream stream = corpus.stream(r.data.seq_len, r.run.seed);
  at::Tensor train = next_sequences(stream, r.distill.steps_per_layer * batch);  // [S, T]
  std::vector<data::SourceUsage> usage = stream.usage();
  at::Tensor heldout = next_sequences(stream, 2 * batch);  // [2B, T], never trained on
  FitOptions o =
      fit_options(r, r.distill.steps_per_layer,
                  fmt::format("parallel transfer of {} layers", todo.size()), r.run.seed);
  o.group = &group;
  std::vector<int64_t> todo_layers;
  for (const auto& [layer, s] : todo) todo_layers.push_back(layer);
  LoopCheckpoints checkpoints = phase_checkpoints(r, todo_layers, dir, stop);
  o.checkpoints = &checkpoints;
  ParallelTransferResult fit =
      parallel_transfer(hybrid.model(), todo, train, o, transfer_logger(dir, todo_layers));
  phase.summary = dist::run_on_main(group, "scoring and checkpointing the transfer phase", [&] {
    auto start = std::chrono::steady_clock::now();
    std::map<int64_t, double> mse = transfer_mse(hybrid.model(), todo, heldout, batch);
    double eval_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    nlohmann::json summary = phase.summary;
    for (size_t i = 0; i < fit.layers.size(); ++i) {
      int64_t layer = fit.layers[i];
      summary["layers"][std::to_string(layer)] = {{"first_loss", fit.first_loss[i]},
                                                  {"final_loss", fit.final_loss[i]},
                                                  {"heldout_mse", mse.at(layer)}};
    }
    nlohmann::json sources = nlohmann::json::array();
    for (const auto& u : usage) {
      sources.push_back({{"name", u.name},
                         {"sequences", u.sequences},
                         {"tokens", u.tokens},
                         {"passes", u.passes}});
    }
    summary["phases"].push_back({{"layers", todo_layers},
                                 {"steps", o.steps},
                                 {"tokens_per_layer", fit.tokens},
                                 {"heldout_sequences", heldout.size(0)},
                                 {"seconds", fit.seconds},
                                 {"teacher_forward_seconds", fit.teacher_seconds},
                                 {"student_seconds", fit.seconds - fit.teacher_seconds},
                                 {"heldout_seconds", eval_seconds},
                                 {"resumed_at_step", fit.resumed_at},
                                 {"sources", sources}});
    std::map<std::string, at::Tensor> tensors = earlier_layers(*dir, phase.students);
    for (const auto& [layer, s] : phase.students) {
      std::string prefix = model::layer_attention_prefix(layer);
      for (const auto& item : s->named_parameters(true))
        tensors[prefix + item.key()] = item.value();
    }
    dir->save_transfer(tensors, summary);
    fs::remove(dir->transfer_partial_file());
    std::cerr << fmt::format(
        "[distill] parallel transfer: {} layers, {} tokens each, {:.0f} s ({:.0f} s teacher "
        "forward); held-out relative MSE per layer:",
        todo.size(), fit.tokens, fit.seconds, fit.teacher_seconds);
    for (const auto& [layer, value] : mse) std::cerr << fmt::format(" L{} {:.4f}", layer, value);
    std::cerr << "\n";
    return summary;
  });
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
