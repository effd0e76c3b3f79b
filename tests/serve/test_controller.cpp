// Tests of the depth controller (the reference policy with hysteresis and cooldown, the optional
// signals, the quality guard) and of the quality guard's reading of eval.json.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "serve/controller.h"
#include "support/test_paths.h"

using namespace dsla::serve;

namespace {

ControllerConfig config() {
  ControllerConfig c;
  c.max_depth = 10;
  c.prompt_high = 1000;
  c.prompt_low = 200;
  c.queue_high = 4;
  c.queue_low = 2;
  c.cooldown_s = 5;
  return c;
}

LoadSignals at(double t, int64_t queue, int64_t longest) {
  LoadSignals s;
  s.time_s = t;
  s.queue_size = queue;
  s.longest_queued_prompt = longest;
  return s;
}

}  // namespace

TEST(DepthController, DeeperUnderLoadShallowerWhenItFallsWithCooldownAndHysteresis) {
  DepthController c(config(), 0);
  EXPECT_FALSE(c.update(at(0, 1, 100)));  // light load at the teacher: nothing to do
  auto d = c.update(at(1, 5, 100));       // queue 5 > 4
  ASSERT_TRUE(d);
  EXPECT_EQ(d->from, 0);
  EXPECT_EQ(d->to, 1);
  EXPECT_EQ(d->signals.queue_size, 5);
  EXPECT_NE(d->reason.find("queue 5 > 4"), std::string::npos) << d->reason;
  EXPECT_FALSE(c.update(at(3, 9, 100)));    // cooldown
  ASSERT_TRUE(c.update(at(6.5, 0, 2000)));  // long prompt queued
  EXPECT_EQ(c.depth(), 2);
  EXPECT_FALSE(c.update(at(20, 3, 100)));  // between the thresholds: stay
  auto back = c.update(at(30, 1, 100));    // both below the low thresholds
  ASSERT_TRUE(back);
  EXPECT_EQ(back->to, 1);
  EXPECT_EQ(to_json(*back)["signals"]["queue_size"], 1);
}

TEST(DepthController, StaysWithinTheCeilingAndTheQualityGuard) {
  ControllerConfig cfg = config();
  cfg.quality_max_depth = 2;
  cfg.cooldown_s = 0;
  DepthController c(cfg, 7);  // clamped to the guard
  EXPECT_EQ(c.depth(), 2);
  EXPECT_EQ(c.ceiling(), 2);
  EXPECT_FALSE(c.update(at(1, 50, 5000)));
  cfg.quality_max_depth.reset();
  cfg.min_depth = 3;
  DepthController floor(cfg, 0);
  EXPECT_EQ(floor.depth(), 3);
  EXPECT_FALSE(floor.update(at(1, 0, 0)));  // cannot go below min_depth
}

TEST(DepthController, OptionalSignals) {
  ControllerConfig cfg = config();
  cfg.cooldown_s = 0;
  cfg.tpot_slo_ms = 50;
  cfg.cache_pressure_high = 0.8;
  DepthController c(cfg, 0);
  LoadSignals s = at(1, 0, 0);
  s.p99_tpot_ms = 80;
  auto d = c.update(s);
  ASSERT_TRUE(d);
  EXPECT_NE(d->reason.find("TPOT"), std::string::npos);
  s.time_s = 2;
  s.p99_tpot_ms = 30;  // under the SLO but not under half of it: stay
  EXPECT_FALSE(c.update(s));
  s.time_s = 3;
  s.cache_pressure = 0.9;
  ASSERT_TRUE(c.update(s));
  EXPECT_EQ(c.depth(), 2);
  s.time_s = 4;
  s.cache_pressure = 0.1;
  s.p99_tpot_ms = 10;
  ASSERT_TRUE(c.update(s));
  EXPECT_EQ(c.depth(), 1);
}

TEST(QualityGuard, DeepestDepthWithinToleranceOfTheTeacher) {
  auto dir = dsla::testing::make_temp_dir("quality");
  std::ofstream(dir / "eval.json") << R"({"rows": [
    {"task": "squad", "converted": 0, "metrics": {"f1": 30.0}},
    {"task": "squad", "converted": 8, "metrics": {"f1": 28.0}},
    {"task": "squad", "converted": 15, "metrics": {"f1": 20.0}},
    {"task": "squad", "converted": 23, "metrics": {"f1": 29.0}},
    {"task": "xsum", "converted": 30, "metrics": {"rouge1": 1.0}}]})";
  std::string file = (dir / "eval.json").string();
  EXPECT_EQ(quality_max_depth(file, "squad", "f1", 0.1), 8);  // 15 fails; 23 is past a failure
  EXPECT_EQ(quality_max_depth(file, "squad", "f1", 0.5), 23);
  EXPECT_EQ(quality_max_depth(file, "squad", "f1", 0.0), 0);
  EXPECT_THROW(quality_max_depth(file, "squad", "exact", 0.1), dsla::Error);
  EXPECT_THROW(quality_max_depth(file, "nope", "f1", 0.1), dsla::Error);
  EXPECT_THROW(quality_max_depth(file, "xsum", "rouge1", 0.1), dsla::Error);  // no teacher row
  EXPECT_THROW(quality_max_depth((dir / "missing.json").string(), "squad", "f1", 0.1), dsla::Error);
}
