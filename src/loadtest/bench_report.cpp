// Implementation of the bench summary, its files and the depth-over-time plot.
#include "loadtest/bench_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

#include "core/atomic_file.h"
#include "core/quantile.h"
#include "io/json_file.h"
#include "report/plot.h"

namespace dsla::loadtest {
namespace fs = std::filesystem;

namespace {

nlohmann::json quantiles(const std::vector<double>& v) {
  auto num = [](double x) { return std::isnan(x) ? nlohmann::json() : nlohmann::json(x); };
  return {{"p50", num(quantile(v, 0.5))},
          {"p90", num(quantile(v, 0.9))},
          {"p99", num(quantile(v, 0.99))}};
}

nlohmann::json to_json(const RequestOutcome& r) {
  return {{"at_s", r.plan.at_s},
          {"prompt_tokens", r.plan.prompt_tokens},
          {"max_tokens", r.plan.max_tokens},
          {"sent_s", r.sent_s},
          {"first_token_s", r.first_token_s},
          {"done_s", r.done_s},
          {"output_tokens", r.output_tokens},
          {"depth", r.depth},
          {"status", r.status},
          {"finish_reason", r.finish_reason},
          {"error", r.error}};
}

}  // namespace

nlohmann::json summarize(const LoadRun& run, const LoadRecipe& config) {
  std::vector<double> ttft, tpot, e2e, depth;
  int64_t ok = 0, tokens = 0, within_slo = 0;
  for (const auto& r : run.requests) {
    if (!r.ok()) continue;
    ++ok;
    tokens += r.output_tokens;
    ttft.push_back(r.ttft_ms());
    tpot.push_back(r.tpot_ms());
    e2e.push_back((r.done_s - r.sent_s) * 1e3);
    depth.push_back(static_cast<double>(r.depth));
    if (config.slo_tpot_ms > 0 && !(r.tpot_ms() > config.slo_tpot_ms)) ++within_slo;
  }
  double depth_sum = 0, max_depth = 0;
  int64_t samples = 0;
  for (const auto& p : run.timeline) {
    if (p.depth < 0) continue;
    depth_sum += static_cast<double>(p.depth);
    max_depth = std::max(max_depth, static_cast<double>(p.depth));
    ++samples;
  }
  double mean_admitted = 0;
  for (double d : depth) mean_admitted += d / static_cast<double>(depth.size());
  nlohmann::json s = {
      {"requests", run.requests.size()},
      {"completed", ok},
      {"failed", static_cast<int64_t>(run.requests.size()) - ok},
      {"duration_s", run.duration_s},
      {"output_tokens", tokens},
      {"output_tokens_per_s", static_cast<double>(tokens) / std::max(run.duration_s, 1e-9)},
      {"ttft_ms", quantiles(ttft)},
      {"tpot_ms", quantiles(tpot)},
      {"latency_ms", quantiles(e2e)},
      {"mean_depth_over_time", samples ? depth_sum / static_cast<double>(samples) : 0.0},
      {"max_depth_seen", max_depth},
      {"mean_admitted_depth", mean_admitted}};
  if (config.slo_tpot_ms > 0) {
    double p99 = quantile(tpot, 0.99);
    s["slo_tpot_ms"] = config.slo_tpot_ms;
    s["slo_met"] = !std::isnan(p99) && p99 <= config.slo_tpot_ms;
    s["requests_within_slo"] = ok ? static_cast<double>(within_slo) / static_cast<double>(ok) : 0;
  }
  return s;
}

nlohmann::json write_bench_report(const LoadRun& run, const LoadRecipe& config,
                                  const std::string& label, const fs::path& dir) {
  fs::create_directories(dir);
  nlohmann::json s = summarize(run, config);
  s["label"] = label;
  write_text_atomically(dir / "bench.json", io::json_text(s, 2) + "\n");
  std::string requests, timeline;
  for (const auto& r : run.requests) requests += io::json_text(to_json(r)) + "\n";
  for (const auto& p : run.timeline) {
    timeline +=
        nlohmann::json{
            {"t_s", p.t_s}, {"depth", p.depth}, {"running", p.running}, {"queued", p.queued}}
            .dump() +
        "\n";
  }
  write_text_atomically(dir / "requests.jsonl", requests);
  write_text_atomically(dir / "timeline.jsonl", timeline);
  auto q = [&](const char* key, const char* p) {
    const auto& v = s[key][p];
    return v.is_null() ? std::string("-") : fmt::format("{:.0f}", v.get<double>());
  };
  std::ostringstream md;
  md << fmt::format("# dsla bench: {}\n\n", label)
     << "| requests ok/all | output tok/s | TTFT p50 / p99 ms | TPOT p50 / p99 ms | latency p50 / "
        "p99 ms | mean depth (time) | max depth |\n|---|---|---|---|---|---|---|\n"
     << fmt::format("| {}/{} | {:.1f} | {} / {} | {} / {} | {} / {} | {:.1f} | {:.0f} |\n",
                    s["completed"].get<int64_t>(), run.requests.size(),
                    s["output_tokens_per_s"].get<double>(), q("ttft_ms", "p50"),
                    q("ttft_ms", "p99"), q("tpot_ms", "p50"), q("tpot_ms", "p99"),
                    q("latency_ms", "p50"), q("latency_ms", "p99"),
                    s["mean_depth_over_time"].get<double>(), s["max_depth_seen"].get<double>());
  if (s.contains("slo_met")) {
    md << fmt::format(
        "\nTPOT SLO {:.0f} ms (p99 over requests): {}; {:.0f} % of requests within it.\n",
        config.slo_tpot_ms, s["slo_met"].get<bool>() ? "met" : "missed",
        100 * s["requests_within_slo"].get<double>());
  }
  write_text_atomically(dir / "bench.md", md.str());
  if (report::plotting_available() && run.timeline.size() >= 2) {
    report::Series depth{"depth (new requests)", {}, {}}, running{"running requests", {}, {}},
        queued{"queued requests", {}, {}};
    for (const auto& p : run.timeline) {
      for (auto* series : {&depth, &running, &queued}) series->x.push_back(p.t_s);
      depth.y.push_back(static_cast<double>(p.depth));
      running.y.push_back(static_cast<double>(p.running));
      queued.y.push_back(static_cast<double>(p.queued));
    }
    report::line_plot(dir / "depth.png", "dsla bench: " + label, "seconds", "depth / requests",
                      {depth, running, queued});
  }
  return s;
}

}  // namespace dsla::loadtest
