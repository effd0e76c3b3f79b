// Implementation of the depth controller's policy and the quality guard.
#include "serve/controller.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "core/error.h"
#include "io/json_file.h"

namespace dsla::serve {

nlohmann::json to_json(const DepthDecision& d) {
  const LoadSignals& s = d.signals;
  return {{"event", "depth"},
          {"time_s", d.time_s},
          {"from", d.from},
          {"to", d.to},
          {"reason", d.reason},
          {"signals",
           {{"queue_size", s.queue_size},
            {"longest_queued_prompt", s.longest_queued_prompt},
            {"queued_tokens", s.queued_tokens},
            {"cache_pressure", s.cache_pressure},
            {"p99_tpot_ms", s.p99_tpot_ms}}}};
}

std::vector<std::string> check_controller_config(const ControllerConfig& c) {
  std::vector<std::string> e;
  if (c.min_depth < 0 || c.max_depth < c.min_depth) {
    e.push_back(fmt::format("depth range {}..{} is empty or negative", c.min_depth, c.max_depth));
  }
  if (c.step < 1) e.push_back(fmt::format("depth step {} must be at least 1", c.step));
  if (c.prompt_low > c.prompt_high || c.queue_low > c.queue_high) {
    e.push_back("the low thresholds must not exceed the high ones");
  }
  if (c.cooldown_s < 0) e.push_back(fmt::format("cooldown {} s must be >= 0", c.cooldown_s));
  return e;
}

DepthController::DepthController(const ControllerConfig& config, int64_t initial)
    : config_(config) {
  auto problems = check_controller_config(config);
  DSLA_CHECK(problems.empty(), "depth controller: {}", fmt::join(problems, "; "));
  depth_ = std::clamp(initial, config.min_depth, ceiling());
}

int64_t DepthController::ceiling() const {
  int64_t top = config_.max_depth;
  if (config_.quality_max_depth) top = std::min(top, *config_.quality_max_depth);
  return std::max(top, config_.min_depth);
}

std::string DepthController::high_reason(const LoadSignals& s) const {
  if (s.longest_queued_prompt > config_.prompt_high) {
    return fmt::format("longest queued prompt {} > {}", s.longest_queued_prompt,
                       config_.prompt_high);
  }
  if (s.queue_size > config_.queue_high) {
    return fmt::format("queue {} > {}", s.queue_size, config_.queue_high);
  }
  if (config_.queued_tokens_high > 0 && s.queued_tokens > config_.queued_tokens_high) {
    return fmt::format("queued tokens {} > {}", s.queued_tokens, config_.queued_tokens_high);
  }
  if (config_.cache_pressure_high > 0 && s.cache_pressure > config_.cache_pressure_high) {
    return fmt::format("cache pressure {:.2f} > {:.2f}", s.cache_pressure,
                       config_.cache_pressure_high);
  }
  if (config_.tpot_slo_ms > 0 && s.p99_tpot_ms > config_.tpot_slo_ms) {
    return fmt::format("p99 TPOT {:.1f} ms > SLO {:.1f} ms", s.p99_tpot_ms, config_.tpot_slo_ms);
  }
  return "";
}

bool DepthController::load_is_low(const LoadSignals& s) const {
  bool low = s.longest_queued_prompt < config_.prompt_low && s.queue_size < config_.queue_low;
  if (config_.queued_tokens_high > 0) low = low && s.queued_tokens < config_.queued_tokens_high / 2;
  if (config_.cache_pressure_high > 0)
    low = low && s.cache_pressure < config_.cache_pressure_high / 2;
  if (config_.tpot_slo_ms > 0) low = low && s.p99_tpot_ms < config_.tpot_slo_ms / 2;
  return low;
}

std::optional<DepthDecision> DepthController::update(const LoadSignals& s) {
  if (config_.fixed || s.time_s - last_change_s_ < config_.cooldown_s) return std::nullopt;
  int64_t to = depth_;
  std::string reason = high_reason(s);
  if (!reason.empty()) {
    to = std::min(ceiling(), depth_ + config_.step);
  } else if (load_is_low(s)) {
    to = std::max(config_.min_depth, depth_ - config_.step);
    reason = "load below the low thresholds";
  }
  if (to == depth_) return std::nullopt;
  DepthDecision d{s.time_s, depth_, to, reason, s};
  depth_ = to;
  last_change_s_ = s.time_s;
  return d;
}

int64_t quality_max_depth(const std::string& eval_json, const std::string& task,
                          const std::string& metric, double tolerance) {
  nlohmann::json j = io::read_json_file(eval_json);
  DSLA_CHECK(j.contains("rows") && j["rows"].is_array(), "{}: no 'rows' (not a dsla eval.json)",
             eval_json);
  std::map<int64_t, double> score;  // converted layers -> metric
  for (const auto& row : j["rows"]) {
    if (row.value("task", "") != task || !row.contains("metrics")) continue;
    const auto& m = row["metrics"];
    DSLA_CHECK(m.contains(metric), "{}: task '{}' has no metric '{}'", eval_json, task, metric);
    score[row.at("converted").get<int64_t>()] = m[metric].get<double>();
  }
  DSLA_CHECK(!score.empty(), "{}: no rows for task '{}'", eval_json, task);
  DSLA_CHECK(score.count(0), "{}: task '{}' has no teacher row (0 converted layers)", eval_json,
             task);
  double floor = score[0] * (1.0 - tolerance);
  int64_t deepest = 0;
  for (const auto& [depth, value] : score) {  // ascending depth: stop at the first failure
    if (value < floor) break;
    deepest = depth;
  }
  return deepest;
}

}  // namespace dsla::serve
