// Implementation of a request's text streaming: incremental decode, stop strings (text held back
// while it could still become one) and incomplete UTF-8 held back until complete.
#include "serve/request.h"

#include <algorithm>

namespace dsla::serve {
namespace {

/// Bytes at the end of `s` that start an incomplete UTF-8 sequence, or a trailing U+FFFD that a
/// byte-level decoder writes for one.
size_t incomplete_utf8_tail(const std::string& s) {
  static const std::string kReplacement = "\xEF\xBF\xBD";
  if (s.size() >= 3 && s.compare(s.size() - 3, 3, kReplacement) == 0) return 3;
  for (size_t back = 1; back <= std::min<size_t>(3, s.size()); ++back) {
    auto c = static_cast<unsigned char>(s[s.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
    size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

}  // namespace

RequestState::RequestState(uint64_t id, RequestParams params,
                           std::function<std::string(const std::vector<int64_t>&)> decode)
    : id_(id), params_(std::move(params)), decode_(std::move(decode)) {}

bool RequestState::add_token(int64_t token) {
  auto now = Clock::now();
  if (output_.empty()) first_token = now;
  last_token = now;
  output_.push_back(token);
  bool stop_id =
      std::find(params_.stop_ids.begin(), params_.stop_ids.end(), token) != params_.stop_ids.end();
  // The text without a final stop id (EOS is not part of the answer).
  std::vector<int64_t> visible(output_.begin(), output_.end() - (stop_id ? 1 : 0));
  std::string text = decode_(visible);
  size_t stop_at = std::string::npos, hold = 0;
  for (const auto& s : params_.stop) {
    if (s.empty()) continue;
    stop_at = std::min(stop_at, text.find(s));
    hold = std::max(hold, s.size() - 1);
  }
  if (stop_at != std::string::npos) {
    publish(text.substr(0, stop_at), true, "stop");
    return true;
  }
  if (stop_id || static_cast<int64_t>(output_.size()) >= params_.max_tokens) {
    publish(text, true, stop_id ? "stop" : "length");
    return true;
  }
  // Hold back what could still start a stop string, and an unfinished UTF-8 character.
  size_t ready = text.size() - std::min(text.size(), std::max(hold, incomplete_utf8_tail(text)));
  publish(text.substr(0, std::max(ready, emitted_chars_)), false, "");
  return false;
}

void RequestState::finish(const std::string& reason) {
  std::string text = decode_(output_);
  publish(text.substr(0, std::min(text.size(), emitted_chars_)), true, reason);
}

void RequestState::fail(const std::string& message) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = message;
  }
  publish("", true, "error");  // no decode: it may be what failed
}

void RequestState::publish(const std::string& text, bool finished, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (text.size() > emitted_chars_) {
    pending_text_ += text.substr(emitted_chars_);
    emitted_chars_ = text.size();
  }
  ++pending_tokens_;
  if (finished) {
    final_text_ = text.substr(0, std::min(text.size(), emitted_chars_));
    pending_finished_ = true;
    finish_reason_ = reason;
    done = Clock::now();
    finished_ = true;
  }
  changed_.notify_all();
}

bool RequestState::wait_event(RequestEvent& out, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  bool ready = changed_.wait_for(lock, timeout, [&] {
    return !pending_text_.empty() || pending_tokens_ > 0 || pending_finished_;
  });
  if (!ready) return false;
  out.text = std::move(pending_text_);
  out.new_tokens = pending_tokens_;
  out.finished = pending_finished_;
  out.finish_reason = finish_reason_;
  out.error = error_;
  pending_text_.clear();
  pending_tokens_ = 0;
  return true;
}

std::string RequestState::finish_reason() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return finished_ ? finish_reason_ : std::string();
}

std::string RequestState::error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return error_;
}

std::string RequestState::text() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return final_text_;
}

}  // namespace dsla::serve
