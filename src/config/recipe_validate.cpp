// Validation of a decoded recipe: every setting's own check, then the rules across settings; every
// problem is reported, not just the first.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>

#include "config/recipe.h"
#include "config/recipe_sections.h"

namespace fs = std::filesystem;

namespace dsla::config {
namespace {

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
  for_each_section(r, [&](const char* name, const auto& section, const auto& table) {
    if (std::string(name) != "dsla") check_settings(table, section, name, e);
  });
  for (auto& problem : model::check_dsla_settings(r.dsla)) e.push_back(std::move(problem));
  if (r.distill.order == OrderKind::list && r.distill.layers.empty()) {
    e.push_back("distill.layers: required when distill.order is 'list'");
  }
  const auto& weights = r.data.train_weights;
  if (!weights.empty() && weights.size() != r.data.train_files.size()) {
    e.push_back(fmt::format("data.train_weights: {} weights for {} train files", weights.size(),
                            r.data.train_files.size()));
  }
  for (double w : weights) {
    if (!(w > 0 && std::isfinite(w))) {
      e.push_back(fmt::format("data.train_weights: {} is not a positive weight", w));
    }
  }
  if (r.distill.e2e_steps > 0 && r.distill.check_every > 0 && r.data.holdout_fraction <= 0) {
    e.push_back(
        "distill.check_every: the held-out checks read the train files' held-out tails; set "
        "data.holdout_fraction > 0 or check_every: 0");
  }
  if (r.distill.extra_steps > 0 && r.distill.transfer != TransferKind::parallel) {
    e.push_back("distill.extra_steps: the extra transfer phase needs distill.transfer: parallel");
  }
  for (int64_t layer : r.distill.extra_layers) {
    if (layer < 0) e.push_back(fmt::format("distill.extra_layers: {} is not a layer index", layer));
  }
  if (files) check_files(r, e);
  return e;
}

std::vector<std::string> differing_recipe_settings(const Recipe& a, const Recipe& b) {
  std::vector<std::string> out;
  auto add = [&](const char* section, const std::vector<std::string>& keys) {
    for (const auto& key : keys) out.push_back(fmt::format("{}.{}", section, key));
  };
  add("model", differing_settings(model_settings_table(), a.model, b.model));
  add("data", differing_settings(data_settings_table(), a.data, b.data));
  add("dsla", differing_settings(model::dsla_settings_table(), a.dsla, b.dsla));
  add("profile", differing_settings(profile_settings_table(), a.profile, b.profile));
  add("distill", differing_settings(distill_settings_table(), a.distill, b.distill));
  add("run", differing_settings(run_settings_table(), a.run, b.run));
  return out;
}

}  // namespace dsla::config
