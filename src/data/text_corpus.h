// Text corpora for distillation: reading documents from .jsonl / plain-text files and turning them
// into one token stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace dsla::data {

/// The literal line that separates documents in plain-text corpora (TinyStories).
inline constexpr const char* kDocumentSeparator = "<|endoftext|>";

/// Documents of `file`, surrounding whitespace stripped, empty ones dropped.
///  - `.jsonl`: one document per non-empty line, from its string field "text".
///  - anything else: plain text, split on lines equal to "<|endoftext|>" when there are any, else
///    the whole file is one document (WikiText paragraphs separated by blank lines belong
///    together).
/// Throws dsla::Error naming the file when it cannot be read, when a .jsonl line is not JSON or has
/// no string "text" (naming file:line), or when no document remains.
std::vector<std::string> read_documents(const std::filesystem::path& file);

/// Concatenated token ids of `docs`: each document is encoded with add_bos=true; when that adds no
/// BOS (byte-level BPE such as SmolLM2) and the tokenizer has an EOS, the EOS follows every
/// document, so documents are always separated. The stream is truncated to `max_tokens` (0 means
/// unlimited).
std::vector<int64_t> tokenize_documents(const Tokenizer& tokenizer,
                                        const std::vector<std::string>& docs, size_t max_tokens);

}  // namespace dsla::data
