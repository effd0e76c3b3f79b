// A model that runs at any conversion depth: the teacher's softmax module and the converted module
// of every layer in its conversion order are both kept, and a depth is set only inside a scope.
#pragma once

#include <memory>
#include <vector>

#include "model/llama.h"

namespace dsla::model {

class HybridModel;

/// While it lives, every layer of the model uses its module at one depth; when it ends, the modules
/// in place before it are put back. Swapping sets module pointers; nothing is copied.
class [[nodiscard]] DepthScope {
 public:
  DepthScope(HybridModel& hybrid, int64_t depth);
  ~DepthScope();
  DepthScope(const DepthScope&) = delete;
  DepthScope& operator=(const DepthScope&) = delete;
  LlamaForCausalLMImpl& model() { return model_; }
  LlamaForCausalLMImpl* operator->() { return &model_; }

 private:
  LlamaForCausalLMImpl& model_;
  std::vector<std::shared_ptr<AttentionModule>> previous_;
};

class HybridModel {
 public:
  /// `model` at its deepest state: the layers order[0 .. order.size()) are converted in place.
  /// `teacher[i]` is layer i's softmax module (the model's own module for unconverted layers).
  /// Depths below `min_depth` are refused (an export keeps no teacher modules for its converted
  /// layers).
  HybridModel(LlamaForCausalLM model, std::vector<std::shared_ptr<AttentionModule>> teacher,
              std::vector<int64_t> order, int64_t min_depth = 0);
  /// A model all of whose layers are the teacher's, to be converted stage by stage (add_stage).
  static std::unique_ptr<HybridModel> from_teacher(LlamaForCausalLM model);

  /// Records the module layer `layer` now holds as the next stage's (the layer must be outside the
  /// order and converted in place).
  void add_stage(int64_t layer);

  /// Gives converted layer `layer` another module at the deepest depth only (a run's repair
  /// phase trained all layers together for that depth; smaller depths keep the stages' modules)
  /// and puts it in place. No stage can be added after it.
  void set_deepest_module(int64_t layer, std::shared_ptr<AttentionModule> module);

  /// Sets every layer to its module at `depth` until the scope ends (depth 0: the teacher).
  DepthScope at_depth(int64_t depth) { return DepthScope(*this, depth); }
  /// The model at its deepest state (outside any scope) or the depth a live scope set.
  LlamaForCausalLMImpl& model() { return *model_; }
  /// The attention module layer `layer` uses at `depth`.
  AttentionModule& attention(int64_t depth, int64_t layer);
  int64_t min_depth() const { return min_depth_; }
  int64_t max_depth() const { return static_cast<int64_t>(order_.size()); }
  const std::vector<int64_t>& order() const { return order_; }
  int64_t num_layers() const { return model_->num_layers(); }
  const LlamaConfig& config() const { return model_->config(); }
  /// Cache bytes one sequence of `tokens` tokens holds at `depth` (K/V of softmax layers, the
  /// states of converted ones).
  int64_t cache_bytes(int64_t depth, int64_t tokens) const;

 private:
  friend class DepthScope;
  /// Throws unless min_depth() <= depth <= max_depth().
  void check_depth(int64_t depth) const;
  /// The attention module of `layer` at `depth`: converted when the layer's stage comes before it.
  const std::shared_ptr<AttentionModule>& module_at(int64_t depth, int64_t layer) const;

  LlamaForCausalLM model_{nullptr};
  std::vector<int64_t> order_;     ///< layers converted at depth d: order_[0..d-1]
  std::vector<int64_t> stage_of_;  ///< per layer: its index in order_, num_layers() if not there
  int64_t min_depth_ = 0;
  std::vector<std::shared_ptr<AttentionModule>> teacher_, converted_;  ///< per layer
  std::vector<std::shared_ptr<AttentionModule>> deepest_;  ///< per layer; null = converted_'s
};

}  // namespace dsla::model
