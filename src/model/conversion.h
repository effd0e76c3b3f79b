// Converting a teacher's softmax attention layers into student layers (dual-state DSLA,
// single-state GLA or sliding-window softmax), and the JSON form of that choice stored with
// checkpoints.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/dsla_attention.h"
#include "model/llama.h"

namespace dsla::model {

/// The conversion state of a model: the order layers are converted in and how many of them are.
/// Layers order[0 .. converted) are converted; every prefix of the order is a trained model.
struct ConversionPlan {
  DslaSettings spec;
  std::vector<int64_t> order;
  int64_t converted = 0;
  std::vector<int64_t> converted_layers() const;
};

/// The sliding-window baseline's default window: as many cached bytes as the two states of the
/// dual DSLA layer `spec` describes (its feature map and normaliser; window and sinks not counted).
/// For identity features without a normaliser that is H * d / KVH tokens; hedgehog's 2d features
/// and the q.z normaliser's extra column make it 2 H (d + 1) / KVH.
int64_t state_matched_window(const AttentionModule& teacher, const LlamaConfig& config,
                             const DslaSettings& spec, int64_t layer);

/// A student attention module for layer `layer`'s `teacher` (a SoftmaxAttention) with the
/// teacher's projections.
std::shared_ptr<AttentionModule> make_student_attention(const AttentionModule& teacher,
                                                        const LlamaConfig& config,
                                                        const DslaSettings& spec, int64_t layer);

/// Replaces layer `layer`'s attention by a fresh student layer (in the model's dtype and device).
void convert_layer(LlamaForCausalLMImpl& model, int64_t layer, const DslaSettings& spec);

/// Converts layer `layer` (as convert_layer) while it lives; puts the previous module back after.
class [[nodiscard]] ScopedConversion {
 public:
  ScopedConversion(LlamaForCausalLMImpl& model, int64_t layer, const DslaSettings& spec);
  ~ScopedConversion();
  ScopedConversion(const ScopedConversion&) = delete;
  ScopedConversion& operator=(const ScopedConversion&) = delete;

 private:
  DecoderLayerImpl& layer_;
  std::shared_ptr<AttentionModule> previous_;
};

/// Converts plan.converted_layers() in `model`.
void apply_plan(LlamaForCausalLMImpl& model, const ConversionPlan& plan);

/// Kinds of all layers' attention, e.g. {"dsla", "softmax", ...}.
std::vector<std::string> attention_kinds(LlamaForCausalLMImpl& model);

/// The plan as the "dsla" section of a config.json / progress.json: every layer setting, the order
/// and the number converted.
nlohmann::json plan_to_json(const ConversionPlan& plan);
/// Parses the "dsla" section of a config.json; `source` names the file in errors. Every setting
/// must be present and valid, the order a permutation of a subset of [0, num_layers) and
/// converted <= order size; all problems are reported at once.
ConversionPlan plan_from_json(const nlohmann::json& j, int64_t num_layers,
                              const std::string& source);

}  // namespace dsla::model
