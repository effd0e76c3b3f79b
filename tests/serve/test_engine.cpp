// Engine tests on a small stories260K run (5 stages): one request equals `dsla generate` at the
// same depth token for token; a batch of requests joining at different times equals each request
// alone; a depth change leaves in-flight requests unchanged; cancellation frees the slot; bad
// requests are refused; a depth change reaches requests still waiting for their prefill; the
// controller goes deeper under load and back when it falls; one decode pass over batches of several
// depths equals each depth alone.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <thread>

#include "core/error.h"
#include "distill/driver.h"
#include "model/generator.h"
#include "run/open_run.h"
#include "serve/engine.h"
#include "serve/mixed_decode.h"
#include "support/test_paths.h"
#include "support/tiny_recipe.h"

using namespace dsla;
namespace t = dsla::testing;
namespace fs = std::filesystem;

namespace {

/// A 5-stage run (all layers, a few steps each): every depth 0..5 is a different model.
const fs::path& run_dir() {
  static const fs::path dir = [] {
    fs::path d = t::make_temp_dir("serve_run") / "run";
    config::Recipe r = t::tiny_stories_recipe(d);
    r.data.max_eval_tokens = 512;
    r.distill.order = config::OrderKind::deepest_first;
    r.distill.fraction = 1.0;
    r.distill.steps_per_layer = 4;
    r.distill.e2e_steps = 0;
    distill::run_distill(r, {});
    return d;
  }();
  return dir;
}

/// `dsla generate` at `depth`: the run's model after stage `depth`, loaded on its own.
std::vector<int64_t> reference(int64_t depth, const std::vector<int64_t>& prompt, int64_t n,
                               int64_t prefill_chunk = 0) {
  run::RunModel m = run::load_run_model(run_dir(), depth);
  c10::InferenceMode guard;
  model::GenerateOptions o;
  o.max_new_tokens = n;
  o.prefill_chunk = prefill_chunk;
  return model::generate(*m.model, prompt, o).tokens;
}

std::vector<int64_t> prompt_of(int64_t length, int64_t seed) {
  std::vector<int64_t> p{1};
  for (int64_t i = 1; i < length; ++i) p.push_back(2 + (seed * 131 + i * 17) % 400);
  return p;
}

serve::RequestParams params(std::vector<int64_t> prompt, int64_t max_tokens) {
  serve::RequestParams p;
  p.prompt = std::move(prompt);
  p.max_tokens = max_tokens;
  return p;
}

void wait(const std::shared_ptr<serve::RequestState>& r) {
  serve::RequestEvent e;
  while (!(r->wait_event(e, std::chrono::seconds(5)) && e.finished)) {
  }
}

/// Waits (up to 2 s) until the engine has admitted a request into its prefill.
void wait_for_prefill(const serve::Engine& e) {
  for (int i = 0; i < 2000 && e.stats().prefilling == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

/// A batch cache of `prompts` prefilled one by one at `depth` and merged (left-padded).
serve::BatchCache prefilled(serve::ServedModel& h, int64_t depth,
                            const std::vector<std::vector<int64_t>>& prompts) {
  serve::BatchCache cache(h.num_layers());
  for (const auto& p : prompts) {
    model::InferenceCache c(h.num_layers());
    auto n = static_cast<int64_t>(p.size());
    h.at_depth(depth)->forward(at::tensor(p, at::kLong).view({1, n}), 0, &c,
                               model::LogitsFor::kLast);
    cache.append(std::move(c), 1, n);
  }
  return cache;
}

struct EngineFixture : ::testing::Test {
  void SetUp() override { model = serve::ServedModel::load(run_dir()); }
  std::unique_ptr<serve::Engine> engine(serve::EngineOptions o = {}) {
    serve::ControllerConfig c;
    c.max_depth = model->max_depth();
    c.fixed = true;
    return std::make_unique<serve::Engine>(*model, o, c);
  }
  std::unique_ptr<serve::ServedModel> model;
};

TEST_F(EngineFixture, OneRequestEqualsGenerateAtEveryDepth) {
  ASSERT_EQ(model->max_depth(), 5);
  auto e = engine();
  for (int64_t depth : {0, 2, 5}) {
    e->set_depth(depth);
    auto prompt = prompt_of(20, depth);
    auto r = e->submit(params(prompt, 24));
    wait(r);
    EXPECT_EQ(r->depth, depth);
    EXPECT_EQ(r->output(), reference(depth, prompt, 24)) << "depth " << depth;
    EXPECT_EQ(r->finish_reason(), "length");
  }
}

TEST_F(EngineFixture, ChunkedPrefillEqualsChunkedGenerate) {
  serve::EngineOptions o;
  o.prefill_chunk = 16;
  auto e = engine(o);
  e->set_depth(3);
  auto prompt = prompt_of(45, 7);
  auto r = e->submit(params(prompt, 12));
  wait(r);
  EXPECT_EQ(r->output(), reference(3, prompt, 12, 16));
}

TEST_F(EngineFixture, BatchedRequestsEqualUnbatchedOnes) {
  for (int64_t depth : {0, 4}) {
    auto e = engine();
    e->set_depth(depth);
    std::vector<std::shared_ptr<serve::RequestState>> rs;
    std::vector<std::vector<int64_t>> prompts;
    for (int64_t i = 0; i < 5; ++i) {
      prompts.push_back(prompt_of(6 + 9 * i, i));
      rs.push_back(e->submit(params(prompts.back(), 10 + 3 * i)));
      std::this_thread::sleep_for(std::chrono::milliseconds(3 * i));  // join at different steps
    }
    for (size_t i = 0; i < rs.size(); ++i) {
      wait(rs[i]);
      EXPECT_EQ(rs[i]->output(), reference(depth, prompts[i], 10 + 3 * static_cast<int64_t>(i)))
          << "depth " << depth << " request " << i;
    }
    EXPECT_EQ(e->stats().running, 0);
  }
}

TEST_F(EngineFixture, DepthChangeLeavesInFlightRequestsUnchanged) {
  auto e = engine();
  e->set_depth(0);
  auto p0 = prompt_of(12, 1), p1 = prompt_of(30, 2);
  auto a = e->submit(params(p0, 40)), b = e->submit(params(p1, 40));
  serve::RequestEvent ev;
  ASSERT_TRUE(b->wait_event(ev, std::chrono::seconds(30)));  // a and b are decoding
  e->set_depth(5);
  auto p2 = prompt_of(20, 3);
  auto c = e->submit(params(p2, 20));
  wait(a);
  wait(b);
  wait(c);
  EXPECT_EQ(a->depth, 0);
  EXPECT_EQ(b->depth, 0);
  EXPECT_EQ(c->depth, 5);
  EXPECT_EQ(a->output(), reference(0, p0, 40));
  EXPECT_EQ(b->output(), reference(0, p1, 40));
  EXPECT_EQ(c->output(), reference(5, p2, 20));
  // The depths are different models, so admitting at the wrong one would show.
  EXPECT_NE(reference(0, p2, 20), reference(5, p2, 20));
  EXPECT_NE(reference(5, p0, 40), a->output());
}

TEST_F(EngineFixture, DepthChangeReachesRequestsWaitingForTheirPrefill) {
  serve::EngineOptions o;
  o.prefill_chunk = 1;  // a 500-token prompt takes 500 iterations (100s of ms) to prefill
  auto e = engine(o);
  e->set_depth(0);
  auto p0 = prompt_of(500, 4), p1 = prompt_of(15, 5);
  auto a = e->submit(params(p0, 8));
  wait_for_prefill(*e);
  ASSERT_EQ(e->stats().prefilling, 1);  // a has been admitted at depth 0
  auto b = e->submit(params(p1, 8));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  serve::EngineStats s = e->stats();
  EXPECT_EQ(s.prefilling, 1);  // b waits in the queue, without a depth, while a prefills
  EXPECT_EQ(s.queued, 1);
  e->set_depth(5);
  wait(a);
  wait(b);
  EXPECT_EQ(a->depth, 0);
  EXPECT_EQ(b->depth, 5);
  EXPECT_EQ(a->output(), reference(0, p0, 8, 1));
  EXPECT_EQ(b->output(), reference(5, p1, 8));
}

TEST_F(EngineFixture, ControllerGoesDeeperUnderLoadAndBackWhenItFalls) {
  serve::EngineOptions o;
  o.prefill_chunk = 1;  // the first request's 300-token prefill keeps the others waiting
  serve::ControllerConfig c;
  c.max_depth = model->max_depth();
  c.step = 5;
  c.queue_high = 1;  // deeper when 2 or more wait
  c.queue_low = 1;   // back when none waits
  c.prompt_high = c.prompt_low = 100000;
  c.cooldown_s = 0;
  serve::Engine e(*model, o, c);
  auto pa = prompt_of(300, 6), pb = prompt_of(12, 7), pc = prompt_of(17, 8);
  auto a = e.submit(params(pa, 4));
  wait_for_prefill(e);
  auto b = e.submit(params(pb, 6)), d = e.submit(params(pc, 6));
  wait(a);
  wait(b);
  wait(d);
  EXPECT_EQ(a->depth, 0);
  EXPECT_EQ(b->depth, 5);
  EXPECT_EQ(d->depth, 5);
  EXPECT_EQ(b->output(), reference(5, pb, 6));
  EXPECT_EQ(d->output(), reference(5, pc, 6));
  // Idle, the engine still looks at the load every second: the queue emptied, so the depth falls.
  for (int i = 0; i < 50 && e.stats().depth != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(e.stats().depth, 0);
  EXPECT_EQ(e.stats().depth_changes_total, 2);
}

TEST_F(EngineFixture, MixedDecodeEqualsEachDepthAlone) {
  c10::InferenceMode guard;
  const std::vector<int64_t> depths{0, 2, 5};
  std::vector<serve::BatchCache> mixed, alone;
  for (int64_t d : depths) {
    std::vector<std::vector<int64_t>> prompts{prompt_of(7 + 5 * d, d), prompt_of(19, 10 + d)};
    mixed.push_back(prefilled(*model, d, prompts));
    alone.push_back(prefilled(*model, d, prompts));
  }
  for (int64_t step = 0; step < 3; ++step) {
    std::vector<serve::DepthBatch> batches;
    for (size_t g = 0; g < depths.size(); ++g) {
      at::Tensor ids =
          at::tensor(std::vector<int64_t>{5 + step, 40 + 7 * step + depths[g]}, at::kLong)
              .view({2, 1});
      batches.push_back({depths[g], ids, &mixed[g]});
    }
    at::Tensor got = serve::decode_mixed(*model, batches);  // [6, 1, V]
    ASSERT_EQ(got.size(0), 6);
    for (size_t g = 0; g < depths.size(); ++g) {
      serve::BatchCache& c = alone[g];
      at::Tensor want = model->at_depth(depths[g])->forward(batches[g].ids, c.columns(), &c.cache(),
                                                            model::LogitsFor::kLast, c.pad());
      at::Tensor part = got.narrow(0, 2 * static_cast<int64_t>(g), 2);
      // Matrix products over 6 rows instead of 2 round differently in fp32 (about 1e-7 relative
      // per product), so the logits agree to a small fraction of their scale, not bit for bit.
      double scale = want.abs().max().item<double>();
      double diff = (part - want).abs().max().item<double>();
      EXPECT_LT(diff, 1e-5 * scale) << "step " << step << " depth " << depths[g];
      EXPECT_TRUE(at::equal(part.argmax(-1), want.argmax(-1)));
      mixed[g].advance();
      c.advance();
    }
  }
  // Ids that do not match the cache's rows are refused.
  std::vector<serve::DepthBatch> bad{{0, at::zeros({3, 1}, at::kLong), &mixed[0]}};
  EXPECT_THROW(serve::decode_mixed(*model, bad), Error);
}

TEST_F(EngineFixture, CancelledRequestFreesItsSlot) {
  serve::EngineOptions o;
  o.max_batch = 1;
  auto e = engine(o);
  auto long_one = e->submit(params(prompt_of(10, 1), 400));
  auto queued = e->submit(params(prompt_of(10, 2), 5));
  serve::RequestEvent ev;
  ASSERT_TRUE(long_one->wait_event(ev, std::chrono::seconds(30)));
  long_one->cancel();
  wait(long_one);
  wait(queued);  // admitted only once the cancelled one left
  EXPECT_EQ(long_one->finish_reason(), "cancelled");
  EXPECT_LT(long_one->output().size(), 400u);
  EXPECT_EQ(queued->finish_reason(), "length");
  EXPECT_EQ(e->stats().finished_total["cancelled"], 1);
}

TEST_F(EngineFixture, RefusesRequestsItCannotServe) {
  serve::EngineOptions o;
  o.max_context = 64;
  auto e = engine(o);
  EXPECT_THROW(e->submit(params({}, 5)), Error);
  EXPECT_THROW(e->submit(params(prompt_of(64, 0), 1)), Error);   // prompt too long
  EXPECT_THROW(e->submit(params(prompt_of(10, 0), 60)), Error);  // past the context
  EXPECT_THROW(e->submit(params(prompt_of(10, 0), 0)), Error);
  EXPECT_THROW(e->submit(params(prompt_of(10, 0), INT64_MAX)), Error);  // no wrap-around
  EXPECT_THROW(e->submit(params({1, 999999}, 4)), Error);               // outside the vocab
  e->shutdown(std::chrono::milliseconds(0));
  EXPECT_THROW(e->submit(params(prompt_of(10, 0), 4)), Error);  // shutting down
}

TEST_F(EngineFixture, ShutdownDrainsThenEndsRunningRequests) {
  auto e = engine();
  auto r = e->submit(params(prompt_of(10, 4), 400));
  serve::RequestEvent ev;
  ASSERT_TRUE(r->wait_event(ev, std::chrono::seconds(30)));
  e->shutdown(std::chrono::milliseconds(50));
  e->join();
  EXPECT_TRUE(r->finished());
  EXPECT_EQ(r->finish_reason(), "shutdown");
}

}  // namespace
