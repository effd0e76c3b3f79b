// Implementation of the incremental decoder.
#include "tokenizer/incremental_decoder.h"

namespace dsla {
namespace {

bool ends_with_replacement(const std::string& s) {
  static const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD: a character cut short
  return s.size() >= 3 && s.compare(s.size() - 3, 3, kReplacement) == 0;
}

}  // namespace

std::string IncrementalDecoder::push(int64_t id) {
  ids_.push_back(id);
  auto begin = ids_.begin() + static_cast<std::ptrdiff_t>(prefix_);
  std::string shown = tokenizer_.decode({begin, ids_.begin() + static_cast<std::ptrdiff_t>(read_)});
  std::string now = tokenizer_.decode({begin, ids_.end()});
  if (now.size() <= shown.size() || ends_with_replacement(now) ||
      now.compare(0, shown.size(), shown) != 0) {
    return "";
  }
  prefix_ = read_;
  read_ = ids_.size();
  return now.substr(shown.size());
}

}  // namespace dsla
