// dsla export: an HF-style directory of the model after a distillation stage (teacher weights plus
// the converted layers, config.json with a "dsla" section, tokenizer files).
#include <fmt/format.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/model_loading.h"
#include "config/recipe.h"
#include "core/error.h"
#include "distill/builders.h"
#include "distill/run_state.h"
#include "io/hf_config.h"
#include "model/dsla_checkpoint.h"
#include "model/weight_loader.h"

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
  distill::RunDirectory dir(args["run"].as<std::string>(), /*create=*/false);
  fs::path recipe_file = dir.root() / "recipe.yaml";
  DSLA_CHECK(fs::exists(recipe_file), "{}: missing (is {} a dsla distill run directory?)",
             recipe_file.string(), dir.root().string());
  config::Recipe r = config::load_recipe(recipe_file);
  model::LlamaForCausalLM model = model::load_llama(r.model.path, distill::model_dtype(r.model));
  auto progress = dir.load_progress(model->num_layers());
  DSLA_CHECK(progress.has_value(), "{}: no completed stages (progress.json missing)",
             dir.root().string());
  int64_t stage = args.count("stage") != 0 ? args["stage"].as<int64_t>() : progress->plan.converted;
  DSLA_CHECK(stage >= 0 && stage <= progress->plan.converted,
             "--stage {}: the run has completed stages 0..{}", stage, progress->plan.converted);
  progress->plan.converted = stage;
  model::apply_plan(*model, progress->plan);
  dir.load_stages(*model, *progress);
  nlohmann::json extra = {{"run", fs::absolute(dir.root()).string()}, {"stage", stage}};
  fs::path sensitivity = dir.root() / "sensitivity.json";
  if (fs::exists(sensitivity)) extra["sensitivity"] = io::read_json_file(sensitivity);
  model::export_model(*model, progress->plan, r.model.path, args["out"].as<std::string>(), extra);
  std::cout << fmt::format("exported stage {} ({} of {} layers converted, {}) to {}\n", stage,
                           stage, model->num_layers(), progress->plan.spec.variant,
                           args["out"].as<std::string>());
  return 0;
}

}  // namespace dsla::cli
