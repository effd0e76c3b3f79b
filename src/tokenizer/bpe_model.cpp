// Implementation of BpeModel (bpe_model.h): rank-ordered merges over a linked list of symbols.
#include "tokenizer/bpe_model.h"

#include <fmt/format.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <queue>

#include "core/error.h"
#include "io/json_file.h"
#include "tokenizer/utf8_util.h"

namespace dsla::tokenizer {

namespace {

constexpr size_t kMaxCacheEntries = 1 << 16;

std::string string_or_empty(const nlohmann::json& spec, const char* key) {
  return spec.contains(key) && spec.at(key).is_string() ? spec.at(key).get<std::string>() : "";
}

}  // namespace

BpeModel::BpeModel(const nlohmann::json& spec, const std::string& file) {
  DSLA_CHECK(spec.is_object() && spec.contains("type"), "{}: \"model\" has no \"type\"", file);
  const std::string type = spec.at("type");
  DSLA_CHECK(type == "BPE", "{}: unsupported model type '{}' (only BPE is supported)", file, type);
  const auto& dropout = spec.value("dropout", nlohmann::json());
  DSLA_CHECK(dropout.is_null() || dropout.get<double>() == 0.0,
             "{}: BPE dropout is not supported (tokenization would be random)", file);
  read_vocab(spec.at("vocab"), file);
  read_merges(spec.at("merges"), file);
  continuing_subword_prefix_ = string_or_empty(spec, "continuing_subword_prefix");
  end_of_word_suffix_ = string_or_empty(spec, "end_of_word_suffix");
  fuse_unk_ = spec.value("fuse_unk", false);
  byte_fallback_ = spec.value("byte_fallback", false);
  ignore_merges_ = spec.value("ignore_merges", false);
  const std::string unk = string_or_empty(spec, "unk_token");
  if (!unk.empty()) {
    const auto it = token_to_id_.find(unk);
    DSLA_CHECK(it != token_to_id_.end(), "{}: unk_token '{}' is not in the vocab", file, unk);
    unk_id_ = it->second;
  }
}

void BpeModel::read_vocab(const nlohmann::json& vocab, const std::string& file) {
  DSLA_CHECK(vocab.is_object(), "{}: model.vocab must be an object", file);
  for (const auto& [token, id_json] : vocab.items()) {
    const int64_t id =
        io::json_integer(id_json, fmt::format("{}: the vocab id of '{}'", file, token));
    DSLA_CHECK(id >= 0 && id < (int64_t{1} << 31), "{}: vocab id {} of '{}' is out of range", file,
               id, token);
    token_to_id_[token] = static_cast<int32_t>(id);
    if (static_cast<size_t>(id) >= id_to_token_.size()) {
      id_to_token_.resize(static_cast<size_t>(id) + 1);
      has_id_.resize(static_cast<size_t>(id) + 1, false);
    }
    id_to_token_[static_cast<size_t>(id)] = token;
    has_id_[static_cast<size_t>(id)] = true;
  }
}

void BpeModel::read_merges(const nlohmann::json& merges, const std::string& file) {
  DSLA_CHECK(merges.is_array(), "{}: model.merges must be an array", file);
  int32_t rank = 0;
  for (const auto& merge : merges) {
    std::string left, right;
    if (merge.is_string()) {  // "a b"
      const std::string text = merge.get<std::string>();
      const size_t space = text.find(' ', 1);
      DSLA_CHECK(space != std::string::npos, "{}: merge '{}' is not 'a b'", file, text);
      left = text.substr(0, space);
      right = text.substr(space + 1);
    } else {  // ["a", "b"]
      DSLA_CHECK(merge.is_array() && merge.size() == 2, "{}: merge {} is not a pair", file,
                 merge.dump());
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    }
    const auto left_it = token_to_id_.find(left);
    const auto right_it = token_to_id_.find(right);
    const auto merged_it = token_to_id_.find(left + right);
    DSLA_CHECK(left_it != token_to_id_.end() && right_it != token_to_id_.end() &&
                   merged_it != token_to_id_.end(),
               "{}: merge '{} {}' uses a token missing from the vocab", file, left, right);
    merges_.emplace(pair_key(left_it->second, right_it->second), Merge{rank++, merged_it->second});
  }
}

std::optional<int64_t> BpeModel::token_to_id(std::string_view token) const {
  const auto it = token_to_id_.find(std::string(token));
  if (it == token_to_id_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int64_t id) const {
  if (id < 0 || id >= size() || !has_id_[static_cast<size_t>(id)]) return nullptr;
  return &id_to_token_[static_cast<size_t>(id)];
}

std::vector<int32_t> BpeModel::initial_symbols(std::string_view word) const {
  std::vector<int32_t> symbols;
  size_t pos = 0;
  bool previous_unk = false;
  while (pos < word.size()) {
    const size_t start = pos;
    utf8_next(word, pos);
    std::string piece(word.substr(start, pos - start));
    if (start > 0) piece = continuing_subword_prefix_ + piece;
    if (pos == word.size()) piece += end_of_word_suffix_;
    const auto it = token_to_id_.find(piece);
    if (it != token_to_id_.end()) {
      symbols.push_back(it->second);
      previous_unk = false;
      continue;
    }
    if (byte_fallback_) {
      std::vector<int32_t> bytes;
      for (size_t i = start; i < pos; ++i) {
        const auto byte_it =
            token_to_id_.find(fmt::format("<0x{:02X}>", static_cast<unsigned char>(word[i])));
        if (byte_it == token_to_id_.end()) break;
        bytes.push_back(byte_it->second);
      }
      if (bytes.size() == pos - start) {
        symbols.insert(symbols.end(), bytes.begin(), bytes.end());
        previous_unk = false;
        continue;
      }
    }
    if (unk_id_) {  // like HF, characters are dropped when there is no unk token
      if (!(fuse_unk_ && previous_unk)) symbols.push_back(*unk_id_);
      previous_unk = true;
    }
  }
  return symbols;
}

std::vector<int32_t> BpeModel::merge_word(std::string_view word) const {
  std::vector<int32_t> ids = initial_symbols(word);
  const int n = static_cast<int>(ids.size());
  std::vector<int> next(n), prev(n);
  std::vector<bool> alive(n, true);
  for (int i = 0; i < n; ++i) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  struct Candidate {
    int32_t rank;
    int pos;
    int32_t merged_id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto push_pair = [&](int left) {
    if (left < 0 || next[left] < 0) return;
    const auto it = merges_.find(pair_key(ids[left], ids[next[left]]));
    if (it != merges_.end()) queue.push({it->second.rank, left, it->second.merged_id});
  };
  for (int i = 0; i + 1 < n; ++i) push_pair(i);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    const int right = alive[top.pos] ? next[top.pos] : -1;
    if (right < 0) continue;
    const auto it = merges_.find(pair_key(ids[top.pos], ids[right]));
    if (it == merges_.end() || it->second.merged_id != top.merged_id) continue;  // stale entry
    ids[top.pos] = top.merged_id;
    alive[right] = false;
    next[top.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = top.pos;
    push_pair(prev[top.pos]);
    push_pair(top.pos);
  }
  std::vector<int32_t> merged;
  for (int i = 0; i < n; ++i) {
    if (alive[i]) merged.push_back(ids[i]);
  }
  return merged;
}

void BpeModel::tokenize(std::string_view word, std::vector<int64_t>& out) const {
  if (ignore_merges_) {
    const auto it = token_to_id_.find(std::string(word));
    if (it != token_to_id_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  std::string key(word);
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    const auto it = cache_.find(key);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids = merge_word(word);
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() >= kMaxCacheEntries) cache_.clear();
  cache_.emplace(std::move(key), std::move(ids));
}

}  // namespace dsla::tokenizer
