// Evaluation sweeps: every task on every model (the teacher, the stages of a distillation run,
// exports), with per-model predictions, results.jsonl as it goes, and eval.json/.csv/.md plus one
// plot per metric against the number of converted layers.
#pragma once

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/task_runner.h"

namespace dsla::eval {

/// A model to evaluate, loaded only when its turn comes.
struct ModelSpec {
  std::string label;       ///< "teacher", "stage_15", an export's directory name
  int64_t converted = 0;   ///< converted layers
  int64_t num_layers = 0;  ///< layers in all
  std::filesystem::path tokenizer_dir;
  std::function<model::LlamaForCausalLM()> load;
};

struct EvalRow {
  std::string model;
  int64_t converted = 0, num_layers = 0;
  TaskResult result;
};

/// `s` with every character other than letters, digits, '_' and '-' replaced by '_' (task and
/// model labels as file names: "squad_long@4096" -> "squad_long_4096").
std::string file_safe(std::string s);

/// One row as JSON (the lines of results.jsonl and the rows of eval.json).
nlohmann::json eval_row_json(const EvalRow& row);

/// Runs every task on every model in order; predictions go to out_dir/<model>/<task>.jsonl and a
/// line per finished (model, task) to out_dir/results.jsonl.
std::vector<EvalRow> run_sweep(const std::vector<ModelSpec>& models,
                               const std::vector<TaskConfig>& tasks, const EvalSettings& settings,
                               const std::filesystem::path& out_dir);

/// Writes eval.json, eval.csv (one row per model, task and metric), eval.md (a table per task)
/// and plot_<task>_<metric>.png with the teacher (0 converted layers) as a reference line.
void write_sweep_outputs(const std::vector<EvalRow>& rows, const std::filesystem::path& out_dir);

}  // namespace dsla::eval
