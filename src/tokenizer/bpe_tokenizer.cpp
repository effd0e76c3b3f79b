// Implementation of BpeTokenizer (bpe_tokenizer.h): reads tokenizer.json and runs HF's encode
// pipeline.
#include "tokenizer/bpe_tokenizer.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "io/json_file.h"
#include "tokenizer/utf8_util.h"

namespace dsla {

namespace {

using Json = nlohmann::json;

tokenizer::AddedToken parse_added_token(const Json& entry, const std::string& file) {
  tokenizer::AddedToken token;
  token.id = io::json_integer(entry.at("id"), fmt::format("{}: an added token's id", file));
  token.content = entry.at("content").get<std::string>();
  token.special = entry.value("special", false);
  token.lstrip = entry.value("lstrip", false);
  token.rstrip = entry.value("rstrip", false);
  token.single_word = entry.value("single_word", false);
  token.normalized = entry.value("normalized", !token.special);
  return token;
}

}  // namespace

BpeTokenizer::BpeTokenizer(const std::filesystem::path& path) {
  const std::string file = path.string();
  const Json root = io::read_json_file(path);
  try {
    DSLA_CHECK(root.is_object() && root.contains("model"), "{}: no \"model\" section", file);
    model_ = std::make_unique<tokenizer::BpeModel>(root.at("model"), file);
    normalizer_ = std::make_unique<tokenizer::Normalizer>(root.value("normalizer", Json()), file);
    pre_tokenizer_ = tokenizer::make_pre_tokenizer(root.value("pre_tokenizer", Json()), file);
    read_added_tokens(root.value("added_tokens", Json::array()), file);
    read_post_processor(root.value("post_processor", Json()), file);
    read_decoder(root.value("decoder", Json()), file);
  } catch (const Json::exception& e) {
    DSLA_FAIL("{}: unexpected tokenizer.json structure: {}", file, e.what());
  }
}

void BpeTokenizer::read_added_tokens(const Json& list, const std::string& file) {
  DSLA_CHECK(list.is_array(), "{}: added_tokens must be an array", file);
  std::vector<tokenizer::AddedToken> raw, normalized;
  for (const Json& entry : list) {
    tokenizer::AddedToken token = parse_added_token(entry, file);
    added_by_id_[token.id] = token;
    (token.normalized && !normalizer_->is_identity() ? normalized : raw).push_back(token);
  }
  raw_added_ = tokenizer::AddedTokenMatcher(std::move(raw));
  normalized_added_ = tokenizer::AddedTokenMatcher(std::move(normalized));
}

void BpeTokenizer::read_post_processor(const Json& spec, const std::string& file) {
  if (spec.is_null()) return;
  const std::string type = spec.at("type");
  if (type == "ByteLevel") return;  // only trims offsets
  if (type == "Sequence") {
    for (const Json& member : spec.at("processors")) read_post_processor(member, file);
    return;
  }
  DSLA_CHECK(type == "TemplateProcessing",
             "{}: unsupported post_processor type '{}' (supported: ByteLevel, TemplateProcessing, "
             "Sequence)",
             file, type);
  const Json& special_tokens = spec.value("special_tokens", Json::object());
  bool after_sequence = false;
  for (const Json& item : spec.at("single")) {
    if (item.contains("Sequence")) {
      after_sequence = true;
      continue;
    }
    const std::string name = item.at("SpecialToken").at("id");
    DSLA_CHECK(special_tokens.contains(name), "{}: template token '{}' has no special_tokens entry",
               file, name);
    for (const Json& id : special_tokens.at(name).at("ids")) {
      (after_sequence ? template_suffix_ : template_prefix_)
          .push_back(io::json_integer(id, fmt::format("{}: template token '{}' id", file, name)));
    }
  }
}

void BpeTokenizer::read_decoder(const Json& spec, const std::string& file) {
  DSLA_CHECK(pre_tokenizer_->is_byte_level(),
             "{}: only byte-level BPE is supported (the pre_tokenizer has no ByteLevel step)",
             file);
  const bool byte_level_decoder = !spec.is_null() && spec.at("type") == "ByteLevel";
  DSLA_CHECK(byte_level_decoder, "{}: unsupported decoder {} (only ByteLevel is supported)", file,
             spec.dump());
}

void BpeTokenizer::encode_plain(std::string_view text, std::vector<int64_t>& out) const {
  const std::string normalized = normalizer_->apply(text);
  for (const tokenizer::TextSegment& segment : normalized_added_.split(normalized)) {
    if (segment.is_token()) {
      out.push_back(segment.token_id);
      continue;
    }
    for (const std::string& word : pre_tokenizer_->apply({std::string(segment.text)})) {
      model_->tokenize(word, out);
    }
  }
}

std::vector<int64_t> BpeTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int64_t> ids;
  if (add_bos) ids = template_prefix_;
  for (const tokenizer::TextSegment& segment : raw_added_.split(text)) {
    if (segment.is_token()) {
      ids.push_back(segment.token_id);
    } else {
      encode_plain(segment.text, ids);
    }
  }
  if (add_bos) ids.insert(ids.end(), template_suffix_.begin(), template_suffix_.end());
  return ids;
}

std::string BpeTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special) const {
  std::string mapped;
  for (int64_t id : ids) {
    const auto added = added_by_id_.find(id);
    if (added != added_by_id_.end()) {
      if (!(skip_special && added->second.special)) mapped += added->second.content;
      continue;
    }
    const std::string* token = model_->id_to_token(id);
    DSLA_CHECK(token != nullptr, "decode: id {} is not in the vocab (size {})", id, vocab_size());
    mapped += *token;
  }
  return tokenizer::ByteLevelAlphabet::instance().decode(mapped);
}

int64_t BpeTokenizer::vocab_size() const {
  int64_t size = model_->size();
  for (const auto& [id, token] : added_by_id_) size = std::max(size, id + 1);
  return size;
}

std::optional<int64_t> BpeTokenizer::token_id(std::string_view token) const {
  for (const auto& [id, added] : added_by_id_) {
    if (added.content == token) return id;
  }
  return model_->token_to_id(token);
}

}  // namespace dsla
