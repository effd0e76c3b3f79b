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
#include <utility>
#include <vector>

#include "model/sampling_options.h"

namespace dsla::serve {

using Clock = std::chrono::steady_clock;

struct RequestParams {
  std::vector<int64_t> prompt;
  int64_t max_tokens = 16;  ///< 0 only with echo: the prompt is scored, nothing generated
  int64_t logprobs = -1;    ///< log-probabilities of each token and its `logprobs` best; -1 = none
  bool echo = false;        ///< also score the prompt's tokens (with logprobs >= 0)
  model::SamplingOptions sampling;  ///< greedy unless temperature > 0
  std::vector<std::string> stop;    ///< the text ends before the first of these
  std::vector<int64_t> stop_ids;    ///< ends after emitting one of these (EOS)
};

/// A token's log-probability under the model (the raw logits, before temperature and top-k/p) and
/// the `logprobs` most likely tokens at its position.
struct TokenLogprob {
  int64_t token = 0;
  double logprob = 0;
  std::vector<std::pair<int64_t, double>> top;
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
  /// Records the log-probabilities of prompt tokens 1.. (echo) or of the next generated token
  /// (called before its add_token()).
  void add_prompt_logprob(TokenLogprob lp) { prompt_logprobs_.push_back(std::move(lp)); }
  void add_output_logprob(TokenLogprob lp) { output_logprobs_.push_back(std::move(lp)); }
  /// Ends the request early ("cancelled" or "shutdown"), or ("length") after a prompt scored with
  /// max_tokens 0.
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
  /// Valid once finished: the prompt's scores (tokens 1.. of the prompt) and the output's.
  const std::vector<TokenLogprob>& prompt_logprobs() const { return prompt_logprobs_; }
  const std::vector<TokenLogprob>& output_logprobs() const { return output_logprobs_; }

 private:
  void publish(const std::string& text, bool finished, const std::string& reason);

  uint64_t id_;
  RequestParams params_;
  std::function<std::string(const std::vector<int64_t>&)> decode_;
  std::vector<int64_t> output_;
  std::vector<TokenLogprob> prompt_logprobs_, output_logprobs_;
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
