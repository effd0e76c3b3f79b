// `dsla bench` results: the summary (throughput, TTFT/TPOT/latency percentiles, SLO attainment,
// depth), and the files beside it: bench.json, requests.jsonl, timeline.jsonl, bench.md and
// depth.png.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "loadtest/load_generator.h"

namespace dsla::loadtest {

/// The run's summary numbers (see bench.md for their meaning).
nlohmann::json summarize(const LoadRun& run, const LoadRecipe& config);

/// Writes the result files into `dir` (created; each file atomically); returns the summary.
nlohmann::json write_bench_report(const LoadRun& run, const LoadRecipe& config,
                                  const std::string& label, const std::filesystem::path& dir);

}  // namespace dsla::loadtest
