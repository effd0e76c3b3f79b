// Implementation of layer conversion and the JSON form of a conversion plan.
#include "model/conversion.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <set>

#include "core/error.h"
#include "model/sliding_window_attention.h"

namespace dsla::model {

std::vector<int64_t> ConversionPlan::converted_layers() const {
  return {order.begin(), order.begin() + converted};
}

int64_t state_matched_window(const AttentionModule& teacher, const LlamaConfig& config,
                             const DslaSettings& spec, int64_t layer) {
  DslaSettings dual = spec;
  dual.variant = DslaVariant::dual;
  dual.window = 0;
  dual.sinks = 0;
  int64_t state_bytes =
      DslaAttention::from_softmax(teacher, config, dual, layer)->cache_bytes_per_sequence(1);
  int64_t token_bytes =
      SlidingWindowAttention::from_softmax(teacher, config, 1)->cache_bytes_per_sequence(1);
  return std::max<int64_t>(1, state_bytes / token_bytes);
}

std::shared_ptr<AttentionModule> make_student_attention(const AttentionModule& teacher,
                                                        const LlamaConfig& config,
                                                        const DslaSettings& spec, int64_t layer) {
  if (spec.variant == DslaVariant::sliding_window) {
    int64_t window =
        spec.window > 0 ? spec.window : state_matched_window(teacher, config, spec, layer);
    return SlidingWindowAttention::from_softmax(teacher, config, window);
  }
  return DslaAttention::from_softmax(teacher, config, spec, layer);
}

void convert_layer(LlamaForCausalLMImpl& model, int64_t layer, const DslaSettings& spec) {
  DecoderLayerImpl& decoder = model.layer(layer);
  auto student = make_student_attention(*decoder.attention(), model.config(), spec, layer);
  const at::Tensor& reference = model.model->embed_tokens->weight;
  student->to(reference.device(), reference.scalar_type());
  student->train(model.is_training());
  decoder.set_attention(student);
}

ScopedConversion::ScopedConversion(LlamaForCausalLMImpl& model, int64_t layer,
                                   const DslaSettings& spec)
    : layer_(model.layer(layer)), previous_(layer_.attention()) {
  convert_layer(model, layer, spec);
}

ScopedConversion::~ScopedConversion() {
  layer_.set_attention(previous_);
}

void apply_plan(LlamaForCausalLMImpl& model, const ConversionPlan& plan) {
  for (int64_t layer : plan.converted_layers()) convert_layer(model, layer, plan.spec);
}

std::vector<std::string> attention_kinds(LlamaForCausalLMImpl& model) {
  std::vector<std::string> kinds;
  for (int64_t i = 0; i < model.num_layers(); ++i)
    kinds.push_back(model.layer(i).attention()->kind());
  return kinds;
}

nlohmann::json plan_to_json(const ConversionPlan& plan) {
  nlohmann::json j = settings_to_json(dsla_settings_table(), plan.spec);
  j["order"] = plan.order;
  j["converted"] = plan.converted;
  j["converted_layers"] = plan.converted_layers();
  return j;
}

ConversionPlan plan_from_json(const nlohmann::json& j, int64_t num_layers,
                              const std::string& source) {
  DSLA_CHECK(j.is_object(), "{}: the dsla section must be an object", source);
  ConversionPlan plan;
  std::vector<std::string> errors;
  read_stored_settings(dsla_settings_table(), j, plan.spec, "dsla", errors);
  for (auto& e : check_dsla_settings(plan.spec)) errors.push_back(std::move(e));
  DSLA_CHECK(errors.empty(), "{}: {}", source, fmt::join(errors, "; "));
  try {
    plan.order = j.at("order").get<std::vector<int64_t>>();
    plan.converted = j.at("converted").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    DSLA_FAIL("{}: dsla.order / dsla.converted missing or of the wrong type: {}", source, e.what());
  }
  std::set<int64_t> seen;
  for (int64_t layer : plan.order) {
    DSLA_CHECK(layer >= 0 && layer < num_layers, "{}: dsla.order has layer {} outside [0, {})",
               source, layer, num_layers);
    DSLA_CHECK(seen.insert(layer).second, "{}: dsla.order lists layer {} twice", source, layer);
  }
  DSLA_CHECK(plan.converted >= 0 && plan.converted <= static_cast<int64_t>(plan.order.size()),
             "{}: dsla.converted = {} but the order has {} layers", source, plan.converted,
             plan.order.size());
  return plan;
}

}  // namespace dsla::model
