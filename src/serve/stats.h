// Serving statistics: counters, gauges and recent-latency windows the engine records, their
// snapshot, and the Prometheus text exposition of it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/quantile.h"

namespace dsla::serve {

/// Quantiles of recent samples.
struct LatencySummary {
  int64_t count = 0;
  double p50 = 0, p90 = 0, p99 = 0, mean = 0;
};

struct EngineStats {
  int64_t queued = 0, prefilling = 0, running = 0;
  int64_t depth = 0, max_depth = 0, ceiling = 0;
  int64_t cache_bytes = 0, reserved_bytes = 0, cache_budget_bytes = 0;
  int64_t prompt_tokens_total = 0, generated_tokens_total = 0;
  std::map<std::string, int64_t> finished_total;  ///< by finish reason
  std::map<int64_t, int64_t> running_by_depth;
  int64_t depth_changes_total = 0;
  double tokens_per_second = 0;             ///< generated, over the last 10 s
  LatencySummary ttft_ms, tpot_ms, e2e_ms;  ///< over the recent window
};

/// Thread-safe recorder of the per-request and per-token samples (a window of the last 60 s).
class StatsRecorder {
 public:
  void token(double gap_ms);  ///< one generated token, `gap_ms` after the request's previous one
  void first_token(double ttft_ms, int64_t prompt_tokens);
  void finished(const std::string& reason, double e2e_ms);
  void depth_change() {
    std::lock_guard<std::mutex> l(mutex_);
    ++depth_changes_;
  }
  /// Fills the counters and latency fields of `out`.
  void fill(EngineStats& out) const;
  /// 99th percentile of recent TPOT samples (0 when none).
  double p99_tpot_ms() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Sample {
    Clock::time_point at;
    double value;
  };
  void trim(std::deque<Sample>& d) const;
  static LatencySummary summarise(const std::deque<Sample>& d);

  mutable std::mutex mutex_;
  mutable std::deque<Sample> ttft_, tpot_, e2e_;
  int64_t prompt_tokens_ = 0, generated_ = 0, depth_changes_ = 0;
  std::map<std::string, int64_t> finished_;
};

/// The Prometheus text format (version 0.0.4) of a snapshot; metric names start with dsla_.
std::string prometheus_text(const EngineStats& s);

}  // namespace dsla::serve
