// Typed recipe sections (YAML -> structs), their loading with overrides, and cross-field
// validation.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace dsla::config {

struct ModelSection {
  std::string path;               ///< HF model directory (teacher)
  std::string dtype = "float32";  ///< float32 | bfloat16
};

struct DataSection {
  std::vector<std::string> train_files;  ///< plain text or JSONL ("text" field)
  std::vector<std::string> eval_files;   ///< held-out perplexity after every stage
  int64_t seq_len = 256;                 ///< tokens per packed training sequence
  int64_t max_train_tokens = 0;          ///< 0 = all
  int64_t max_eval_tokens = 4096;  ///< tokens scored per eval file after every stage (0 = all)
  int64_t eval_context = 0;        ///< perplexity window; 0 = seq_len
  double holdout_fraction = 0.0;   ///< tail of each train file kept out of training, evaluated
};

struct DslaSection {
  std::string variant =
      "dual";              ///< dual | single (one gated state) | sliding_window (softmax baseline)
  double tau = 16.0;       ///< log-gate = logsigmoid(z) / tau
  int64_t gate_rank = 16;  ///< 0 = full-rank gate projections
  bool per_head_gamma = false;
  bool rope = false;
  bool output_norm = false;
  double history_decay = 0.999;
  double recency_decay = 0.875;
  int64_t chunk_size = 64;
  int64_t window = 0;  ///< sliding_window variant only; 0 = as many cached numbers as dual DSLA
  double single_decay = 0.96;  ///< initial decay of the single state (variant single)
};

struct ProfileSection {
  int64_t sequences = 32;  ///< calibration sequences
  int64_t seq_len = 256;
  std::vector<std::string> metrics = {"entropy"};  ///< entropy | replace_kl; the first orders
  int64_t fit_steps = 20;  ///< attention-transfer steps of the briefly fitted layer (replace_kl)
};

struct DistillSection {
  std::string order = "sensitivity";  ///< sensitivity | deepest_first | list
  std::vector<int64_t> layers;        ///< the order when order == list
  double fraction = 1.0;              ///< share of layers to convert, in (0, 1]
  int64_t steps_per_layer = 100;
  int64_t batch_size = 4;
  double lr = 1e-3;
  double gate_separation = 0.01;  ///< weight of the cosine term keeping the two gates apart
  int64_t e2e_steps = 0;          ///< optional end-to-end stage (CE + logit distillation)
  double kd_weight = 1.0;
  int64_t cache_sequences = 64;  ///< training sequences whose layer inputs are cached per stage
  double max_grad_norm = 1.0;    ///< gradient clipping (0 = off)
  int64_t log_every = 10;        ///< steps between JSONL metric lines
};

struct RunSection {
  std::string dir = "runs/default";
  int threads = 0;  ///< 0 = number of cores
  uint64_t seed = 0;
};

struct Recipe {
  ModelSection model;
  DataSection data;
  DslaSection dsla;
  ProfileSection profile;
  DistillSection distill;
  RunSection run;
};

/// Loads `path`, applies `overrides` ("section.key=value", the value parsed as YAML), decodes every
/// section.
/// `${DSLA_ASSETS}` and `${DSLA_HOME}` in strings are expanded. Throws dsla::Error listing *all*
/// problems (unknown keys with a suggestion, wrong types, bad YAML), naming the file.
Recipe load_recipe(const std::filesystem::path& path,
                   const std::vector<std::string>& overrides = {});

/// Cross-field checks; `check_files` also requires the model directory and data files to exist.
/// Returns every problem found ("section.key: message"), empty when the recipe is usable.
std::vector<std::string> validate_recipe(const Recipe& recipe, bool check_files);

/// The resolved recipe as YAML (written into run directories).
std::string recipe_to_yaml(const Recipe& recipe);

}  // namespace dsla::config
