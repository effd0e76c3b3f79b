// The human-readable summary of a distillation run: report.md with a per-stage table and a PNG
// of perplexity against the number of converted layers.
#pragma once

#include <string>

#include "config/recipe.h"
#include "distill/run_state.h"

namespace dsla::distill {

/// The per-stage table (markdown).
std::string stage_table(const RunProgress& progress, int64_t num_layers);

/// Writes report.md and, when gnuplot is available, perplexity.png into the run directory.
void write_report(const RunDirectory& dir, const RunProgress& progress,
                  const config::Recipe& recipe);

}  // namespace dsla::distill
