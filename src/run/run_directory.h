// A distillation run directory: resolved recipe.yaml, per-stage checkpoints, progress.json (the
// commit point of each stage), metrics.jsonl; the one place that reads and writes them.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/recipe.h"
#include "model/conversion.h"

namespace dsla::run {

/// The held-out checks of a stage's end-to-end phase: KL to the teacher before it and at its best
/// (what the stage kept), the step of the best, and rollbacks after loss spikes.
struct HeldOutChecks {
  double first = 0, best = 0;
  int64_t best_step = 0, rollbacks = 0;
};

/// What one completed stage recorded.
struct StageRecord {
  int64_t stage = 0;  ///< 1-based; stage 0 is the unconverted teacher (evaluation only)
  int64_t layer = -1;
  double transfer_first_loss = 0, transfer_final_loss = 0;
  double e2e_final_loss = 0;
  std::optional<HeldOutChecks> e2e_checks;   ///< with distill.check_every
  std::map<std::string, double> perplexity;  ///< eval file name -> perplexity after the stage
  double seconds = 0;
  double tokens_per_s = 0;
  /// Wall seconds by part of the stage ("transfer", "end_to_end", "evaluation", "checkpoint").
  std::map<std::string, double> seconds_by_part;
};

nlohmann::json to_json(const StageRecord& r);
StageRecord stage_from_json(const nlohmann::json& j, const std::string& source);

/// The repair phase after the last stage: every converted layer trained at once, end to end, at
/// depth `depth` (the stages completed then). Its layers are kept beside the stages' own, which
/// every smaller depth still reads.
struct RepairRecord {
  int64_t depth = 0;
  int64_t steps = 0;
  double first_loss = 0, final_loss = 0;
  std::optional<HeldOutChecks> checks;       ///< with distill.check_every
  std::map<std::string, double> perplexity;  ///< eval file name -> perplexity after the repair
  int64_t tokens = 0;
  double seconds = 0;
};

nlohmann::json to_json(const RepairRecord& r);
RepairRecord repair_from_json(const nlohmann::json& j, const std::string& source);

/// progress.json: the plan (variant, options, full order) and the completed stages.
struct RunProgress {
  model::ConversionPlan plan;       ///< plan.converted = completed conversion stages
  int64_t target_stages = 0;        ///< stages this run converts in all
  int64_t num_layers = 0;           ///< layers of the model
  std::string teacher;              ///< absolute path of the teacher model directory
  int64_t seq_len = 0;              ///< training sequence length
  std::vector<StageRecord> stages;  ///< stage 0 (teacher) first when evaluated
  std::optional<RepairRecord> repair;

  /// A repair was recorded at the run's completed depth (its layers are that depth's).
  bool repaired_at_depth() const { return repair && repair->depth == plan.converted; }
};

/// progress.json's content, and back (`source` names the origin in errors; stage files unchecked).
nlohmann::json progress_to_json(const RunProgress& progress);
RunProgress progress_from_json(const nlohmann::json& j, int64_t num_layers,
                               const std::string& source);

class RunDirectory {
 public:
  /// Opens `root`; creates it when `create`, else it must exist.
  explicit RunDirectory(std::filesystem::path root, bool create = true);
  ~RunDirectory();
  RunDirectory(const RunDirectory&) = delete;
  RunDirectory& operator=(const RunDirectory&) = delete;
  const std::filesystem::path& root() const { return root_; }

  /// Takes the directory's writer lock (an flock on `.lock`, released when this object or its
  /// process ends); throws dsla::Error naming the holder's pid when another job writes here.
  void lock_for_writing();
  /// Starts attempt N = 1 + the attempts metrics.jsonl records: logs an "attempt" line with
  /// `details`, and every later line this object logs carries "attempt": N, so the step lines of
  /// an attempt that was killed part-way are told apart from the ones that were kept.
  int64_t start_attempt(nlohmann::json details);
  /// Copies recipe.yaml to recipe_history/recipe.attempt-N.yaml (before a changed recipe
  /// replaces it on a resume with --allow-change).
  void keep_recipe_in_history(int64_t attempt) const;

  std::filesystem::path progress_file() const { return root_ / "progress.json"; }
  std::filesystem::path stage_file(int64_t stage) const;
  std::filesystem::path metrics_file() const { return root_ / "metrics.jsonl"; }
  std::filesystem::path recipe_file() const { return root_ / "recipe.yaml"; }

  /// The progress of an earlier run here, if any. `num_layers` validates the stored plan.
  std::optional<RunProgress> load_progress(int64_t num_layers) const;
  /// Writes the resolved recipe (recipe.yaml) atomically.
  void save_recipe(const config::Recipe& recipe) const;
  /// Writes progress.json atomically (after the stage file it refers to).
  void save_progress(const RunProgress& progress) const;
  /// Writes stage `stage`'s parameters (the newly converted layer's) atomically.
  void save_stage(int64_t stage, const std::map<std::string, at::Tensor>& tensors) const;
  /// Stage `stage`'s layer as the repair phase left it (stages/repaired_NNN.safetensors).
  std::filesystem::path repaired_stage_file(int64_t stage) const;
  /// Writes stage `stage`'s layer after the repair phase atomically.
  void save_repaired_stage(int64_t stage, const std::map<std::string, at::Tensor>& tensors) const;
  /// Loads stage files 1..plan.converted into the model's converted layers (already converted)
  /// through the strict loader: a missing, unexpected or mis-shaped tensor is an error naming the
  /// stage file. With `repaired` and a repair recorded at depth plan.converted, the repaired
  /// files instead.
  void load_stages(model::LlamaForCausalLMImpl& model, const RunProgress& progress,
                   bool repaired = true) const;

  /// The parallel attention-transfer phase's checkpoint: the trained layers' parameters
  /// (transfer.safetensors, HF-style names) and what the phase recorded (transfer.json), written
  /// in that order, each atomically.
  std::filesystem::path transfer_file() const { return root_ / "transfer.safetensors"; }
  std::filesystem::path transfer_summary_file() const { return root_ / "transfer.json"; }
  /// The parallel transfer phase's state part-way (distill.checkpoint_every); removed at its end.
  std::filesystem::path transfer_partial_file() const {
    return root_ / "transfer_partial.safetensors";
  }
  /// The repair phase's state part-way (distill.checkpoint_every); removed at its end.
  std::filesystem::path repair_partial_file() const { return root_ / "repair_partial.safetensors"; }
  void save_transfer(const std::map<std::string, at::Tensor>& tensors,
                     const nlohmann::json& summary) const;
  /// transfer.json's content when both files are there.
  std::optional<nlohmann::json> load_transfer_summary() const;

  /// Appends one JSON line to metrics.jsonl and flushes it.
  void log_metrics(const nlohmann::json& line);

 private:
  std::filesystem::path root_;
  std::ofstream metrics_;
  int lock_fd_ = -1;
  int64_t attempt_ = 0;  ///< 0 = no attempt started (lines carry no attempt number)
};

}  // namespace dsla::run
