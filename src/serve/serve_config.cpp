// Implementation of the serve settings: the table, reading a file with overrides, the checks.
#include "serve/serve_config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>

#include "config/yaml_file.h"
#include "core/error.h"

namespace dsla::serve {

const SettingsTable<ServeConfig>& serve_settings_table() {
  using Self = ServeConfig;
  static const SettingsTable<Self> table = {DSLA_SERVE_SETTINGS(DSLA_SETTING_ENTRY)};
  return table;
}

std::optional<int64_t> ServeConfig::fixed_depth() const {
  if (depth == "auto") return std::nullopt;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(depth.data(), depth.data() + depth.size(), value);
  DSLA_CHECK(ec == std::errc() && end == depth.data() + depth.size() && value >= 0,
             "depth: '{}' is neither 'auto' nor a depth (an integer >= 0)", depth);
  return value;
}

std::vector<std::string> check_serve_config(const ServeConfig& c) {
  std::vector<std::string> errors;
  check_settings(serve_settings_table(), c, "serve", errors);
  try {
    c.fixed_depth();
  } catch (const Error& e) {
    errors.push_back(std::string("serve.") + e.what());
  }
  if (c.max_depth < -1) errors.push_back("serve.max_depth: must be >= 0, or -1 for the deepest");
  return errors;
}

ControllerConfig controller_config(const ServeConfig& s, const model::HybridModel& model) {
  ControllerConfig c;
  c.min_depth = model.min_depth();
  c.max_depth = s.max_depth >= 0 ? s.max_depth : model.max_depth();
  DSLA_CHECK(c.max_depth >= c.min_depth && c.max_depth <= model.max_depth(),
             "--max-depth {} is outside the model's depths {}..{}", c.max_depth, c.min_depth,
             model.max_depth());
  c.prompt_high = s.prompt_high;
  c.prompt_low = s.prompt_low;
  c.queue_high = s.queue_high;
  c.queue_low = s.queue_low;
  c.cooldown_s = s.cooldown;
  c.step = s.depth_step;
  c.queued_tokens_high = s.queued_tokens_high;
  c.cache_pressure_high = s.cache_pressure_high;
  c.tpot_slo_ms = s.tpot_slo_ms;
  if (!s.quality_eval.empty()) {
    c.quality_max_depth =
        quality_max_depth(s.quality_eval, s.quality_task, s.quality_metric, s.quality_tolerance);
  }
  auto problems = check_controller_config(c);
  DSLA_CHECK(problems.empty(), "{}", fmt::join(problems, "; "));
  return c;
}

EngineOptions engine_options(const ServeConfig& s) {
  EngineOptions o;
  o.max_batch = s.max_batch;
  o.max_context = s.max_context;
  o.cache_budget_bytes = static_cast<int64_t>(s.cache_budget_mb * 1e6);
  o.prefill_chunk = s.prefill_chunk;
  o.decisions_file = s.decisions;
  return o;
}

ServeConfig load_serve_config(const std::optional<std::filesystem::path>& file,
                              const std::vector<std::string>& overrides) {
  std::string source = file ? file->string() : "dsla serve";
  YAML::Node root(YAML::NodeType::Map);
  if (file) {
    root = config::read_yaml_file(*file);
    config::expect_schema(root, *file, config::FileSchema::serve);
    root.remove("schema");
  }
  std::vector<std::string> errors;
  config::apply_overrides(root, overrides, 1, errors);
  ServeConfig c;
  read_settings(serve_settings_table(), config::yaml_to_json(root), c, "serve", errors);
  if (errors.empty()) errors = check_serve_config(c);
  DSLA_CHECK(errors.empty(), "{}: {} problem(s):\n  {}", source, errors.size(),
             fmt::join(errors, "\n  "));
  return c;
}

}  // namespace dsla::serve
