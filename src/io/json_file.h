// Reading JSON files with errors that name the file (config.json, tokenizer files, run records).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>

namespace dsla::io {

/// Parses a JSON file; throws dsla::Error naming the file when it is missing or malformed.
nlohmann::json read_json_file(const std::filesystem::path& file);

/// `j` as text; invalid UTF-8 in strings is written as U+FFFD instead of throwing.
std::string json_text(const nlohmann::json& j, int indent = -1);

}  // namespace dsla::io
