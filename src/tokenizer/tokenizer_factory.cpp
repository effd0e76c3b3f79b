// load_tokenizer(): picks tokenizer.json or tokenizer.model in an HF model directory and sets
// BOS/EOS the way transformers does (tokenizer_config.json, then special_tokens_map.json, then
// config.json).
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "io/json_file.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace dsla {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  DSLA_CHECK(in.good(), "{}: cannot open", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// The JSON object in `path`, or null when the file does not exist.
Json read_optional_json(const fs::path& path) {
  if (!fs::exists(path)) return Json();
  return io::read_json_file(path);
}

/// A special token's id from a config entry: a token string, an AddedToken object or an id.
/// Returns {found, id}: found is false when the key is absent, so the next file is consulted.
std::pair<bool, std::optional<int64_t>> special_id(const Json& config, const std::string& key,
                                                   const Tokenizer& tokenizer,
                                                   const fs::path& file) {
  if (!config.is_object() || !config.contains(key)) return {false, std::nullopt};
  Json value = config.at(key);
  if (value.is_array()) value = value.empty() ? Json() : value.at(0);  // eos_token_id: [a, b]
  if (value.is_null()) return {true, std::nullopt};
  if (value.is_number_integer()) return {true, value.get<int64_t>()};
  if (value.is_object() && value.contains("content")) value = value.at("content");
  DSLA_CHECK(value.is_string(), "{}: '{}' must be a token, an id or null", file.string(), key);
  const std::string token = value.get<std::string>();
  const std::optional<int64_t> id = tokenizer.token_id(token);
  DSLA_CHECK(id.has_value(), "{}: {} '{}' is not in the tokenizer's vocab", file.string(), key,
             token);
  return {true, id};
}

/// Resolves one special token ("bos" or "eos") across the config files; `fallback` when none says.
std::optional<int64_t> resolve_special(const fs::path& dir, const std::string& name,
                                       const Tokenizer& tokenizer,
                                       std::optional<int64_t> fallback) {
  const std::pair<const char*, std::string> sources[] = {
      {"tokenizer_config.json", name + "_token"},
      {"special_tokens_map.json", name + "_token"},
      {"config.json", name + "_token_id"},
  };
  for (const auto& [file_name, key] : sources) {
    const fs::path file = dir / file_name;
    const auto [found, id] = special_id(read_optional_json(file), key, tokenizer, file);
    if (found) return id;
  }
  return fallback;
}

template <typename T>
std::unique_ptr<Tokenizer> with_special_ids(std::unique_ptr<T> tokenizer, const fs::path& dir) {
  const auto bos = resolve_special(dir, "bos", *tokenizer, tokenizer->bos_id());
  const auto eos = resolve_special(dir, "eos", *tokenizer, tokenizer->eos_id());
  tokenizer->set_special_ids(bos, eos);
  return tokenizer;
}

/// tokenizer.json, or tokenizer.model when the JSON is well-formed but uses features dsla lacks.
std::unique_ptr<Tokenizer> load_json_or_model(const fs::path& dir) {
  const fs::path json_path = dir / "tokenizer.json";
  const fs::path model_path = dir / "tokenizer.model";
  std::unique_ptr<BpeTokenizer> bpe;
  try {
    bpe = std::make_unique<BpeTokenizer>(json_path);
  } catch (const Error& e) {
    if (!fs::exists(model_path) || !Json::accept(read_text(json_path))) throw;
    std::cerr << "dsla: warning: " << e.what() << "; using " << model_path.string() << " instead\n";
    return with_special_ids(std::make_unique<SentencePieceTokenizer>(model_path), dir);
  }
  return with_special_ids(std::move(bpe), dir);
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const fs::path& model_dir) {
  DSLA_CHECK(fs::is_directory(model_dir), "{}: model directory not found", model_dir.string());
  if (fs::exists(model_dir / "tokenizer.json")) return load_json_or_model(model_dir);
  const fs::path model_path = model_dir / "tokenizer.model";
  DSLA_CHECK(fs::exists(model_path), "{}: no tokenizer.json or tokenizer.model in this directory",
             model_dir.string());
  return with_special_ids(std::make_unique<SentencePieceTokenizer>(model_path), model_dir);
}

std::unique_ptr<Tokenizer> load_tokenizer(const fs::path& model_dir, int64_t model_vocab_size) {
  std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(model_dir);
  DSLA_CHECK(tokenizer->vocab_size() <= model_vocab_size,
             "{}: the tokenizer has {} ids but the model's vocab_size is {}: its ids above {} "
             "have no embedding (a tokenizer from another model?)",
             model_dir.string(), tokenizer->vocab_size(), model_vocab_size, model_vocab_size - 1);
  return tokenizer;
}

}  // namespace dsla
