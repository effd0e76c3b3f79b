// dsla distill: chained conversion of the teacher's layers as a recipe says, stage by stage.
#include <fmt/format.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/model_loading.h"
#include "cli/recipe_options.h"
#include "distill/driver.h"
#include "distill/report.h"

namespace dsla::cli {

int run_distill(int argc, char** argv) {
  cxxopts::Options options(
      "dsla distill",
      "Convert the teacher's layers one at a time (profiling first when the order is by "
      "sensitivity); checkpoints every stage in the run directory.");
  add_recipe_options(options);
  // clang-format off
  options.add_options()
      ("resume", "continue the run in the run directory after its last completed stage")
      ("h,help", "show this help");
  // clang-format on
  auto parsed = parse_or_help(options, argc, argv);
  if (!parsed) return 0;
  config::Recipe r = load_recipe_from_options(*parsed);
  distill::DistillOptions o;
  o.resume = parsed->count("resume") != 0;
  distill::RunProgress progress = distill::run_distill(r, o);
  std::cout << distill::stage_table(progress, progress.num_layers);
  std::cout << fmt::format("run directory: {} (report.md, metrics.jsonl, stages/)\n", r.run.dir);
  return 0;
}

}  // namespace dsla::cli
