// Implementation of loading a distillation run's model after a stage.
#include "distill/run_model.h"

#include "core/error.h"
#include "distill/builders.h"
#include "io/hf_config.h"
#include "model/weight_loader.h"

namespace dsla::distill {
namespace fs = std::filesystem;

std::pair<config::Recipe, RunProgress> read_run(const fs::path& run_dir) {
  RunDirectory dir(run_dir, /*create=*/false);
  fs::path recipe_file = dir.root() / "recipe.yaml";
  DSLA_CHECK(fs::exists(recipe_file), "{}: missing (is {} a dsla distill run directory?)",
             recipe_file.string(), dir.root().string());
  config::Recipe recipe = config::load_recipe(recipe_file);
  model::LlamaConfig config = io::load_llama_config(recipe.model.path);
  auto progress = dir.load_progress(config.num_hidden_layers);
  DSLA_CHECK(progress.has_value(), "{}: no completed stages (progress.json missing)",
             dir.root().string());
  return {recipe, *progress};
}

RunModel load_run_model(const fs::path& run_dir, std::optional<int64_t> stage) {
  RunModel out;
  std::tie(out.recipe, out.progress) = read_run(run_dir);
  int64_t done = out.progress.plan.converted;
  out.stage = stage.value_or(done);
  DSLA_CHECK(out.stage >= 0 && out.stage <= done,
             "{}: stage {} requested, the run has completed stages 0..{}", run_dir.string(),
             out.stage, done);
  out.model = model::load_llama(out.recipe.model.path, model_dtype(out.recipe.model));
  out.progress.plan.converted = out.stage;
  model::apply_plan(*out.model, out.progress.plan);
  RunDirectory(run_dir, false).load_stages(*out.model, out.progress);
  return out;
}

}  // namespace dsla::distill
