// The on-disk token cache: each training file is tokenised once per tokenizer, stored as raw
// int32 ids keyed by the tokenizer's and the file's content hashes, and memory-mapped afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace dsla::data {

/// A read-only memory map of a token file: "DSLATOK1", uint64 count, count int32 ids.
class TokenFile {
 public:
  /// Maps `path`. Throws dsla::Error naming the file when it cannot be opened or its header or size
  /// is not that of a token file, or an id is negative.
  explicit TokenFile(const std::filesystem::path& path);
  ~TokenFile();
  TokenFile(const TokenFile&) = delete;
  TokenFile& operator=(const TokenFile&) = delete;

  size_t size() const { return count_; }
  int64_t operator[](size_t i) const { return ids_[i]; }
  const int32_t* data() const { return ids_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  const int32_t* ids_ = nullptr;
  size_t count_ = 0;
};

/// Writes ids as a token file, atomically. Throws dsla::Error when an id does not fit int32.
void write_token_file(const std::filesystem::path& path, const std::vector<int64_t>& ids);

/// 64-bit FNV-1a of the contents of `files` (in order, each with its size), as 16 hex digits.
/// Throws dsla::Error naming a file that cannot be read.
std::string content_hash(const std::vector<std::filesystem::path>& files);

/// The hash of a model directory's tokenizer files (tokenizer.json, tokenizer.model,
/// tokenizer_config.json, special_tokens_map.json: those present).
std::string tokenizer_hash(const std::filesystem::path& model_dir);

/// The tokens of `file` as data::tokenize_documents(read_documents(file)) gives them, from
/// `cache_dir` when tokenised before with the same tokenizer and content; otherwise tokenised and
/// written there first. `hit`, when given, says which. A cache entry that cannot be read is
/// reported on stderr and rebuilt.
std::shared_ptr<const TokenFile> cached_tokens(const Tokenizer& tokenizer,
                                               const std::string& tokenizer_key,
                                               const std::filesystem::path& file,
                                               const std::filesystem::path& cache_dir,
                                               bool* hit = nullptr);

}  // namespace dsla::data
