// Reading an HF config.json into a validated LlamaConfig.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>

#include "model/llama_config.h"

namespace dsla::io {

/// Parses `<dir>/config.json`. Throws dsla::Error naming the file for malformed JSON, an unknown
/// model_type, missing or inconsistent sizes, or unsupported features (activation, RoPE scaling
/// type, quantization).
model::LlamaConfig load_llama_config(const std::filesystem::path& model_dir);

/// Parses a JSON file; throws dsla::Error naming the file when it is missing or malformed.
nlohmann::json read_json_file(const std::filesystem::path& file);

/// The same from already parsed JSON; `source` names the file in error messages.
model::LlamaConfig parse_llama_config(const nlohmann::json& j, const std::string& source);

/// The JSON form of a config (HF field names), for exports.
nlohmann::json llama_config_to_json(const model::LlamaConfig& c);

}  // namespace dsla::io
