// One generation request as the engine and its HTTP handler share it: parameters, the tokens and
// text produced so far, stop strings, and the events a (streaming) consumer waits for.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "model/sampling_options.h"

namespace dsla::serve {

using Clock = std::chrono::steady_clock;

struct RequestParams {
  std::vector<int64_t> prompt;
  int64_t max_tokens = 16;
  model::SamplingOptions sampling;  ///< greedy unless temperature > 0
  std::vector<std::string> stop;    ///< the text ends before the first of these
  std::vector<int64_t> stop_ids;    ///< ends after emitting one of these (EOS)
};

/// What the consumer receives: new text since the last event, and the end.
struct RequestEvent {
  std::string text;
  int64_t new_tokens = 0;
  bool finished = false;
  std::string finish_reason;  ///< "stop", "length", "cancelled", "shutdown" or "error"
  std::string error;          ///< what went wrong, with finish_reason "error"
};

class RequestState {
 public:
  /// `decode` turns the output ids into text (the tokenizer's decode).
  RequestState(uint64_t id, RequestParams params,
               std::function<std::string(const std::vector<int64_t>&)> decode);

  uint64_t id() const { return id_; }
  const RequestParams& params() const { return params_; }

  // Consumer side (any thread).
  /// Waits up to `timeout` for new text or the end; false on timeout. Pending text is merged.
  bool wait_event(RequestEvent& out, std::chrono::milliseconds timeout);
  /// Asks the engine to drop the request (a client that went away).
  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }

  // Engine side (the engine thread only, until finished).
  /// Appends a generated token; returns true when the request is done (stop id, stop string or
  /// max_tokens), after publishing the final event.
  bool add_token(int64_t token);
  /// Ends the request early ("cancelled" or "shutdown").
  void finish(const std::string& reason);
  /// Ends the request with finish reason "error" and `message` (the engine could not serve it).
  void fail(const std::string& message);
  bool finished() const { return finished_; }
  /// "stop", "length", "cancelled", "shutdown" or "error" once finished, else empty.
  std::string finish_reason() const;
  /// The message of a request that ended with "error", else empty.
  std::string error() const;
  const std::vector<int64_t>& output() const { return output_; }

  int64_t depth = -1;  ///< the conversion depth it was admitted with
  Clock::time_point submitted = Clock::now(), first_token, last_token, done;

  /// The text so far and the whole output: valid once finished.
  std::string text() const;

 private:
  void publish(const std::string& text, bool finished, const std::string& reason);

  uint64_t id_;
  RequestParams params_;
  std::function<std::string(const std::vector<int64_t>&)> decode_;
  std::vector<int64_t> output_;
  size_t emitted_chars_ = 0;  ///< text characters already published
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> finished_{false};

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::string pending_text_, final_text_;
  int64_t pending_tokens_ = 0;
  bool pending_finished_ = false;
  std::string finish_reason_;
  std::string error_;
};

}  // namespace dsla::serve
