// Streaming detokenisation: the text of a growing sequence of ids, a few decodes per new token
// instead of decoding the whole output again (the prefix/read offsets of HF
// text-generation-inference).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace dsla {

class IncrementalDecoder {
 public:
  explicit IncrementalDecoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  /// Adds `id`; returns the text it completes (empty while it ends inside a UTF-8 character or a
  /// merge the next tokens may change). The pieces concatenate to decode(all ids).
  std::string push(int64_t id);

 private:
  const Tokenizer& tokenizer_;
  std::vector<int64_t> ids_;
  size_t prefix_ = 0;  ///< decodes start here: earlier ids' text is final
  size_t read_ = 0;    ///< text of ids_[prefix_, read_) has been returned
};

}  // namespace dsla
