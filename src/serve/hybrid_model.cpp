// Implementation of loading a run (or an HF directory) with both weight sets, and depth switching.
#include "serve/hybrid_model.h"

#include "core/error.h"
#include "distill/builders.h"
#include "distill/run_model.h"
#include "distill/run_state.h"
#include "model/conversion.h"
#include "model/dsla_checkpoint.h"
#include "model/weight_loader.h"

namespace dsla::serve {
namespace fs = std::filesystem;

std::unique_ptr<HybridModel> HybridModel::load(const fs::path& dir) {
  std::unique_ptr<HybridModel> h(new HybridModel());
  h->name_ = fs::absolute(dir).lexically_normal().filename().string();
  if (fs::exists(dir / "progress.json")) {
    // A run: the teacher's softmax modules are kept before the stages replace them.
    auto [recipe, progress] = distill::read_run(dir);
    h->model_ = model::load_llama(recipe.model.path, distill::model_dtype(recipe.model));
    for (int64_t i = 0; i < h->model_->num_layers(); ++i) {
      h->softmax_.push_back(h->model_->layer(i).attention());
    }
    model::apply_plan(*h->model_, progress.plan);
    distill::RunDirectory(dir, /*create=*/false).load_stages(*h->model_, progress);
    for (int64_t i = 0; i < h->model_->num_layers(); ++i) {
      h->converted_.push_back(h->model_->layer(i).attention());
    }
    h->tokenizer_dir_ = recipe.model.path;
    h->order_.assign(progress.plan.order.begin(),
                     progress.plan.order.begin() + progress.plan.converted);
  } else {
    h->model_ = model::load_llama(dir);
    h->tokenizer_dir_ = dir;
    if (auto plan = model::read_conversion_plan(dir)) {
      h->order_.assign(plan->order.begin(), plan->order.begin() + plan->converted);
    }
    h->min_depth_ = static_cast<int64_t>(h->order_.size());
    for (int64_t i = 0; i < h->model_->num_layers(); ++i) {
      h->softmax_.push_back(h->model_->layer(i).attention());
      h->converted_.push_back(h->model_->layer(i).attention());
    }
  }
  h->model_->eval();
  for (auto& p : h->model_->parameters(true)) p.set_requires_grad(false);
  for (auto& m : h->softmax_) {
    m->eval();
    for (auto& p : m->parameters(true)) p.set_requires_grad(false);
  }
  h->tokenizer_ = load_tokenizer(h->tokenizer_dir_);
  h->stage_of_.assign(static_cast<size_t>(h->num_layers()), h->max_depth());
  for (int64_t k = 0; k < h->max_depth(); ++k) {
    h->stage_of_[static_cast<size_t>(h->order_[static_cast<size_t>(k)])] = k;
  }
  h->at_depth(h->max_depth());
  return h;
}

model::LlamaForCausalLMImpl& HybridModel::at_depth(int64_t depth) {
  check_depth(depth);
  if (depth != depth_) {
    for (int64_t i = 0; i < num_layers(); ++i) model_->layer(i).set_attention(module_at(depth, i));
    depth_ = depth;
  }
  return *model_;
}

model::AttentionModule& HybridModel::attention(int64_t depth, int64_t layer) {
  check_depth(depth);
  DSLA_CHECK(layer >= 0 && layer < num_layers(), "layer {} is outside [0, {})", layer,
             num_layers());
  return *module_at(depth, layer);
}

void HybridModel::check_depth(int64_t depth) const {
  DSLA_CHECK(depth >= min_depth_ && depth <= max_depth(), "depth {} is outside [{}, {}]", depth,
             min_depth_, max_depth());
}

const std::shared_ptr<model::AttentionModule>& HybridModel::module_at(int64_t depth,
                                                                      int64_t layer) const {
  auto i = static_cast<size_t>(layer);
  return stage_of_[i] < depth ? converted_[i] : softmax_[i];
}

int64_t HybridModel::cache_bytes(int64_t depth, int64_t tokens) const {
  int64_t bytes = 0;
  for (int64_t i = 0; i < num_layers(); ++i) {
    bytes += module_at(depth, i)->cache_bytes_per_sequence(tokens);
  }
  return bytes;
}

}  // namespace dsla::serve
