// Implementation of loading what dsla serve serves.
#include "serve/served_model.h"

#include "model/export.h"
#include "model/weight_loader.h"
#include "run/open_run.h"

namespace dsla::serve {
namespace fs = std::filesystem;

namespace {

/// An HF or exported directory: its converted layers are all it has (min depth = max depth).
std::unique_ptr<model::HybridModel> load_model_dir(const fs::path& dir, const c10::Device& device) {
  model::LlamaForCausalLM m = model::load_llama(dir);
  m->to(device);
  std::vector<int64_t> order;
  if (auto plan = model::read_conversion_plan(dir)) {
    order.assign(plan->order.begin(), plan->order.begin() + plan->converted);
  }
  std::vector<std::shared_ptr<model::AttentionModule>> own;
  for (int64_t i = 0; i < m->num_layers(); ++i) own.push_back(m->layer(i).attention());
  auto depth = static_cast<int64_t>(order.size());
  return std::make_unique<model::HybridModel>(m, std::move(own), std::move(order), depth);
}

}  // namespace

ServedModel::ServedModel(model::HybridModel&& hybrid, fs::path tokenizer_dir, std::string name)
    : model::HybridModel(std::move(hybrid)),
      tokenizer_(load_tokenizer(tokenizer_dir, model().config().vocab_size)),
      tokenizer_dir_(std::move(tokenizer_dir)),
      name_(std::move(name)) {
  model().eval();
  for (auto& p : model().parameters(true)) p.set_requires_grad(false);
  for (int64_t i = 0; i < num_layers(); ++i) {
    model::AttentionModule& teacher = attention(min_depth(), i);
    teacher.eval();
    for (auto& p : teacher.parameters(true)) p.set_requires_grad(false);
  }
}

std::unique_ptr<ServedModel> ServedModel::load(const fs::path& dir, const c10::Device& device) {
  std::string name = fs::absolute(dir).lexically_normal().filename().string();
  if (run::is_run_directory(dir)) {
    run::Run run = run::open_run(dir);
    auto hybrid = run::load_run_hybrid(run, device);
    return std::unique_ptr<ServedModel>(
        new ServedModel(std::move(*hybrid), run.recipe.model.path, name));
  }
  auto hybrid = load_model_dir(dir, device);
  return std::unique_ptr<ServedModel>(new ServedModel(std::move(*hybrid), dir, name));
}

}  // namespace dsla::serve
