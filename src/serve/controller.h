// The depth controller: which conversion depth newly admitted requests get, from load signals,
// with hysteresis, a cooldown and a quality guard; every decision is logged with its signals.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace dsla::serve {

/// The load the controller sees at one moment.
struct LoadSignals {
  double time_s = 0;                  ///< seconds since the server started
  int64_t queue_size = 0;             ///< requests waiting for admission
  int64_t longest_queued_prompt = 0;  ///< tokens
  int64_t queued_tokens = 0;          ///< prompt tokens waiting
  double cache_pressure = 0;          ///< reserved cache bytes / budget (0 without a budget)
  double p99_tpot_ms = 0;             ///< recent time per output token, 99th percentile
};

struct ControllerConfig {
  int64_t min_depth = 0, max_depth = 0;  ///< the model's range
  /// The deepest depth allowed by quality (from dsla eval results); unset = max_depth.
  std::optional<int64_t> quality_max_depth;
  int64_t step = 1;  ///< layers per change
  // The reference policy: deeper when the longest queued prompt or the queue exceeds these...
  int64_t prompt_high = 1024, queue_high = 8;
  // ...shallower when both fall below these.
  int64_t prompt_low = 256, queue_low = 2;
  double cooldown_s = 5;
  // Optional signals (<= 0: off): deeper above, shallower below half of each.
  int64_t queued_tokens_high = 0;
  double cache_pressure_high = 0;  ///< e.g. 0.8
  double tpot_slo_ms = 0;          ///< p99 time per output token objective
  bool fixed = false;              ///< never change (a fixed-depth server)
};

/// Every problem of `c` (thresholds out of order, a step below 1, an empty depth range).
std::vector<std::string> check_controller_config(const ControllerConfig& c);

struct DepthDecision {
  double time_s = 0;
  int64_t from = 0, to = 0;
  std::string reason;
  LoadSignals signals;
};

nlohmann::json to_json(const DepthDecision& d);

class DepthController {
 public:
  /// Starts at `initial` (clamped to the allowed range). Throws dsla::Error listing the problems
  /// of an invalid config.
  DepthController(const ControllerConfig& config, int64_t initial);
  int64_t depth() const { return depth_; }
  /// The deepest depth the controller may choose.
  int64_t ceiling() const;
  /// Looks at the signals; returns the decision when the depth changes.
  std::optional<DepthDecision> update(const LoadSignals& s);

 private:
  /// Why load is high, or empty.
  std::string high_reason(const LoadSignals& s) const;
  bool load_is_low(const LoadSignals& s) const;

  ControllerConfig config_;
  int64_t depth_;
  double last_change_s_ = -1e300;
};

/// The deepest stage in a `dsla eval` results file (eval.json) whose `metric` on `task` stays
/// within `tolerance` (relative) of the teacher's; errors name the file.
int64_t quality_max_depth(const std::string& eval_json, const std::string& task,
                          const std::string& metric, double tolerance);

}  // namespace dsla::serve
