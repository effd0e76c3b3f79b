// The load generator behind `dsla bench`: sends planned requests to a running dsla server on
// time (streaming, token-id prompts of the planned lengths), timestamps every chunk, and samples
// the server's depth and queue while it runs.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "loadtest/load_recipe.h"

namespace dsla::loadtest {

struct RequestOutcome {
  PlannedRequest plan;
  double sent_s = 0, first_token_s = -1, done_s = -1;  ///< seconds since the run started
  int64_t output_tokens = 0;
  int64_t depth = -1;  ///< the depth the server admitted it at
  int status = 0;      ///< HTTP status; 0 = no response
  std::string finish_reason, error;

  bool ok() const { return status == 200 && done_s >= 0 && error.empty(); }
  double ttft_ms() const { return (first_token_s - sent_s) * 1e3; }
  /// Mean time between this request's tokens; NaN with fewer than 2 tokens.
  double tpot_ms() const {
    return output_tokens > 1
               ? (done_s - first_token_s) * 1e3 / static_cast<double>(output_tokens - 1)
               : std::nan("");
  }
};

struct TimelinePoint {
  double t_s = 0;
  int64_t depth = 0, running = 0, queued = 0;
};

struct LoadRun {
  std::vector<RequestOutcome> requests;
  std::vector<TimelinePoint> timeline;
  double duration_s = 0;
};

/// Runs `plan` against the server at host:port (its /health gives the vocabulary for prompts).
/// Throws dsla::Error when the server does not answer /health.
LoadRun run_load(const std::string& host, int port, const std::vector<PlannedRequest>& plan,
                 const LoadRecipe& config);

}  // namespace dsla::loadtest
