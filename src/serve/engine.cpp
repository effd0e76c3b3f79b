// Implementation of the engine: admission, chunked prefill, batched decode per depth, release.
#include "serve/engine.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>

#include <iostream>

#include "core/error.h"
#include "core/seconds.h"
#include "serve/mixed_decode.h"
#include "serve/token_logprobs.h"

namespace dsla::serve {
namespace {

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

Engine::Engine(ServedModel& model, const EngineOptions& options, const ControllerConfig& controller)
    : model_(model),
      options_(options),
      max_context_(options.max_context > 0 ? options.max_context
                                           : model.config().max_position_embeddings),
      // A padded vocabulary (more logits than the tokenizer has ids) samples only real ids.
      sample_vocab_(std::min(model.config().vocab_size, model.tokenizer().vocab_size())),
      controller_(controller, controller.min_depth) {
  DSLA_CHECK(options.max_batch >= 1, "max batch {} must be at least 1", options.max_batch);
  DSLA_CHECK(options.prefill_chunk >= 1, "prefill chunk {} must be at least 1",
             options.prefill_chunk);
  if (!options.decisions_file.empty()) {
    decisions_.open(options.decisions_file, std::ios::app);
    DSLA_CHECK(decisions_.good(), "{}: cannot open for appending", options.decisions_file);
  }
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
  shutdown(std::chrono::milliseconds(0));
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<RequestState> Engine::submit(RequestParams params) {
  auto prompt = static_cast<int64_t>(params.prompt.size());
  DSLA_CHECK(prompt >= 1, "the prompt is empty");
  DSLA_CHECK(prompt < max_context_, "the prompt has {} tokens; this server allows at most {}",
             prompt, max_context_ - 1);
  const int64_t least = params.echo ? 0 : 1;  // echo with max_tokens 0 only scores the prompt
  DSLA_CHECK(
      params.max_tokens >= least && params.max_tokens <= max_context_ - prompt,  // no overflow
      "max_tokens {} is out of range: {} .. {} for a prompt of {} tokens", params.max_tokens, least,
      max_context_ - prompt, prompt);
  for (int64_t id : params.prompt) {
    DSLA_CHECK(id >= 0 && id < sample_vocab_, "token id {} is outside the tokenizer's {} ids", id,
               sample_vocab_);
  }
  params.sampling.vocab_limit = sample_vocab_;
  if (options_.cache_budget_bytes > 0) {
    int64_t need = model_.cache_bytes(controller_.ceiling(), prompt + params.max_tokens);
    DSLA_CHECK(need <= options_.cache_budget_bytes,
               "the request needs {} bytes of cache even at the deepest depth; the budget is {}",
               need, options_.cache_budget_bytes);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  DSLA_CHECK(!stopping_, "the server is shutting down");
  const Tokenizer& tokenizer = model_.tokenizer();
  auto request = std::make_shared<RequestState>(
      next_id_++, std::move(params),
      [&tokenizer](const std::vector<int64_t>& ids) { return tokenizer.decode(ids); });
  queue_.push_back(request);
  wake_.notify_all();
  return request;
}

void Engine::set_depth(int64_t depth) {
  std::lock_guard<std::mutex> lock(mutex_);
  ControllerConfig fixed;
  fixed.min_depth = model_.min_depth();
  fixed.max_depth = model_.max_depth();
  fixed.fixed = true;
  DSLA_CHECK(depth >= fixed.min_depth && depth <= fixed.max_depth, "depth {} is outside [{}, {}]",
             depth, fixed.min_depth, fixed.max_depth);
  controller_ = DepthController(fixed, depth);
}

void Engine::shutdown(std::chrono::milliseconds drain) {
  std::deque<std::shared_ptr<RequestState>> dropped;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_) drain_deadline_ = Clock::now() + drain;
    stopping_ = true;
    dropped.swap(queue_);
    wake_.notify_all();
  }
  for (auto& r : dropped) {
    r->finish("shutdown");
    recorder_.finished("shutdown", ms_between(r->submitted, Clock::now()));
  }
}

void Engine::join() {
  if (thread_.joinable()) thread_.join();
}

double Engine::seconds_since_start() const {
  return seconds_since(start_);
}

LoadSignals Engine::signals() {
  LoadSignals s;
  s.time_s = seconds_since_start();
  s.queue_size = static_cast<int64_t>(queue_.size());
  for (const auto& r : queue_) {
    auto n = static_cast<int64_t>(r->params().prompt.size());
    s.longest_queued_prompt = std::max(s.longest_queued_prompt, n);
    s.queued_tokens += n;
  }
  if (options_.cache_budget_bytes > 0) {
    s.cache_pressure =
        static_cast<double>(reserved_bytes_) / static_cast<double>(options_.cache_budget_bytes);
  }
  s.p99_tpot_ms = recorder_.p99_tpot_ms();
  return s;
}

void Engine::log_decision(const DepthDecision& d) {
  recorder_.depth_change();
  std::cerr << fmt::format("[serve] depth {} -> {} at {:.1f} s: {}\n", d.from, d.to, d.time_s,
                           d.reason);
  if (decisions_.is_open()) {
    decisions_ << to_json(d).dump() << "\n";
    decisions_.flush();
  }
}

void Engine::finish_and_release(Running& r, const std::string& reason) {
  if (!r.request->finished()) r.request->finish(reason);
  reserved_bytes_ -= r.reserved_bytes;
  r.reserved_bytes = 0;
  recorder_.finished(r.request->finish_reason(), ms_between(r.request->submitted, Clock::now()));
}

void Engine::fail_and_release(Running& r, const std::string& message) {
  if (r.request->finished() && r.reserved_bytes == 0) return;  // already released
  if (!r.request->finished()) r.request->fail(message);
  finish_and_release(r, "error");  // finished already: releases and records its reason
}

void Engine::fail_prefill(const std::string& message) {
  if (!prefill_) return;
  std::cerr << fmt::format("[serve] request {} failed in prefill: {}\n",
                           prefill_->run.request->id(), message);
  fail_and_release(prefill_->run, message);
  prefill_.reset();
}

void Engine::fail_running(const std::string& message) {
  int64_t ended = 0;
  for (auto& [depth, cohort] : cohorts_) {
    for (auto& r : cohort.rows) {
      fail_and_release(r, message);
      ++ended;
    }
  }
  cohorts_.clear();  // their caches may be half-advanced
  std::cerr << fmt::format("[serve] decode step failed ({} running requests ended): {}\n", ended,
                           message);
}

void Engine::admit() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (!(*it)->cancelled()) {
      ++it;
      continue;
    }
    (*it)->finish("cancelled");
    recorder_.finished("cancelled", ms_between((*it)->submitted, Clock::now()));
    it = queue_.erase(it);
  }
  // Prefill is serial, so the next request is admitted (and gets its depth) only when the previous
  // prefill has ended: a depth change reaches every request whose computation has not started.
  if (prefill_ || queue_.empty() || stopping_) return;
  int64_t running = 0;
  for (const auto& [depth, cohort] : cohorts_) running += static_cast<int64_t>(cohort.rows.size());
  if (running >= options_.max_batch) return;
  std::shared_ptr<RequestState> r = queue_.front();
  int64_t depth = controller_.depth();
  auto tokens = static_cast<int64_t>(r->params().prompt.size()) + r->params().max_tokens;
  int64_t need = model_.cache_bytes(depth, tokens);
  if (options_.cache_budget_bytes > 0 && reserved_bytes_ + need > options_.cache_budget_bytes &&
      running > 0) {
    return;  // wait for running requests to free their cache
  }
  queue_.pop_front();
  std::unique_ptr<model::Sampler> sampler;
  try {
    sampler = std::make_unique<model::Sampler>(r->params().sampling);
  } catch (const std::exception& e) {
    r->fail(e.what());
    recorder_.finished("error", ms_between(r->submitted, Clock::now()));
    return;
  }
  r->depth = depth;
  reserved_bytes_ += need;
  prefill_.emplace(Prefill{Running{r, std::move(sampler), 0, need},
                           model::InferenceCache(model_.num_layers()), 0});
}

void Engine::prefill_step() {
  if (!prefill_) return;
  Prefill& p = *prefill_;
  RequestState& r = *p.run.request;
  if (r.cancelled()) {
    finish_and_release(p.run, "cancelled");
    prefill_.reset();
    return;
  }
  const auto& prompt = r.params().prompt;
  auto total = static_cast<int64_t>(prompt.size());
  int64_t n = std::min(options_.prefill_chunk, total - p.done);
  at::Tensor ids =
      at::tensor(std::vector<int64_t>(prompt.begin() + p.done, prompt.begin() + p.done + n),
                 at::kLong)
          .view({1, n});
  const bool score_prompt = r.params().echo && r.params().logprobs >= 0;
  at::Tensor logits;  // [1, n, V] when scoring the prompt, else [1, 1, V]
  {
    model::DepthScope scope = model_.at_depth(r.depth);
    logits = scope->forward(ids, p.done, &p.cache,
                            score_prompt ? model::LogitsFor::kAll : model::LogitsFor::kLast);
  }
  if (score_prompt) {
    // Position p.done + j predicts prompt token p.done + j + 1.
    int64_t scored = std::min(n, total - p.done - 1);
    std::vector<int64_t> next(prompt.begin() + p.done + 1, prompt.begin() + p.done + 1 + scored);
    if (scored > 0) {
      for (auto& lp : token_logprobs(logits[0].narrow(0, 0, scored), next, r.params().logprobs,
                                     sample_vocab_)) {
        r.add_prompt_logprob(std::move(lp));
      }
    }
  }
  p.done += n;
  if (p.done < total) return;
  if (r.params().max_tokens == 0) {  // echo only: the prompt is scored, nothing is generated
    finish_and_release(p.run, "length");
    prefill_.reset();
    return;
  }
  at::Tensor last = logits.select(1, logits.size(1) - 1);  // [1, V]
  int64_t token = p.run.sampler->next(last).item<int64_t>();
  record_output_logprob(r, last, token);
  bool done = r.add_token(token);
  recorder_.first_token(ms_between(r.submitted, r.first_token), total);
  if (done) {
    finish_and_release(p.run, "");
  } else {
    p.run.last = token;
    auto [it, inserted] = cohorts_.try_emplace(r.depth, model_.num_layers());
    it->second.cache.append(std::move(p.cache), 1, total);
    it->second.rows.push_back(std::move(p.run));
  }
  prefill_.reset();
}

void Engine::record_output_logprob(RequestState& r, const at::Tensor& logits, int64_t token) {
  if (r.params().logprobs < 0) return;
  r.add_output_logprob(token_logprobs(logits, {token}, r.params().logprobs, sample_vocab_)[0]);
}

void Engine::keep_rows(Cohort& cohort, const std::vector<int64_t>& keep) {
  if (keep.size() == cohort.rows.size()) return;
  std::vector<Running> rows;
  for (int64_t i : keep) rows.push_back(std::move(cohort.rows[static_cast<size_t>(i)]));
  cohort.rows = std::move(rows);
  cohort.cache.keep_rows(at::tensor(keep, at::kLong));
}

void Engine::drop_cancelled(Cohort& cohort) {
  std::vector<int64_t> keep;
  for (size_t i = 0; i < cohort.rows.size(); ++i) {
    if (cohort.rows[i].request->cancelled()) {
      finish_and_release(cohort.rows[i], "cancelled");
    } else {
      keep.push_back(static_cast<int64_t>(i));
    }
  }
  keep_rows(cohort, keep);
}

void Engine::take_tokens(Cohort& cohort, const at::Tensor& logits) {
  std::vector<int64_t> keep;
  for (size_t i = 0; i < cohort.rows.size(); ++i) {
    Running& row = cohort.rows[i];
    at::Tensor row_logits = logits.select(1, 0).narrow(0, static_cast<int64_t>(i), 1);  // [1, V]
    int64_t token = row.sampler->next(row_logits).item<int64_t>();
    record_output_logprob(*row.request, row_logits, token);
    Clock::time_point previous = row.request->last_token;
    bool done = row.request->add_token(token);
    recorder_.token(ms_between(previous, row.request->last_token));
    if (done) {
      finish_and_release(row, "");
    } else {
      row.last = token;
      keep.push_back(static_cast<int64_t>(i));
    }
  }
  keep_rows(cohort, keep);
}

void Engine::decode_step() {
  std::vector<DepthBatch> batches;
  std::vector<Cohort*> stepped;
  for (auto& [depth, cohort] : cohorts_) {
    drop_cancelled(cohort);
    if (cohort.rows.empty()) continue;
    std::vector<int64_t> last;
    for (const auto& r : cohort.rows) last.push_back(r.last);
    auto b = static_cast<int64_t>(last.size());
    batches.push_back({depth, at::tensor(last, at::kLong).view({b, 1}), &cohort.cache});
    stepped.push_back(&cohort);
  }
  if (batches.empty()) return;
  at::Tensor logits = decode_mixed(model_, batches);  // [sum of rows, 1, V]
  int64_t offset = 0;
  for (Cohort* cohort : stepped) {
    auto b = static_cast<int64_t>(cohort->rows.size());
    cohort->cache.advance();
    take_tokens(*cohort, logits.narrow(0, offset, b));
    offset += b;
  }
}

EngineStats Engine::stats() const {
  EngineStats s;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    s = gauges_;
    s.queued = static_cast<int64_t>(queue_.size());
    s.depth = controller_.depth();
    s.ceiling = controller_.ceiling();
  }
  s.max_depth = model_.max_depth();
  s.cache_budget_bytes = options_.cache_budget_bytes;
  recorder_.fill(s);  // the counters and latency summaries
  return s;
}

void Engine::publish_gauges() {
  EngineStats g;
  g.prefilling = prefill_ ? 1 : 0;
  for (auto& [depth, cohort] : cohorts_) {
    g.running += static_cast<int64_t>(cohort.rows.size());
    g.running_by_depth[depth] = static_cast<int64_t>(cohort.rows.size());
    g.cache_bytes += cohort.cache.bytes();
  }
  if (prefill_) g.cache_bytes += prefill_->cache.bytes();
  g.reserved_bytes = reserved_bytes_;
  std::lock_guard<std::mutex> lock(mutex_);
  gauges_ = g;
}

void Engine::loop() {
  c10::InferenceMode inference;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      // Idle, the loop still wakes every second so the controller can step back.
      wake_.wait_for(lock, std::chrono::seconds(1),
                     [&] { return stopping_ || !queue_.empty() || prefill_ || !cohorts_.empty(); });
      if (stopping_ && !prefill_ && cohorts_.empty()) break;
      if (auto d = controller_.update(signals())) log_decision(*d);
    }
    if (stopping_ && Clock::now() > drain_deadline_) {
      if (prefill_) finish_and_release(prefill_->run, "shutdown");
      for (auto& [depth, cohort] : cohorts_)
        for (auto& r : cohort.rows) finish_and_release(r, "shutdown");
      prefill_.reset();
      cohorts_.clear();
      publish_gauges();
      break;
    }
    // No exception leaves the loop: a failing request ends with an error, the others carry on.
    try {
      admit();
    } catch (const std::exception& e) {
      std::cerr << fmt::format("[serve] admission failed: {}\n", e.what());
    }
    try {
      prefill_step();
    } catch (const std::exception& e) {
      fail_prefill(e.what());
    }
    try {
      decode_step();
    } catch (const std::exception& e) {
      fail_running(e.what());
    }
    for (auto it = cohorts_.begin(); it != cohorts_.end();) {
      it = it->second.rows.empty() ? cohorts_.erase(it) : std::next(it);
    }
    publish_gauges();
  }
}

}  // namespace dsla::serve
