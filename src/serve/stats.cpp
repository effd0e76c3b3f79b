// Implementation of the serving statistics and their Prometheus exposition.
#include "serve/stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace dsla::serve {
namespace {

constexpr auto kWindow = std::chrono::seconds(60);
constexpr auto kRateWindow = std::chrono::seconds(10);

/// quantile() with 0 for no samples (what the metrics show before the first request).
double quantile_or_zero(const std::vector<double>& v, double q) {
  double x = quantile(v, q);
  return std::isnan(x) ? 0 : x;
}

}  // namespace

void StatsRecorder::trim(std::deque<Sample>& d) const {
  auto cutoff = Clock::now() - kWindow;
  while (!d.empty() && d.front().at < cutoff) d.pop_front();
}

LatencySummary StatsRecorder::summarise(const std::deque<Sample>& d) {
  LatencySummary s;
  std::vector<double> v;
  for (const auto& x : d) v.push_back(x.value);
  s.count = static_cast<int64_t>(v.size());
  if (v.empty()) return s;
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  s.p50 = quantile_or_zero(v, 0.5);
  s.p90 = quantile_or_zero(v, 0.9);
  s.p99 = quantile_or_zero(v, 0.99);
  return s;
}

void StatsRecorder::token(double gap_ms) {
  std::lock_guard<std::mutex> l(mutex_);
  ++generated_;
  tpot_.push_back({Clock::now(), gap_ms});
  trim(tpot_);
}

void StatsRecorder::first_token(double ttft_ms, int64_t prompt_tokens) {
  std::lock_guard<std::mutex> l(mutex_);
  ++generated_;
  prompt_tokens_ += prompt_tokens;
  ttft_.push_back({Clock::now(), ttft_ms});
  trim(ttft_);
}

void StatsRecorder::finished(const std::string& reason, double e2e_ms) {
  std::lock_guard<std::mutex> l(mutex_);
  ++finished_[reason];
  e2e_.push_back({Clock::now(), e2e_ms});
  trim(e2e_);
}

double StatsRecorder::p99_tpot_ms() const {
  std::lock_guard<std::mutex> l(mutex_);
  trim(tpot_);
  std::vector<double> v;
  for (const auto& x : tpot_) v.push_back(x.value);
  return quantile_or_zero(v, 0.99);
}

void StatsRecorder::fill(EngineStats& out) const {
  std::lock_guard<std::mutex> l(mutex_);
  trim(ttft_);
  trim(tpot_);
  trim(e2e_);
  out.prompt_tokens_total = prompt_tokens_;
  out.generated_tokens_total = generated_;
  out.finished_total = finished_;
  out.depth_changes_total = depth_changes_;
  out.ttft_ms = summarise(ttft_);
  out.tpot_ms = summarise(tpot_);
  out.e2e_ms = summarise(e2e_);
  auto cutoff = Clock::now() - kRateWindow;
  int64_t recent =
      std::count_if(tpot_.begin(), tpot_.end(), [&](const Sample& s) { return s.at >= cutoff; });
  recent +=
      std::count_if(ttft_.begin(), ttft_.end(), [&](const Sample& s) { return s.at >= cutoff; });
  out.tokens_per_second =
      static_cast<double>(recent) / std::chrono::duration<double>(kRateWindow).count();
}

std::string prometheus_text(const EngineStats& s) {
  std::string t;
  auto summary = [&](const char* name, const char* help, const LatencySummary& l) {
    t += fmt::format("# HELP dsla_{0} {1} (last 60 s)\n# TYPE dsla_{0} summary\n", name, help);
    for (auto [q, v] : {std::pair{"0.5", l.p50}, {"0.9", l.p90}, {"0.99", l.p99}}) {
      t += fmt::format("dsla_{}{{quantile=\"{}\"}} {}\n", name, q, v / 1000.0);
    }
    t += fmt::format("dsla_{}_sum {}\ndsla_{}_count {}\n", name,
                     l.mean * static_cast<double>(l.count) / 1000.0, name, l.count);
  };
  struct Metric {
    const char *type, *name, *help;
    double value;
  };
  auto d = [](int64_t v) { return static_cast<double>(v); };
  const Metric metrics[] = {
      {"gauge", "queue_requests", "requests waiting for admission", d(s.queued)},
      {"gauge", "prefill_requests", "requests being prefilled", d(s.prefilling)},
      {"gauge", "running_requests", "requests decoding", d(s.running)},
      {"gauge", "depth", "conversion depth given to newly admitted requests", d(s.depth)},
      {"gauge", "depth_ceiling", "deepest depth allowed (model and quality guard)", d(s.ceiling)},
      {"gauge", "cache_bytes", "bytes held by running requests' caches", d(s.cache_bytes)},
      {"gauge", "cache_reserved_bytes", "cache bytes reserved by admitted requests",
       d(s.reserved_bytes)},
      {"gauge", "cache_budget_bytes", "cache budget (0 = none)", d(s.cache_budget_bytes)},
      {"gauge", "generation_tokens_per_second", "generated tokens per second over the last 10 s",
       s.tokens_per_second},
      {"counter", "prompt_tokens_total", "prompt tokens prefilled", d(s.prompt_tokens_total)},
      {"counter", "generation_tokens_total", "tokens generated", d(s.generated_tokens_total)},
      {"counter", "depth_changes_total", "depth changes by the controller",
       d(s.depth_changes_total)},
  };
  for (const Metric& m : metrics) {
    t += fmt::format("# HELP dsla_{1} {2}\n# TYPE dsla_{1} {0}\ndsla_{1} {3}\n", m.type, m.name,
                     m.help, m.value);
  }
  t += "# HELP dsla_requests_finished_total requests finished, by reason\n"
       "# TYPE dsla_requests_finished_total counter\n";
  for (const auto& [reason, n] : s.finished_total) {
    t += fmt::format("dsla_requests_finished_total{{reason=\"{}\"}} {}\n", reason, n);
  }
  t += "# HELP dsla_running_requests_by_depth requests decoding, by their depth\n"
       "# TYPE dsla_running_requests_by_depth gauge\n";
  for (const auto& [depth, n] : s.running_by_depth) {
    t += fmt::format("dsla_running_requests_by_depth{{depth=\"{}\"}} {}\n", depth, n);
  }
  summary("time_to_first_token_seconds", "time to first token", s.ttft_ms);
  summary("time_per_output_token_seconds", "time between a request's tokens", s.tpot_ms);
  summary("request_seconds", "request latency, submission to last token", s.e2e_ms);
  return t;
}

}  // namespace dsla::serve
