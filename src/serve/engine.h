// The continuous-batching engine: requests queue, are admitted one at a time at the controller's
// current depth, prefill alone in chunks interleaved with decode steps, then join the running batch
// of their depth until they stop; one decode step serves the batches of every depth in a single
// pass. One engine thread runs the model.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "model/sampling.h"
#include "serve/batch_cache.h"
#include "serve/controller.h"
#include "serve/request.h"
#include "serve/served_model.h"
#include "serve/stats.h"

namespace dsla::serve {

struct EngineOptions {
  int64_t max_batch = 8;           ///< running requests (all depths together)
  int64_t max_context = 0;         ///< prompt + max_tokens limit; 0 = the model's positions
  int64_t cache_budget_bytes = 0;  ///< admission control on reserved cache; 0 = no limit
  int64_t prefill_chunk = 512;     ///< prompt tokens prefilled between two decode steps
  std::string decisions_file;      ///< JSONL log of depth decisions (also on stderr); "" = none
};

class Engine {
 public:
  Engine(ServedModel& model, const EngineOptions& options, const ControllerConfig& controller);
  ~Engine();

  /// Queues a request. Throws dsla::Error (a bad request) when it cannot ever be served: empty
  /// or too long a prompt, max_tokens out of range, more cache than the budget; or when the
  /// engine is shutting down.
  std::shared_ptr<RequestState> submit(RequestParams params);
  /// Sets the depth for requests admitted from now on (tests, or a fixed-depth server).
  void set_depth(int64_t depth);
  /// Stops admitting; lets running requests finish for up to `drain`, then ends them
  /// ("shutdown") and the queued ones, and stops the engine thread.
  void shutdown(std::chrono::milliseconds drain);
  bool accepting() const { return !stopping_; }
  /// Waits for the engine thread to end (after shutdown()).
  void join();

  EngineStats stats() const;
  const ServedModel& model() const { return model_; }
  const EngineOptions& options() const { return options_; }
  /// Prompt + max_tokens limit in tokens (the option, or the model's positions).
  int64_t max_context() const { return max_context_; }

 private:
  struct Running {
    std::shared_ptr<RequestState> request;
    std::unique_ptr<model::Sampler> sampler;
    int64_t last = 0;  ///< the token to feed next
    int64_t reserved_bytes = 0;
  };
  struct Prefill {
    Running run;
    model::InferenceCache cache;
    int64_t done = 0;  ///< prompt tokens prefilled
  };
  struct Cohort {
    explicit Cohort(int64_t layers) : cache(layers) {}
    BatchCache cache;
    std::vector<Running> rows;
  };

  void loop();
  /// Ends cancelled queued requests; when no prefill is running, moves the oldest queued request
  /// into prefill at the controller's depth if a slot and the cache budget allow.
  void admit();
  /// Prefills up to prefill_chunk prompt tokens of the admitted request; a finished prefill samples
  /// its first token and joins its depth's cohort.
  void prefill_step();
  /// One token for every running request, all depths in one pass (decode_mixed).
  void decode_step();
  /// Keeps only the rows `keep` (indices into cohort.rows, in order) of a cohort and its cache.
  static void keep_rows(Cohort& cohort, const std::vector<int64_t>& keep);
  /// Ends the cohort's cancelled rows and drops them from its batch.
  void drop_cancelled(Cohort& cohort);
  /// Samples each row's token from its logits [rows, 1, V]; drops the rows that finished.
  void take_tokens(Cohort& cohort, const at::Tensor& logits);
  /// With `logprobs` requested, records the sampled `token`'s score under `logits` [1, V].
  void record_output_logprob(RequestState& r, const at::Tensor& logits, int64_t token);
  void finish_and_release(Running& r, const std::string& reason);
  /// Ends `r` with an error (finish reason "error") and frees its reservation, once.
  void fail_and_release(Running& r, const std::string& message);
  /// The prefilling request failed: it ends with `message`, the engine carries on.
  void fail_prefill(const std::string& message);
  /// A decode step failed: every running request ends with `message` (their caches are suspect).
  void fail_running(const std::string& message);
  LoadSignals signals();
  /// Copies the engine thread's gauges (running, prefilling, cache bytes) for stats().
  void publish_gauges();
  void log_decision(const DepthDecision& d);
  double seconds_since_start() const;

  ServedModel& model_;
  EngineOptions options_;
  int64_t max_context_;
  int64_t
      sample_vocab_;  ///< ids a request may hold or be sampled: the tokenizer's, at most vocab_size

  mutable std::mutex mutex_;  ///< guards queue_, controller_, stopping_ and the stats counters
  std::condition_variable wake_;
  std::deque<std::shared_ptr<RequestState>> queue_;
  DepthController controller_;
  std::atomic<bool> stopping_{false};
  Clock::time_point drain_deadline_ = Clock::time_point::max();
  uint64_t next_id_ = 1;

  // Engine thread only.
  std::optional<Prefill> prefill_;     ///< the request being prefilled (prefill is serial)
  std::map<int64_t, Cohort> cohorts_;  ///< depth -> running batch
  int64_t reserved_bytes_ = 0;

  EngineStats gauges_;  ///< guarded by mutex_
  StatsRecorder recorder_;
  Clock::time_point start_ = Clock::now();
  std::ofstream decisions_;
  std::thread thread_;
};

}  // namespace dsla::serve
