// The human-readable summary of a distillation run: report.md with a per-stage table and a PNG
// of perplexity against the number of converted layers.
#pragma once

#include <string>

#include "config/recipe.h"
#include "run/run_directory.h"

namespace dsla::distill {

/// The per-stage table (markdown).
std::string stage_table(const run::RunProgress& progress, int64_t num_layers);

/// Writes report.md and, when gnuplot is available, perplexity.png into the run directory.
void write_report(const run::RunDirectory& dir, const run::RunProgress& progress,
                  const config::Recipe& recipe);

}  // namespace dsla::distill
