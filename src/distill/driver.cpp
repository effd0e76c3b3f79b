// Implementation of the profile and distill jobs.
#include "distill/driver.h"

#include <ATen/ATen.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <iostream>
#include <set>

#include "config/recipe.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/seconds.h"
#include "core/threads.h"
#include "dist/group.h"
#include "distill/end_to_end.h"
#include "distill/phase_support.h"
#include "distill/repair_phase.h"
#include "distill/report.h"
#include "distill/transfer_phase.h"
#include "model/device.h"
#include "model/export.h"
#include "model/weight_loader.h"

namespace dsla::distill {
namespace fs = std::filesystem;

SensitivityReport profile_layers(model::LlamaForCausalLMImpl& model, const config::Recipe& r,
                                 const Corpus& corpus, const fs::path& out_dir) {
  DSLA_CHECK(r.profile.seq_len <= model.config().max_position_embeddings,
             "profile.seq_len {} exceeds the model's {} positions", r.profile.seq_len,
             model.config().max_position_embeddings);
  data::SequenceStream stream = corpus.calibration_stream(r.profile.seq_len, r.run.seed);
  at::Tensor ids = next_sequences(stream, r.profile.sequences);  // [N, T]
  SensitivityReport report;
  for (config::ProfileMetric kind : r.profile.metrics) {
    std::string metric = enum_name(kind);
    report.metrics.push_back(metric);
    if (kind == config::ProfileMetric::entropy) {
      report.scores[metric] = attention_entropy(model, ids, r.distill.batch_size);
    } else {
      int64_t half = std::max<int64_t>(1, ids.size(0) / 2);
      at::Tensor fit = ids.narrow(0, 0, half);
      at::Tensor eval = ids.size(0) > 1 ? ids.narrow(0, half, ids.size(0) - half) : ids;
      FitOptions o = fit_options(r, r.profile.fit_steps, "", r.run.seed);
      report.scores[metric] = replace_kl(model, r.dsla, fit, eval, o);
    }
  }
  report.order = ascending_order(report.scores.at(report.metrics.front()));
  report.calibration = {{"sequences", ids.size(0)},
                        {"seq_len", ids.size(1)},
                        {"files", r.data.train_files},
                        {"query_positions", "all (1 .. seq_len-1)"}};
  write_sensitivity(report, out_dir);
  std::cerr << fmt::format("[profile] order by {} (lowest first): {}\n", report.metrics.front(),
                           fmt::join(report.order, " "));
  return report;
}

namespace {

/// run.device, where a data-parallel job's plain "cuda" gives each rank the GPU of its local rank.
c10::Device run_device(const std::string& spec, int world_size, int local_rank) {
  if (spec == "cuda" && world_size > 1) {
    return model::resolve_device(fmt::format("cuda:{}", local_rank),
                                 "run.device cuda (LOCAL_RANK)");
  }
  return model::resolve_device(spec, "run.device");
}

}  // namespace

std::vector<std::string> recipe_changes(const config::Recipe& recipe,
                                        const run::RunDirectory& dir) {
  if (!fs::exists(dir.progress_file()) || !fs::exists(dir.recipe_file())) return {};
  config::Recipe started = config::load_recipe(dir.recipe_file());
  static const char* const kFree[] = {"run.threads",
                                      "run.dir",
                                      "run.device",
                                      "distill.fraction",
                                      "distill.eval_every",
                                      "distill.log_every",
                                      "distill.checkpoint_every"};
  std::vector<std::string> out;
  for (auto& change : config::differing_recipe_settings(started, recipe)) {
    bool free = false;
    for (const char* key : kFree) free = free || change.rfind(std::string(key) + " ", 0) == 0;
    if (!free) out.push_back(std::move(change));
  }
  return out;
}

namespace {

/// The full conversion order for a fresh run.
std::vector<int64_t> resolve_order(model::LlamaForCausalLMImpl& model, const config::Recipe& r,
                                   const Corpus& corpus, const run::RunDirectory& dir) {
  if (r.distill.order != config::OrderKind::sensitivity)
    return fixed_order(r.distill, model.num_layers());
  fs::path file = dir.root() / "sensitivity.json";
  if (fs::exists(file)) {
    SensitivityReport s = read_sensitivity(file);
    DSLA_CHECK(static_cast<int64_t>(s.order.size()) == model.num_layers(),
               "{}: order has {} layers, the model {}", file.string(), s.order.size(),
               model.num_layers());
    std::cerr << fmt::format("[distill] order from {}\n", file.string());
    return s.order;
  }
  std::cerr << "[distill] no sensitivity.json in the run directory: profiling first\n";
  return profile_layers(model, r, corpus, dir.root()).order;
}

/// Refuses to resume a run with different conversion settings, naming every differing key.
void check_same_spec(const model::DslaSettings& stored, const model::DslaSettings& recipe,
                     const fs::path& source) {
  auto differ = differing_settings(model::dsla_settings_table(), stored, recipe);
  DSLA_CHECK(differ.empty(),
             "{}: the run was started with other dsla settings than the recipe's: {}; use a new "
             "run.dir",
             source.string(), fmt::join(differ, ", "));
}

/// Every layer in range and listed once; `origin` names where the order came from.
void check_order(const std::vector<int64_t>& order, int64_t num_layers, const std::string& origin) {
  std::set<int64_t> seen;
  DSLA_CHECK(!order.empty(), "{}: the conversion order is empty", origin);
  for (int64_t layer : order) {
    DSLA_CHECK(layer >= 0 && layer < num_layers, "{}: layer {} is outside the model's [0, {})",
               origin, layer, num_layers);
    DSLA_CHECK(seen.insert(layer).second, "{}: the order lists layer {} twice", origin, layer);
  }
}

/// Loads or starts the run's progress; refuses to overwrite an earlier run without --resume.
run::RunProgress start_progress(model::LlamaForCausalLMImpl& model, const config::Recipe& r,
                                const Corpus& corpus, const run::RunDirectory& dir, bool resume) {
  if (auto p = dir.load_progress(model.num_layers())) {
    DSLA_CHECK(resume,
               "{} already holds a run with {} completed stage(s): pass --resume to continue it, "
               "or choose another run.dir",
               dir.root().string(), p->plan.converted);
    check_same_spec(p->plan.spec, r.dsla, dir.progress_file());
    DSLA_CHECK(p->teacher == r.model.path && p->seq_len == r.data.seq_len,
               "{}: the run was started on {} with seq_len {}; the recipe says {} with {}; use a "
               "new run.dir",
               dir.progress_file().string(), p->teacher, p->seq_len, r.model.path, r.data.seq_len);
    p->target_stages = std::max(
        p->plan.converted, target_stages(r.distill, static_cast<int64_t>(p->plan.order.size())));
    std::cerr << fmt::format("[distill] resuming after stage {} of {}\n", p->plan.converted,
                             p->target_stages);
    return *p;
  }
  run::RunProgress p;
  p.plan.spec = r.dsla;
  p.plan.order = resolve_order(model, r, corpus, dir);
  check_order(p.plan.order, model.num_layers(),
              r.distill.order == config::OrderKind::sensitivity
                  ? (dir.root() / "sensitivity.json").string()
                  : "distill.layers");
  p.teacher = r.model.path;
  p.seq_len = r.data.seq_len;
  p.target_stages = target_stages(r.distill, static_cast<int64_t>(p.plan.order.size()));
  return p;
}

}  // namespace

namespace {

/// Everything one stage needs besides its index.
struct StageContext {
  const config::Recipe& recipe;
  model::HybridModel& hybrid;  ///< depth 0 is the teacher; its stages grow as layers are trained
  const Corpus& corpus;
  const TransferPhase* transfer;  ///< the parallel transfer phase's layers; null when chained
  dist::Group& group;
  run::RunDirectory* dir;  ///< the main rank's run directory; null on the other ranks
};

std::string utc_now() {
  std::time_t now = std::time(nullptr);
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(now));
}

/// This rank's share of the stage's `n` sequences of the training stream (the ones after the
/// parallel transfer phase's in a parallel run): [local, T].
at::Tensor stage_sequences(StageContext& c, int64_t stage, int64_t n, const FitOptions& o) {
  const config::Recipe& r = c.recipe;
  data::SequenceStream stream = c.corpus.training_stream(r.data.seq_len, r.run.seed);
  stream.skip((c.transfer ? transfer_phase_sequences(r) : 0) + (stage - 1) * n);
  at::Tensor all = next_sequences(stream, n);  // [n, T]
  return all.index_select(0, at::tensor(local_items(n, o), at::kLong));
}

/// Converts stage `stage`'s layer and trains it on every rank, each on its share of the stage's
/// sequences: attention transfer on the current student's inputs (chained), or the parallel
/// phase's trained layer put in place; then the optional end-to-end phase. Returns the record
/// without perplexities.
run::StageRecord train_stage(StageContext& c, run::RunProgress& progress, int64_t stage) {
  const config::Recipe& r = c.recipe;
  int64_t layer = progress.plan.order[static_cast<size_t>(stage - 1)];
  model::LlamaForCausalLMImpl& student = c.hybrid.model();
  int64_t n = r.distill.cache_sequences;
  std::string tag = fmt::format("stage {}/{} L{}", stage, progress.target_stages, layer);
  run::StageRecord rec;
  rec.stage = stage;
  rec.layer = layer;
  int64_t tokens = 0;
  double train_seconds = 0;
  at::Tensor ids;
  if (c.transfer) {
    install_student(student, layer, c.transfer->students.at(layer));
    const nlohmann::json& fitted = c.transfer->summary.at("layers").at(std::to_string(layer));
    rec.transfer_first_loss = fitted.at("first_loss").get<double>();
    rec.transfer_final_loss = fitted.at("final_loss").get<double>();
  } else {
    at::manual_seed(r.run.seed + static_cast<uint64_t>(layer));
    model::convert_layer(student, layer, progress.plan.spec);
    FitOptions transfer = fit_options(r, r.distill.steps_per_layer, tag + " transfer",
                                      r.run.seed + static_cast<uint64_t>(stage));
    transfer.group = &c.group;
    auto start = std::chrono::steady_clock::now();
    ids = stage_sequences(c, stage, n, transfer);
    LayerIO io =
        collect_layer_io(student, layer, c.hybrid.attention(0, layer), ids, r.distill.batch_size);
    io.samples = n;
    rec.seconds_by_part["collect_inputs"] = seconds_since(start);
    FitResult fit =
        fit_attention(*student.layer(layer).attention(), io, student.make_context(0, ids.size(1)),
                      transfer, phase_step_logger(c.dir, "attention_transfer", stage, layer));
    rec.transfer_first_loss = fit.first_loss;
    rec.transfer_final_loss = fit.final_loss;
    rec.seconds_by_part["transfer"] = fit.seconds;
    tokens += fit.tokens;
    train_seconds += fit.seconds;
  }
  if (r.distill.e2e_steps > 0) {
    FitOptions e2e_options = fit_options(r, r.distill.e2e_steps, tag + " e2e",
                                         r.run.seed + 1000 + static_cast<uint64_t>(stage));
    e2e_options.group = &c.group;
    e2e_options.lr = end_to_end_lr(r.distill);
    e2e_options.check_every = r.distill.check_every;
    e2e_options.spike_factor = r.distill.spike_factor;
    // A parallel run's stages read fresh sequences for every step; a chained one reuses the
    // stage's cached sequences.
    if (!ids.defined()) {
      n = r.distill.e2e_steps * r.distill.batch_size;
      ids = stage_sequences(c, stage, n, e2e_options);
    }
    FitResult e2e =
        fit_end_to_end(c.hybrid, {layer}, ids, n, end_to_end_options(r, c.corpus), e2e_options,
                       phase_step_logger(c.dir, "end_to_end", stage, layer));
    rec.e2e_final_loss = e2e.final_loss;
    if (e2e.held_out_first) {
      rec.e2e_checks =
          run::HeldOutChecks{*e2e.held_out_first, *e2e.held_out_best, e2e.best_step, e2e.rollbacks};
    }
    rec.seconds_by_part["end_to_end"] = e2e.seconds;
    tokens += e2e.tokens;
    train_seconds += e2e.seconds;
  }
  rec.tokens_per_s = static_cast<double>(tokens) / std::max(train_seconds, 1e-9);
  c.hybrid.add_stage(layer);
  return rec;
}

/// True when the recipe asks for a repair and the run has none at its final depth yet.
bool repair_pending(const config::Recipe& r, const run::RunProgress& p) {
  return r.distill.repair_steps > 0 && p.plan.converted == p.target_stages &&
         !p.repaired_at_depth();
}

/// Training sequences the transfer phase and `stages` stages may read (an upper bound of
/// stage_sequences' use): the repair reads after them.
int64_t sequences_before_repair(const config::Recipe& r, size_t stages) {
  const config::DistillSection& d = r.distill;
  bool parallel = d.transfer == config::TransferKind::parallel;
  int64_t per_stage = std::max(d.cache_sequences, d.e2e_steps * d.batch_size);
  return (parallel ? transfer_phase_sequences(r) : 0) + static_cast<int64_t>(stages) * per_stage;
}

/// Copies the main rank's trainable attention parameters of every converted layer to the others
/// (the stages it loaded on resume), so no other rank reads the run directory.
void share_converted_layers(dist::Group& group, model::LlamaForCausalLMImpl& model,
                            const run::RunProgress& progress) {
  if (group.size() == 1) return;
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> params;
  for (int64_t k = 1; k <= progress.plan.converted; ++k) {
    for (auto& [name, p] : model::layer_attention_parameters(
             model, progress.plan.order[static_cast<size_t>(k - 1)])) {
      params.push_back(p);
    }
  }
  group.broadcast(params, 0, "sharing the completed stages");
}

}  // namespace

run::RunProgress run_distill(const config::Recipe& recipe, const DistillOptions& options) {
  // Absolute teacher path: recipe.yaml and progress.json stay valid from any working directory.
  config::Recipe r = recipe;
  r.model.path = fs::absolute(r.model.path).lexically_normal().string();
  auto run_start = std::chrono::steady_clock::now();
  auto out_of_time = [&] {
    return options.time_limit_s > 0 && seconds_since(run_start) >= options.time_limit_s;
  };
  dist::Group single;
  dist::Group& group = options.group ? *options.group : single;
  init_threads(options.threads > 0 ? options.threads : r.run.threads);
  model::LlamaForCausalLM model = model::load_llama(r.model.path, r.model.dtype);
  model->to(run_device(r.run.device, group.size(), options.local_rank));
  for (auto& p : model->parameters(true)) p.set_requires_grad(false);
  for (const auto& kind : model::attention_kinds(*model)) {
    DSLA_CHECK(kind == "softmax",
               "{}: model.path must be the unconverted teacher (it has {} layers)", r.model.path,
               kind);
  }
  for (auto [key, len] :
       {std::pair{"data.seq_len", r.data.seq_len}, {"data.eval_context", r.data.eval_context}}) {
    DSLA_CHECK(len <= model->config().max_position_embeddings,
               "{} {} exceeds the model's {} positions", key, len,
               model->config().max_position_embeddings);
  }
  auto tokenizer = load_tokenizer(r.model.path, model->config().vocab_size);
  Corpus corpus = load_corpus(r, *tokenizer);
  auto hybrid = model::HybridModel::from_teacher(model);

  // The main rank owns the run directory: it decides where the run stands (profiling first when
  // needed) and the other ranks take its word.
  std::optional<run::RunDirectory> dir;
  nlohmann::json started = dist::run_on_main(group, "starting the run", [&] {
    dir.emplace(r.run.dir);
    dir->lock_for_writing();
    std::vector<std::string> changes =
        options.resume ? recipe_changes(r, *dir) : std::vector<std::string>{};
    DSLA_CHECK(changes.empty() || options.allow_change,
               "{}: the run was started with other training settings: {}; resume with the same "
               "settings, or pass --allow-change to record the change in the run's history",
               dir->recipe_file().string(), fmt::join(changes, ", "));
    run::RunProgress p = start_progress(*model, r, corpus, *dir, options.resume);
    int64_t attempt = dir->start_attempt({{"resume", options.resume},
                                          {"converted", p.plan.converted},
                                          {"target_stages", p.target_stages},
                                          {"started", utc_now()},
                                          {"recipe_changes", changes}});
    if (!changes.empty()) dir->keep_recipe_in_history(attempt);
    dir->save_recipe(r);
    return run::progress_to_json(p);
  });
  run::RunProgress progress =
      run::progress_from_json(started, model->num_layers(), "rank 0's progress");
  progress.num_layers = model->num_layers();
  for (int64_t k = 1; k <= progress.plan.converted; ++k) {
    int64_t layer = progress.plan.order[static_cast<size_t>(k - 1)];
    model::convert_layer(*model, layer, progress.plan.spec);
    hybrid->add_stage(layer);
  }
  if (dir) dir->load_stages(*model, progress, /*repaired=*/false);  // later stages build on these
  share_converted_layers(group, *model, progress);
  for (auto& p : model->parameters(true)) p.set_requires_grad(false);
  if (progress.stages.empty()) {
    nlohmann::json rec = dist::run_on_main(group, "evaluating the teacher", [&] {
      run::StageRecord teacher_rec;
      teacher_rec.perplexity = evaluate_perplexity(*model, corpus, r);
      progress.stages.push_back(teacher_rec);
      dir->save_progress(progress);
      dir->log_metrics({{"event", "stage"}, {"record", to_json(teacher_rec)}});
      std::cerr << fmt::format("[distill] teacher:{}\n", ppl_summary(teacher_rec.perplexity));
      return to_json(teacher_rec);
    });
    if (!dir) progress.stages.push_back(run::stage_from_json(rec, "rank 0's teacher record"));
  }
  const int64_t converted_at_start = progress.plan.converted;
  std::optional<TransferPhase> transfer;
  if (r.distill.transfer == config::TransferKind::parallel &&
      progress.plan.converted < progress.target_stages) {
    const auto& order = progress.plan.order;
    std::vector<int64_t> planned(order.begin() + progress.plan.converted,
                                 order.begin() + progress.target_stages);
    transfer = run_transfer_phase(*hybrid, r, progress.plan.spec, planned, corpus, group,
                                  dir ? &*dir : nullptr, out_of_time);
  }
  StageContext ctx{
      r, *hybrid, corpus, transfer ? &*transfer : nullptr, group, dir ? &*dir : nullptr};
  for (int64_t k = progress.plan.converted + 1; k <= progress.target_stages; ++k) {
    auto start = std::chrono::steady_clock::now();
    run::StageRecord rec = train_stage(ctx, progress, k);
    nlohmann::json done =
        dist::run_on_main(group, fmt::format("evaluating and checkpointing stage {}", k), [&] {
          auto eval_start = std::chrono::steady_clock::now();
          int64_t every = r.distill.eval_every;
          if (k == progress.target_stages || (every > 0 && k % every == 0)) {
            rec.perplexity = evaluate_perplexity(*model, corpus, r);
            rec.seconds_by_part["evaluation"] = seconds_since(eval_start);
          }
          auto save_start = std::chrono::steady_clock::now();
          dir->save_stage(k, model::layer_attention_parameters(*model, rec.layer));
          rec.seconds_by_part["checkpoint"] = seconds_since(save_start);
          rec.seconds = seconds_since(start);
          progress.plan.converted = k;
          progress.stages.push_back(rec);
          dir->save_progress(progress);
          dir->log_metrics({{"event", "stage"}, {"record", to_json(rec)}});
          std::cerr << fmt::format(
              "[distill] stage {}/{}: layer {} transfer loss {:.4f} -> {:.4f}{} ({:.1f} s)\n", k,
              progress.target_stages, rec.layer, rec.transfer_first_loss, rec.transfer_final_loss,
              ppl_summary(rec.perplexity), rec.seconds);
          return to_json(rec);
        });
    if (!dir) {
      progress.plan.converted = k;
      progress.stages.push_back(run::stage_from_json(done, "rank 0's stage record"));
    }
    if (k < progress.target_stages && main_rank_says(&group, out_of_time())) {
      if (dir) write_report(*dir, progress, r);
      throw RunStopped(fmt::format("stopped after stage {} of {}", k, progress.target_stages));
    }
  }
  if (repair_pending(r, progress)) {
    // Out of time after stages this process ran: stop before the repair (a resume starts it).
    if (progress.plan.converted > converted_at_start && main_rank_says(&group, out_of_time())) {
      if (dir) write_report(*dir, progress, r);
      throw RunStopped(
          fmt::format("stopped after stage {}, before the repair phase", progress.target_stages));
    }
    progress.repair = run_repair_phase(*hybrid, r, corpus, progress,
                                       sequences_before_repair(r, progress.plan.order.size()),
                                       group, dir ? &*dir : nullptr, out_of_time);
  }
  if (dir) write_report(*dir, progress, r);
  return progress;
}

}  // namespace dsla::distill
