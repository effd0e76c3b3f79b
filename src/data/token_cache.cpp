// Implementation of the token cache: FNV-1a content keys, atomic writes, POSIX memory maps.
#include "data/token_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/text_corpus.h"

namespace fs = std::filesystem;

namespace dsla::data {
namespace {

constexpr char kMagic[8] = {'D', 'S', 'L', 'A', 'T', 'O', 'K', '1'};
constexpr size_t kHeaderBytes = sizeof(kMagic) + sizeof(uint64_t);
/// Part of every cache key: bump it when read_documents or tokenize_documents change their output.
constexpr const char* kTokenizationVersion = "docs-v1";

constexpr uint64_t kFnvOffset = 14695981039346656037ULL;
constexpr uint64_t kFnvPrime = 1099511628211ULL;

uint64_t fnv1a(uint64_t h, const char* data, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(data[i]);
    h *= kFnvPrime;
  }
  return h;
}

}  // namespace

TokenFile::TokenFile(const fs::path& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  DSLA_CHECK(fd >= 0, "{}: cannot open token file: {}", path.string(), std::strerror(errno));
  struct stat st {};
  int rc = ::fstat(fd, &st);
  auto bytes = rc == 0 ? static_cast<size_t>(st.st_size) : 0;
  if (rc != 0 || bytes < kHeaderBytes) {
    ::close(fd);
    DSLA_CHECK(false, "{}: not a token file ({} bytes, shorter than its header)", path.string(),
               bytes);
  }
  map_ = ::mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  DSLA_CHECK(map_ != MAP_FAILED, "{}: cannot map the token file: {}", path.string(),
             std::strerror(errno));
  map_bytes_ = bytes;
  const auto* base = static_cast<const char*>(map_);
  uint64_t count = 0;
  std::memcpy(&count, base + sizeof(kMagic), sizeof(count));
  bool header_ok = std::memcmp(base, kMagic, sizeof(kMagic)) == 0 &&
                   count == (bytes - kHeaderBytes) / sizeof(int32_t) &&
                   (bytes - kHeaderBytes) % sizeof(int32_t) == 0;
  if (!header_ok) {
    ::munmap(map_, map_bytes_);
    map_ = nullptr;
    DSLA_CHECK(false, "{}: not a token file (bad magic, or {} bytes do not hold {} ids)",
               path.string(), bytes, count);
  }
  ids_ = reinterpret_cast<const int32_t*>(base + kHeaderBytes);
  count_ = count;
  for (size_t i = 0; i < count_; ++i) {
    DSLA_CHECK(ids_[i] >= 0, "{}: token {} has the negative id {}", path.string(), i, ids_[i]);
  }
}

TokenFile::~TokenFile() {
  if (map_ != nullptr) ::munmap(map_, map_bytes_);
}

void write_token_file(const fs::path& path, const std::vector<int64_t>& ids) {
  std::vector<int32_t> narrow(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    DSLA_CHECK(ids[i] >= 0 && ids[i] <= std::numeric_limits<int32_t>::max(),
               "{}: token id {} does not fit a token file", path.string(), ids[i]);
    narrow[i] = static_cast<int32_t>(ids[i]);
  }
  write_file_atomically(path, [&](std::ostream& out) {
    uint64_t count = narrow.size();
    out.write(kMagic, sizeof(kMagic));
    out.write(reinterpret_cast<const char*>(&count), sizeof(count));
    out.write(reinterpret_cast<const char*>(narrow.data()),
              static_cast<std::streamsize>(narrow.size() * sizeof(int32_t)));
  });
}

std::string content_hash(const std::vector<fs::path>& files) {
  uint64_t h = kFnvOffset;
  std::vector<char> buffer(1 << 20);
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    DSLA_CHECK(in.is_open(), "{}: cannot open for reading", file.string());
    uint64_t size = 0;
    while (in) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      auto got = static_cast<size_t>(in.gcount());
      h = fnv1a(h, buffer.data(), got);
      size += got;
    }
    DSLA_CHECK(in.eof(), "{}: read error", file.string());
    h = fnv1a(h, reinterpret_cast<const char*>(&size), sizeof(size));
  }
  return fmt::format("{:016x}", h);
}

std::string tokenizer_hash(const fs::path& model_dir) {
  std::vector<fs::path> present;
  for (const char* name :
       {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"}) {
    if (fs::is_regular_file(model_dir / name)) present.push_back(model_dir / name);
  }
  DSLA_CHECK(!present.empty(), "{}: no tokenizer files", model_dir.string());
  return content_hash(present);
}

std::shared_ptr<const TokenFile> cached_tokens(const Tokenizer& tokenizer,
                                               const std::string& tokenizer_key,
                                               const fs::path& file, const fs::path& cache_dir,
                                               bool* hit) {
  std::string key = content_hash({file}) + "-" + tokenizer_key + "-" + kTokenizationVersion;
  fs::path entry = cache_dir / (file.stem().string() + "-" + key + ".tok");
  if (fs::exists(entry)) {
    try {
      auto tokens = std::make_shared<const TokenFile>(entry);
      if (hit) *hit = true;
      return tokens;
    } catch (const Error& e) {
      std::cerr << fmt::format("[data] rebuilding the unreadable token cache entry: {}\n",
                               e.what());
    }
  }
  if (hit) *hit = false;
  write_token_file(entry, tokenize_documents(tokenizer, read_documents(file), 0));
  return std::make_shared<const TokenFile>(entry);
}

}  // namespace dsla::data
