// Implementation of the switchable-depth model and its depth scopes.
#include "model/hybrid_model.h"

#include "core/error.h"

namespace dsla::model {

DepthScope::DepthScope(HybridModel& hybrid, int64_t depth) : model_(hybrid.model()) {
  hybrid.check_depth(depth);
  for (int64_t i = 0; i < model_.num_layers(); ++i) {
    previous_.push_back(model_.layer(i).set_attention(hybrid.module_at(depth, i)));
  }
}

DepthScope::~DepthScope() {
  for (int64_t i = 0; i < model_.num_layers(); ++i) {
    model_.layer(i).set_attention(previous_[static_cast<size_t>(i)]);
  }
}

HybridModel::HybridModel(LlamaForCausalLM model,
                         std::vector<std::shared_ptr<AttentionModule>> teacher,
                         std::vector<int64_t> order, int64_t min_depth)
    : model_(std::move(model)), min_depth_(min_depth), teacher_(std::move(teacher)) {
  DSLA_CHECK(static_cast<int64_t>(teacher_.size()) == model_->num_layers(),
             "hybrid model: {} teacher modules for {} layers", teacher_.size(),
             model_->num_layers());
  stage_of_.assign(teacher_.size(), model_->num_layers());
  deepest_.resize(teacher_.size());
  for (int64_t i = 0; i < model_->num_layers(); ++i) {
    converted_.push_back(model_->layer(i).attention());
  }
  for (int64_t layer : order) add_stage(layer);
  DSLA_CHECK(min_depth_ >= 0 && min_depth_ <= max_depth(), "hybrid model: min depth {} > {}",
             min_depth_, max_depth());
}

std::unique_ptr<HybridModel> HybridModel::from_teacher(LlamaForCausalLM model) {
  std::vector<std::shared_ptr<AttentionModule>> teacher;
  for (int64_t i = 0; i < model->num_layers(); ++i) teacher.push_back(model->layer(i).attention());
  return std::make_unique<HybridModel>(std::move(model), std::move(teacher),
                                       std::vector<int64_t>{});
}

void HybridModel::add_stage(int64_t layer) {
  DSLA_CHECK(layer >= 0 && layer < num_layers(), "layer {} is outside [0, {})", layer,
             num_layers());
  auto i = static_cast<size_t>(layer);
  DSLA_CHECK(stage_of_[i] == num_layers(), "layer {} is already converted at stage {}", layer,
             stage_of_[i] + 1);
  for (const auto& module : deepest_) {
    DSLA_CHECK(module == nullptr, "layer {}: no stage can follow the deepest depth's modules",
               layer);
  }
  stage_of_[i] = max_depth();
  order_.push_back(layer);
  converted_[i] = model_->layer(layer).attention();
}

void HybridModel::set_deepest_module(int64_t layer, std::shared_ptr<AttentionModule> module) {
  DSLA_CHECK(
      layer >= 0 && layer < num_layers() && stage_of_[static_cast<size_t>(layer)] < num_layers(),
      "layer {} is not a converted layer", layer);
  DSLA_CHECK(module != nullptr, "layer {}: no module given for the deepest depth", layer);
  deepest_[static_cast<size_t>(layer)] = module;
  model_->layer(layer).set_attention(std::move(module));
}

AttentionModule& HybridModel::attention(int64_t depth, int64_t layer) {
  check_depth(depth);
  DSLA_CHECK(layer >= 0 && layer < num_layers(), "layer {} is outside [0, {})", layer,
             num_layers());
  return *module_at(depth, layer);
}

void HybridModel::check_depth(int64_t depth) const {
  DSLA_CHECK(depth >= min_depth_ && depth <= max_depth(), "depth {} is outside [{}, {}]", depth,
             min_depth_, max_depth());
}

const std::shared_ptr<AttentionModule>& HybridModel::module_at(int64_t depth, int64_t layer) const {
  auto i = static_cast<size_t>(layer);
  if (depth == max_depth() && deepest_[i]) return deepest_[i];
  return stage_of_[i] < depth ? converted_[i] : teacher_[i];
}

int64_t HybridModel::cache_bytes(int64_t depth, int64_t tokens) const {
  int64_t bytes = 0;
  for (int64_t i = 0; i < num_layers(); ++i) {
    bytes += module_at(depth, i)->cache_bytes_per_sequence(tokens);
  }
  return bytes;
}

}  // namespace dsla::model
