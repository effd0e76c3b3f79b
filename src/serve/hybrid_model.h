// A served model with both attention modules of every layer in its conversion order loaded, so it
// runs at any conversion depth without reloading: the teacher (depth 0) up to all trained stages.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "model/llama.h"
#include "tokenizer/tokenizer.h"

namespace dsla::serve {

class HybridModel {
 public:
  /// Loads a `dsla distill` run directory (the teacher plus every completed stage: depths
  /// 0..stages) or a plain or exported HF directory (served at its own depth only: an export keeps
  /// no teacher attention for its converted layers). Throws dsla::Error naming the directory.
  static std::unique_ptr<HybridModel> load(const std::filesystem::path& dir);

  /// The model with its first `depth` layers of the order converted, the rest softmax. Only the
  /// engine thread calls this; switching swaps module pointers, nothing is copied.
  model::LlamaForCausalLMImpl& at_depth(int64_t depth);
  /// The attention module layer `layer` uses at `depth` (whatever depth at_depth set last).
  model::AttentionModule& attention(int64_t depth, int64_t layer);
  int64_t min_depth() const { return min_depth_; }
  int64_t max_depth() const { return static_cast<int64_t>(order_.size()); }
  const std::vector<int64_t>& order() const { return order_; }
  int64_t num_layers() const { return model_->num_layers(); }
  const model::LlamaConfig& config() const { return model_->config(); }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  /// The directory the tokenizer and its config come from.
  const std::filesystem::path& tokenizer_dir() const { return tokenizer_dir_; }
  const std::string& name() const { return name_; }
  /// Cache bytes one sequence of `tokens` tokens holds at `depth` (K/V of softmax layers, the two
  /// fp32 states of converted ones).
  int64_t cache_bytes(int64_t depth, int64_t tokens) const;

 private:
  HybridModel() = default;
  /// Throws unless min_depth() <= depth <= max_depth().
  void check_depth(int64_t depth) const;
  /// The attention module of `layer` at `depth`: converted when the layer's stage comes before it.
  const std::shared_ptr<model::AttentionModule>& module_at(int64_t depth, int64_t layer) const;
  model::LlamaForCausalLM model_{nullptr};
  std::unique_ptr<Tokenizer> tokenizer_;
  std::filesystem::path tokenizer_dir_;
  std::string name_;
  std::vector<int64_t> order_;     ///< layers converted at depth d: order_[0..d-1]
  std::vector<int64_t> stage_of_;  ///< per layer: its index in order_, max_depth() if not there
  int64_t min_depth_ = 0;
  int64_t depth_ = -1;  ///< the depth the module pointers are set for
  std::vector<std::shared_ptr<model::AttentionModule>> softmax_, converted_;  ///< per layer
};

}  // namespace dsla::serve
