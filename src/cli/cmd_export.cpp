// dsla export: an HF-style directory of the model after a distillation stage (teacher weights plus
// the converted layers, config.json with a "dsla" section, tokenizer files).
#include <fmt/format.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/model_loading.h"
#include "config/recipe.h"
#include "core/error.h"
#include "io/json_file.h"
#include "model/export.h"
#include "model/weight_loader.h"
#include "run/open_run.h"

namespace dsla::cli {
namespace fs = std::filesystem;

int run_export(int argc, char** argv) {
  cxxopts::Options options("dsla export",
                           "Write the model after a stage of a distillation run as an HF-style "
                           "directory that dsla generate / ppl load.");
  // clang-format off
  options.add_options()
      ("run", "distillation run directory", cxxopts::value<std::string>())
      ("stage", "stage to export (default: the last completed)", cxxopts::value<int64_t>())
      ("o,out", "output directory", cxxopts::value<std::string>())
      ("h,help", "show this help");
  // clang-format on
  auto parsed = parse_or_help(options, argc, argv);
  if (!parsed) return 0;
  const auto& args = *parsed;
  DSLA_CHECK(args.count("run") != 0, "--run is required");
  DSLA_CHECK(args.count("out") != 0, "--out is required");
  fs::path run_dir = args["run"].as<std::string>();
  std::optional<int64_t> stage;
  if (args.count("stage") != 0) stage = args["stage"].as<int64_t>();
  run::RunModel loaded = run::load_run_model(run_dir, stage);
  nlohmann::json extra = {{"run", fs::absolute(run_dir).string()}, {"stage", loaded.stage}};
  fs::path sensitivity = run_dir / "sensitivity.json";
  if (fs::exists(sensitivity)) extra["sensitivity"] = io::read_json_file(sensitivity);
  model::export_model(*loaded.model, loaded.progress.plan, loaded.recipe.model.path,
                      args["out"].as<std::string>(), extra);
  std::cout << fmt::format("exported stage {} ({} of {} layers converted, {}) to {}\n",
                           loaded.stage, loaded.stage, loaded.model->num_layers(),
                           enum_name(loaded.progress.plan.spec.variant),
                           args["out"].as<std::string>());
  return 0;
}

}  // namespace dsla::cli
