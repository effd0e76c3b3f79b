// Reading documents from .jsonl / plain-text corpora and tokenizing them into one stream.
#include "data/text_corpus.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>

#include "core/error.h"
#include "core/utf8_text.h"

namespace fs = std::filesystem;

namespace dsla::data {
namespace {

constexpr std::string_view kWhitespace = " \t\r\n\f\v";

std::string_view strip(std::string_view s) {
  const size_t begin = s.find_first_not_of(kWhitespace);
  if (begin == std::string_view::npos) return {};
  const size_t end = s.find_last_not_of(kWhitespace);
  return s.substr(begin, end - begin + 1);
}

void add_document(std::vector<std::string>& docs, std::string_view text) {
  const std::string_view s = strip(text);
  if (!s.empty()) docs.emplace_back(s);
}

std::vector<std::string> read_jsonl(const fs::path& file, std::ifstream& in) {
  std::vector<std::string> docs;
  std::string line;
  for (size_t line_no = 1; std::getline(in, line); ++line_no) {
    if (strip(line).empty()) continue;
    nlohmann::json record;
    try {
      record = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      DSLA_FAIL("{}:{}: not a JSON line ({})", file.string(), line_no, e.what());
    }
    const auto text = record.is_object() ? record.find("text") : record.end();
    DSLA_CHECK(record.is_object() && text != record.end() && text->is_string(),
               "{}:{}: the line has no string field \"text\"", file.string(), line_no);
    add_document(docs, text->get_ref<const std::string&>());
  }
  DSLA_CHECK(!in.bad(), "{}: read error", file.string());
  return docs;
}

std::vector<std::string> read_plain_text(const fs::path& file, std::ifstream& in) {
  std::ostringstream ss;
  ss << in.rdbuf();
  DSLA_CHECK(!in.bad(), "{}: read error", file.string());
  const std::string content = ss.str();

  // Split on lines that are exactly the separator (a trailing '\r' tolerated).
  std::vector<std::string> docs;
  size_t doc_begin = 0;
  size_t line_begin = 0;
  while (line_begin < content.size()) {
    size_t line_end = content.find('\n', line_begin);
    if (line_end == std::string::npos) line_end = content.size();
    std::string_view line(content.data() + line_begin, line_end - line_begin);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line == kDocumentSeparator) {
      add_document(docs, std::string_view(content).substr(doc_begin, line_begin - doc_begin));
      doc_begin = line_end + 1;
    }
    line_begin = line_end + 1;
  }
  if (doc_begin < content.size()) add_document(docs, std::string_view(content).substr(doc_begin));
  return docs;
}

}  // namespace

std::vector<std::string> read_documents(const fs::path& file) {
  std::error_code ec;
  DSLA_CHECK(fs::is_regular_file(file, ec), "{}: no such file", file.string());
  std::ifstream in(file, std::ios::binary);
  DSLA_CHECK(in.is_open(), "{}: cannot open for reading", file.string());
  std::vector<std::string> docs =
      file.extension() == ".jsonl" ? read_jsonl(file, in) : read_plain_text(file, in);
  DSLA_CHECK(!docs.empty(), "{}: no documents (the file holds only whitespace or separators)",
             file.string());
  for (size_t d = 0; d < docs.size(); ++d) {
    size_t at = first_non_text_byte(docs[d]);
    DSLA_CHECK(at == std::string_view::npos,
               "{}: document {} is not UTF-8 text (byte {} of it is 0x{:02x}); a binary file?",
               file.string(), d + 1, at, static_cast<unsigned char>(docs[d][at]));
  }
  return docs;
}

std::vector<int64_t> tokenize_documents(const Tokenizer& tokenizer,
                                        const std::vector<std::string>& docs, size_t max_tokens) {
  const std::optional<int64_t> bos = tokenizer.bos_id();
  const std::optional<int64_t> eos = tokenizer.eos_id();
  std::vector<int64_t> stream;
  for (const std::string& doc : docs) {
    if (max_tokens != 0 && stream.size() >= max_tokens) break;
    std::vector<int64_t> ids = tokenizer.encode(doc, /*add_bos=*/true);
    const bool added_bos = bos.has_value() && !ids.empty() && ids.front() == *bos;
    stream.insert(stream.end(), ids.begin(), ids.end());
    if (!added_bos && eos.has_value()) stream.push_back(*eos);
  }
  if (max_tokens != 0 && stream.size() > max_tokens) stream.resize(max_tokens);
  return stream;
}

}  // namespace dsla::data
