// Typed recipe sections, each declared once as a settings table (name, type, default, check, help),
// their loading with overrides, validation, and the resolved YAML form.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/settings.h"
#include "model/dsla_settings.h"

namespace dsla::config {

// clang-format off
#define DSLA_MODEL_SETTINGS(X)                                                                     \
  X(path, std::string, "", checks::required(), "HF model directory (the teacher)")                \
  X(dtype, Dtype, Dtype::float32, checks::none, "weight dtype: float32 | bfloat16")
// clang-format on
struct ModelSection {
  DSLA_MODEL_SETTINGS(DSLA_SETTING_MEMBER)
};

// clang-format off
#define DSLA_DATA_SETTINGS(X)                                                                      \
  X(train_files, std::vector<std::string>, {}, checks::required("at least one file is required"),  \
    "plain text or JSONL (\"text\" field)")                                                        \
  X(train_weights, std::vector<double>, {}, checks::none,                                          \
    "share of the training sequences per train file; empty = in proportion to their tokens")       \
  X(eval_files, std::vector<std::string>, {}, checks::none, "held-out perplexity after every stage") \
  X(seq_len, int64_t, 256, checks::positive, "tokens per packed training sequence")                \
  X(max_train_tokens, int64_t, 0, checks::non_negative(" (0 = all)"), "training tokens read; 0 = all") \
  X(max_eval_tokens, int64_t, 4096, checks::non_negative(" (0 = all)"),                            \
    "tokens scored per eval file after every stage; 0 = all")                                      \
  X(eval_context, int64_t, 0, checks::non_negative(" (0 = seq_len)"), "perplexity window; 0 = seq_len") \
  X(holdout_fraction, double, 0.0, checks::in_range([](double v) { return v >= 0 && v < 1; }, "[0, 1)"), \
    "tail of each train file kept out of training, evaluated")                                 \
  X(copy_fraction, double, 0.0, checks::in_range([](double v) { return v >= 0 && v <= 1; }, "[0, 1]"), \
    "share of training sequences whose second half repeats the first (retrieval practice)")
// clang-format on
struct DataSection {
  DSLA_DATA_SETTINGS(DSLA_SETTING_MEMBER)
};

/// Layer scores a profile computes (the first orders the conversion).
enum class ProfileMetric { entropy, replace_kl };
DSLA_ENUM_NAMES(ProfileMetric, {ProfileMetric::entropy, "entropy"},
                {ProfileMetric::replace_kl, "replace_kl"})

// clang-format off
#define DSLA_PROFILE_SETTINGS(X)                                                                   \
  X(sequences, int64_t, 32, checks::positive, "calibration sequences")                             \
  X(seq_len, int64_t, 256, checks::positive, "tokens per calibration sequence")                    \
  X(metrics, std::vector<ProfileMetric>, {ProfileMetric::entropy}, checks::required("at least one metric is required"), \
    "entropy | replace_kl; the first orders the conversion")                                       \
  X(fit_steps, int64_t, 20, checks::non_negative(), "attention-transfer steps of the briefly fitted layer (replace_kl)")
// clang-format on
struct ProfileSection {
  DSLA_PROFILE_SETTINGS(DSLA_SETTING_MEMBER)
};

/// How the converted layers get their attention transfer.
enum class TransferKind { chained, parallel };
DSLA_ENUM_NAMES(TransferKind, {TransferKind::chained, "chained"},
                {TransferKind::parallel, "parallel"})

/// What the end-to-end phase trains in each converted layer.
enum class E2eAdapter { lora, full };
DSLA_ENUM_NAMES(E2eAdapter, {E2eAdapter::lora, "lora"}, {E2eAdapter::full, "full"})

/// How the conversion order is chosen.
enum class OrderKind { sensitivity, deepest_first, list };
DSLA_ENUM_NAMES(OrderKind, {OrderKind::sensitivity, "sensitivity"},
                {OrderKind::deepest_first, "deepest_first"}, {OrderKind::list, "list"})

// clang-format off
#define DSLA_DISTILL_SETTINGS(X)                                                                   \
  X(order, OrderKind, OrderKind::sensitivity, checks::none, "sensitivity | deepest_first | list")  \
  X(layers, std::vector<int64_t>, {}, checks::none, "the order when order is list")                \
  X(fraction, double, 1.0, checks::in_range([](double v) { return v > 0 && v <= 1; }, "(0, 1]"),   \
    "share of the layers to convert")                                                              \
  X(transfer, TransferKind, TransferKind::chained, checks::none,                                   \
    "chained: each stage fits its layer on the current student's inputs | parallel: one phase "    \
    "first trains every planned layer at once on the teacher's inputs (one teacher forward a step)") \
  X(steps_per_layer, int64_t, 100, checks::positive, "attention-transfer steps per layer")         \
  X(checkpoint_every, int64_t, 20, checks::non_negative(" (0 = off)"),                             \
    "steps between checkpoints of the parallel transfer phase and of the repair phase without "   \
    "held-out checks (a resumed run continues from the last); 0 = only at its end")                \
  X(extra_steps, int64_t, 0, checks::non_negative(" (0 = off)"),                                  \
    "steps of a second parallel-transfer phase for the layers that fit worst, after the first "     \
    "(fresh sequences, its own schedule); 0 = off")                                               \
  X(extra_layers, std::vector<int64_t>, {}, checks::none,                                         \
    "layers the extra phase trains; empty = the extra_worst planned layers of highest held-out "   \
    "relative MSE after the first phase")                                                         \
  X(extra_worst, int64_t, 4, checks::positive,                                                    \
    "layers the extra phase trains when extra_layers is empty")                                   \
  X(train_projections, bool, true, checks::none,                                                   \
    "train the teacher's q/k/v/o projections with the layer's new parameters; false = keep them")  \
  X(batch_size, int64_t, 4, checks::positive, "sequences per step")                                \
  X(lr, double, 1e-3, checks::positive, "AdamW learning rate")                                     \
  X(gate_separation, double, 0.01, checks::non_negative(), "weight of the cosine term keeping the two gates apart") \
  X(e2e_steps, int64_t, 0, checks::non_negative(), "steps of the optional end-to-end phase (CE + logit distillation)") \
  X(kd_weight, double, 1.0, checks::non_negative(), "weight of KL(teacher || student) in the end-to-end phase") \
  X(ce_weight, double, 0.0, checks::non_negative(), "weight of the next-token cross-entropy in the end-to-end phase") \
  X(e2e_lr, double, 0.0, checks::non_negative(" (0 = distill.lr)"), "AdamW learning rate of the end-to-end phase; 0 = distill.lr") \
  X(e2e_adapter, E2eAdapter, E2eAdapter::lora, checks::none,                                      \
    "lora: the end-to-end phase trains LoRA adapters on q/k/v/o (merged after it) and the layer's " \
    "new parameters | full: every attention parameter (train_projections applies)")               \
  X(lora_rank, int64_t, 8, checks::positive, "rank of the end-to-end phase's LoRA adapters")       \
  X(lora_alpha, double, 16.0, checks::positive, "LoRA scale numerator: updates are alpha / rank x B A") \
  X(repair_steps, int64_t, 0, checks::non_negative(" (0 = off)"),                                 \
    "steps of the repair phase after the last stage: every converted layer trained at once end to " \
    "end (the e2e loss and adapters), kept beside the stages' layers, which smaller depths still "  \
    "use; 0 = off")                                                                               \
  X(repair_lr, double, 0.0, checks::non_negative(" (0 = e2e_lr, else lr)"),                        \
    "AdamW learning rate of the repair phase; 0 = e2e_lr, else lr")                              \
  X(check_every, int64_t, 0, checks::non_negative(" (0 = off)"),                                   \
    "end-to-end steps between held-out KL checks (on the train files' held-out tails); the phase "  \
    "ends on the best-scoring parameters; 0 = off")                                                \
  X(spike_factor, double, 2.0, checks::non_negative(" (0 = off)"),                                 \
    "a held-out check above spike_factor x the best so far rolls back to the best and halves the " \
    "learning rate; 0 = off")                                                                      \
  X(cache_sequences, int64_t, 64, checks::positive, "training sequences whose layer inputs are cached per stage") \
  X(max_grad_norm, double, 1.0, checks::non_negative(" (0 = off)"), "gradient clipping; 0 = off")  \
  X(log_every, int64_t, 10, checks::positive, "steps between JSONL metric lines")                 \
  X(eval_every, int64_t, 1, checks::non_negative(" (0 = the last stage only)"),                    \
    "perplexity after every k-th stage and the last; 0 = the last only")
// clang-format on
struct DistillSection {
  DSLA_DISTILL_SETTINGS(DSLA_SETTING_MEMBER)
};

// clang-format off
#define DSLA_RUN_SETTINGS(X)                                                                       \
  X(dir, std::string, "runs/default", checks::required(), "run directory")                         \
  X(threads, int, 0, checks::non_negative(" (0 = number of cores)"), "intra-op threads; 0 = number of cores") \
  X(seed, uint64_t, 0, checks::none, "random seed")                                                \
  X(device, std::string, "cpu", checks::device(), "device of the models and batches: cpu, cuda or cuda:N")
// clang-format on
struct RunSection {
  DSLA_RUN_SETTINGS(DSLA_SETTING_MEMBER)
};

struct Recipe {
  ModelSection model;
  DataSection data;
  model::DslaSettings dsla;
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

/// Every setting's check and the cross-field rules; `check_files` also requires the model
/// directory and data files to exist. Returns every problem found ("section.key: message"), empty
/// when the recipe is usable.
std::vector<std::string> validate_recipe(const Recipe& recipe, bool check_files);

/// Every setting that differs between two recipes, as "section.key (a's value vs b's)", in file
/// order.
std::vector<std::string> differing_recipe_settings(const Recipe& a, const Recipe& b);

/// The resolved recipe as YAML (written into run directories), with its `schema: distill`.
std::string recipe_to_yaml(const Recipe& recipe);

}  // namespace dsla::config
