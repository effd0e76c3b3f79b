// A load-generator recipe for `dsla bench`: arrivals (a Poisson ramp or a trace), prompt and output
// length ranges, the TPOT objective; YAML -> typed config with every error reported at once.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace dsla::loadtest {

struct LengthRange {
  int64_t min = 128, max = 512;  ///< tokens, drawn uniformly
};

struct LoadPhase {
  double rate = 1;      ///< requests per second (Poisson)
  double seconds = 30;  ///< phase length
};

struct LoadRecipe {
  std::string arrivals = "poisson";  ///< poisson | trace
  std::vector<LoadPhase> phases;     ///< poisson: one after the other (a ramp)
  std::string trace;                 ///< trace: JSONL {"t": s, "prompt_tokens": n, "max_tokens": m}
  LengthRange prompt_tokens{128, 512}, max_tokens{16, 64};
  double slo_tpot_ms = 0;  ///< p99 time-per-output-token objective to report against (0 = none)
  double timeout_s = 900;  ///< per request
  uint64_t seed = 0;
};

/// Reads and validates `path`; `overrides` are "key=value" (value parsed as YAML). Throws
/// dsla::Error naming the file and listing every problem.
LoadRecipe read_load_recipe(const std::filesystem::path& path,
                            const std::vector<std::string>& overrides = {});

/// One planned request: when it is sent and how long it is.
struct PlannedRequest {
  double at_s = 0;
  int64_t prompt_tokens = 0, max_tokens = 0;
};

/// The arrivals the config describes, in time order (deterministic for a seed).
std::vector<PlannedRequest> plan_requests(const LoadRecipe& config);

}  // namespace dsla::loadtest
