// Reading an HF config.json into a validated LlamaConfig.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>

#include "model/llama_config.h"

namespace dsla::model {

/// Parses `<dir>/config.json`. Throws dsla::Error naming the file for malformed JSON, an unknown
/// model_type, missing or inconsistent sizes, or unsupported features (activation, RoPE scaling
/// type, quantization).
LlamaConfig load_llama_config(const std::filesystem::path& model_dir);

/// The same from already parsed JSON; `source` names the file in error messages.
LlamaConfig parse_llama_config(const nlohmann::json& j, const std::string& source);

/// The JSON form of a config (HF field names), for exports.
nlohmann::json llama_config_to_json(const LlamaConfig& c);

}  // namespace dsla::model
