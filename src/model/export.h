// Exported hybrid models (HF directory + a "dsla" config section) and the converted layers'
// parameters that distillation checkpoints hold.
#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "model/conversion.h"

namespace dsla::model {

/// The conversion plan in `<model_dir>/config.json`'s "dsla" section, if it has one.
std::optional<ConversionPlan> read_conversion_plan(const std::filesystem::path& model_dir);

/// "model.layers.<layer>.self_attn.": the name prefix of a layer's attention parameters.
std::string layer_attention_prefix(int64_t layer);

/// The parameters of layer `layer`'s attention by HF-style name
/// ("model.layers.3.self_attn.history_gate_up.weight"), sharing storage with the model.
std::map<std::string, at::Tensor> layer_attention_parameters(LlamaForCausalLMImpl& model,
                                                             int64_t layer);

/// Writes an HF-style directory `out_dir`: model.safetensors with every parameter (teacher weights
/// plus the converted layers' parameters), config.json = `source_dir`'s plus a "dsla" section (the
/// plan, and `extra` merged in, e.g. the sensitivity scores), and the tokenizer files of
/// `source_dir`. The directory is built beside `out_dir` and renamed into place (an existing
/// `out_dir` is replaced only once the new one is complete).
void export_model(LlamaForCausalLMImpl& model, const ConversionPlan& plan,
                  const std::filesystem::path& source_dir, const std::filesystem::path& out_dir,
                  const nlohmann::json& extra = nlohmann::json::object());

}  // namespace dsla::model
