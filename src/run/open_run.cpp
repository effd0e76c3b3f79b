// Implementation of opening a run and loading its models.
#include "run/open_run.h"

#include <torch/autograd.h>

#include "core/error.h"
#include "io/safetensors.h"
#include "model/conversion.h"
#include "model/export.h"
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
  RunDirectory dir(run.dir, false);
  dir.load_stages(*m, run.progress, /*repaired=*/false);  // every depth below a repair's
  const auto& order = run.progress.plan.order;
  int64_t depth = run.progress.plan.converted;
  auto hybrid = std::make_unique<model::HybridModel>(
      m, teacher, std::vector<int64_t>(order.begin(), order.begin() + depth));
  if (run.progress.repaired_at_depth()) {
    torch::NoGradGuard no_grad;
    for (int64_t k = 1; k <= depth; ++k) {
      int64_t layer = order[static_cast<size_t>(k - 1)];
      auto repaired = model::make_student_attention(*teacher[static_cast<size_t>(layer)],
                                                    m->config(), run.progress.plan.spec, layer);
      const at::Tensor& reference = m->model->embed_tokens->weight;
      repaired->to(reference.device(), reference.scalar_type());
      model::load_parameters(*repaired, io::SafetensorsCollection(dir.repaired_stage_file(k)),
                             nullptr, model::layer_attention_prefix(layer));
      repaired->eval();
      hybrid->set_deepest_module(layer, repaired);
    }
  }
  return hybrid;
}

}  // namespace dsla::run
