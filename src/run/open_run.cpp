// Implementation of opening a run and loading its models.
#include "run/open_run.h"

#include "core/error.h"
#include "model/hf_config.h"
#include "model/weight_loader.h"

namespace dsla::run {
namespace fs = std::filesystem;

bool is_run_directory(const fs::path& dir) {
  return fs::exists(dir / "progress.json");
}

Run open_run(const fs::path& run_dir) {
  RunDirectory dir(run_dir, /*create=*/false);
  DSLA_CHECK(fs::exists(dir.recipe_file()), "{}: missing (is {} a dsla distill run directory?)",
             dir.recipe_file().string(), dir.root().string());
  Run run;
  run.dir = run_dir;
  run.recipe = config::load_recipe(dir.recipe_file());
  model::LlamaConfig config = model::load_llama_config(run.recipe.model.path);
  auto progress = dir.load_progress(config.num_hidden_layers);
  DSLA_CHECK(progress.has_value(), "{}: no completed stages (progress.json missing)",
             dir.root().string());
  run.progress = std::move(*progress);
  return run;
}

RunModel load_run_model(const Run& run, std::optional<int64_t> stage) {
  RunModel out;
  out.recipe = run.recipe;
  out.progress = run.progress;
  int64_t done = out.progress.plan.converted;
  out.stage = stage.value_or(done);
  DSLA_CHECK(out.stage >= 0 && out.stage <= done,
             "{}: stage {} requested, the run has completed stages 0..{}", run.dir.string(),
             out.stage, done);
  out.model = model::load_llama(out.recipe.model.path, out.recipe.model.dtype);
  out.progress.plan.converted = out.stage;
  model::apply_plan(*out.model, out.progress.plan);
  RunDirectory(run.dir, false).load_stages(*out.model, out.progress);
  return out;
}

RunModel load_run_model(const fs::path& dir, std::optional<int64_t> stage) {
  return load_run_model(open_run(dir), stage);
}

std::unique_ptr<model::HybridModel> load_run_hybrid(const Run& run, const c10::Device& device) {
  model::LlamaForCausalLM m = model::load_llama(run.recipe.model.path, run.recipe.model.dtype);
  m->to(device);  // before the plan: converted layers are made on the teacher's device
  std::vector<std::shared_ptr<model::AttentionModule>> teacher;
  for (int64_t i = 0; i < m->num_layers(); ++i) teacher.push_back(m->layer(i).attention());
  model::apply_plan(*m, run.progress.plan);
  RunDirectory(run.dir, false).load_stages(*m, run.progress);
  const auto& order = run.progress.plan.order;
  return std::make_unique<model::HybridModel>(
      m, std::move(teacher),
      std::vector<int64_t>(order.begin(), order.begin() + run.progress.plan.converted));
}

}  // namespace dsla::run
