// Cross-field validation of a decoded recipe; every problem is reported, not just the first.
#include <fmt/format.h>

#include <filesystem>
#include <set>

#include "config/recipe.h"

namespace fs = std::filesystem;

namespace dsla::config {
namespace {

void check_one_of(const std::string& key, const std::string& value,
                  const std::set<std::string>& allowed, std::vector<std::string>& errors) {
  if (allowed.count(value) != 0) return;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  errors.push_back(fmt::format("{}: '{}' is not one of: {}", key, value, list));
}

void check_positive(const std::string& key, double value, std::vector<std::string>& errors) {
  if (!(value > 0)) errors.push_back(fmt::format("{}: must be > 0, got {}", key, value));
}

void check_files(const Recipe& r, std::vector<std::string>& errors) {
  if (!fs::is_regular_file(fs::path(r.model.path) / "config.json")) {
    errors.push_back(fmt::format("model.path: '{}' is not an HF model directory (no config.json)",
                                 r.model.path));
  }
  for (const auto* list : {&r.data.train_files, &r.data.eval_files}) {
    for (const auto& f : *list) {
      if (!fs::is_regular_file(f)) errors.push_back(fmt::format("data: file '{}' not found", f));
    }
  }
}

}  // namespace

std::vector<std::string> validate_recipe(const Recipe& r, bool files) {
  std::vector<std::string> e;
  if (r.model.path.empty()) e.push_back("model.path: required");
  check_one_of("model.dtype", r.model.dtype, {"float32", "bfloat16"}, e);
  if (r.data.train_files.empty()) e.push_back("data.train_files: at least one file is required");
  check_positive("data.seq_len", static_cast<double>(r.data.seq_len), e);
  if (r.data.max_train_tokens < 0) e.push_back("data.max_train_tokens: must be >= 0");
  check_one_of("dsla.variant", r.dsla.variant, {"dual", "single", "sliding_window"}, e);
  check_positive("dsla.tau", r.dsla.tau, e);
  if (r.dsla.gate_rank < 0) e.push_back("dsla.gate_rank: must be >= 0 (0 = full rank)");
  for (auto [key, d] : {std::pair{"dsla.history_decay", r.dsla.history_decay},
                        {"dsla.recency_decay", r.dsla.recency_decay}}) {
    if (!(d > 0 && d < 1)) e.push_back(fmt::format("{}: must be in (0, 1), got {}", key, d));
  }
  if (r.dsla.variant == "dual" && r.dsla.history_decay <= r.dsla.recency_decay) {
    e.push_back(
        "dsla.history_decay: must exceed dsla.recency_decay (the history state decays slower)");
  }
  check_positive("dsla.chunk_size", static_cast<double>(r.dsla.chunk_size), e);
  if (r.dsla.window < 0) e.push_back("dsla.window: must be >= 0 (0 = state-matched)");
  if (!(r.dsla.single_decay > 0 && r.dsla.single_decay < 1)) {
    e.push_back(fmt::format("dsla.single_decay: must be in (0, 1), got {}", r.dsla.single_decay));
  }
  if (r.data.max_eval_tokens < 0) e.push_back("data.max_eval_tokens: must be >= 0");
  if (!(r.data.holdout_fraction >= 0 && r.data.holdout_fraction < 1)) {
    e.push_back(
        fmt::format("data.holdout_fraction: must be in [0, 1), got {}", r.data.holdout_fraction));
  }
  if (r.data.eval_context < 0) e.push_back("data.eval_context: must be >= 0 (0 = seq_len)");
  if (r.profile.fit_steps < 0) e.push_back("profile.fit_steps: must be >= 0");
  check_positive("distill.cache_sequences", static_cast<double>(r.distill.cache_sequences), e);
  if (r.distill.max_grad_norm < 0) e.push_back("distill.max_grad_norm: must be >= 0");
  check_positive("distill.log_every", static_cast<double>(r.distill.log_every), e);
  check_positive("profile.sequences", static_cast<double>(r.profile.sequences), e);
  check_positive("profile.seq_len", static_cast<double>(r.profile.seq_len), e);
  for (const auto& m : r.profile.metrics)
    check_one_of("profile.metrics", m, {"entropy", "replace_kl"}, e);
  check_one_of("distill.order", r.distill.order, {"sensitivity", "deepest_first", "list"}, e);
  if (r.distill.order == "list" && r.distill.layers.empty()) {
    e.push_back("distill.layers: required when distill.order is 'list'");
  }
  if (!(r.distill.fraction > 0 && r.distill.fraction <= 1)) {
    e.push_back(fmt::format("distill.fraction: must be in (0, 1], got {}", r.distill.fraction));
  }
  check_positive("distill.steps_per_layer", static_cast<double>(r.distill.steps_per_layer), e);
  check_positive("distill.batch_size", static_cast<double>(r.distill.batch_size), e);
  check_positive("distill.lr", r.distill.lr, e);
  if (r.distill.gate_separation < 0) e.push_back("distill.gate_separation: must be >= 0");
  if (r.distill.e2e_steps < 0) e.push_back("distill.e2e_steps: must be >= 0");
  if (r.run.dir.empty()) e.push_back("run.dir: required");
  if (files) check_files(r, e);
  return e;
}

}  // namespace dsla::config
