// Implementation of layer conversion and the JSON form of a conversion plan.
#include "model/conversion.h"

#include <set>

#include "core/error.h"
#include "model/sliding_window_attention.h"

namespace dsla::model {

std::vector<int64_t> ConversionPlan::converted_layers() const {
  return {order.begin(), order.begin() + converted};
}

std::shared_ptr<AttentionModule> make_student_attention(const AttentionModule& teacher,
                                                        const LlamaConfig& config,
                                                        const ConversionSpec& spec) {
  if (spec.variant == "dual" || spec.variant == "single") {
    DslaAttentionOptions options = spec.dsla;
    options.single_state = spec.variant == "single";
    return DslaAttention::from_softmax(teacher, config, options);
  }
  if (spec.variant == "sliding_window") {
    int64_t window = spec.window > 0 ? spec.window : state_matched_window(config);
    return SlidingWindowAttention::from_softmax(teacher, config, window);
  }
  DSLA_FAIL("unknown conversion variant '{}' (expected dual, single or sliding_window)",
            spec.variant);
}

void convert_layer(LlamaForCausalLMImpl& model, int64_t layer, const ConversionSpec& spec) {
  DecoderLayerImpl& decoder = model.layer(layer);
  auto student = make_student_attention(*decoder.attention(), model.config(), spec);
  const at::Tensor& reference = model.model->embed_tokens->weight;
  student->to(reference.device(), reference.scalar_type());
  student->train(model.is_training());
  decoder.set_attention(student);
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
  const DslaAttentionOptions& o = plan.spec.dsla;
  return {{"variant", plan.spec.variant},
          {"order", plan.order},
          {"converted", plan.converted},
          {"converted_layers", plan.converted_layers()},
          {"window", plan.spec.window},
          {"tau", o.tau},
          {"gate_rank", o.gate_rank},
          {"per_head_gamma", o.per_head_gamma},
          {"rope", o.rope},
          {"output_norm", o.output_norm},
          {"history_decay", o.history_decay},
          {"recency_decay", o.recency_decay},
          {"gamma_init", o.gamma_init},
          {"chunk_size", o.chunk_size}};
}

namespace {

template <typename T>
T field(const nlohmann::json& j, const char* key, const std::string& source) {
  DSLA_CHECK(j.contains(key), "{}: dsla section lacks '{}'", source, key);
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception& e) {
    DSLA_FAIL("{}: dsla.{} has the wrong type: {}", source, key, e.what());
  }
}

}  // namespace

ConversionPlan plan_from_json(const nlohmann::json& j, int64_t num_layers,
                              const std::string& source) {
  DSLA_CHECK(j.is_object(), "{}: the dsla section must be an object", source);
  ConversionPlan plan;
  plan.spec.variant = field<std::string>(j, "variant", source);
  plan.order = field<std::vector<int64_t>>(j, "order", source);
  plan.converted = field<int64_t>(j, "converted", source);
  plan.spec.window = field<int64_t>(j, "window", source);
  DslaAttentionOptions& o = plan.spec.dsla;
  o.tau = field<double>(j, "tau", source);
  o.gate_rank = field<int64_t>(j, "gate_rank", source);
  o.per_head_gamma = field<bool>(j, "per_head_gamma", source);
  o.rope = field<bool>(j, "rope", source);
  o.output_norm = field<bool>(j, "output_norm", source);
  o.history_decay = field<double>(j, "history_decay", source);
  o.recency_decay = field<double>(j, "recency_decay", source);
  o.gamma_init = field<double>(j, "gamma_init", source);
  o.chunk_size = field<int64_t>(j, "chunk_size", source);
  DSLA_CHECK(plan.spec.variant == "dual" || plan.spec.variant == "single" ||
                 plan.spec.variant == "sliding_window",
             "{}: dsla.variant '{}' is not dual, single or sliding_window", source,
             plan.spec.variant);
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
