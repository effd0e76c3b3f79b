// Tests of the c10d process group: two ranks as threads of one process over loopback Gloo
// (all-reduce, broadcast, run_on_main with its error passed on), and the environment parser.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <future>

#include "core/error.h"
#include "dist/group.h"
#include "dist/local_launcher.h"

namespace dsla::dist {
namespace {

/// Runs `body(group)` as ranks 0 and 1 of a loopback job; returns each rank's result.
template <typename Body>
auto two_ranks(Body body) {
  int port = free_loopback_port();
  auto rank = [&](int r) {
    Environment env;
    env.rank = r;
    env.world_size = 2;
    env.master_port = port;
    GroupOptions options;
    options.timeout = std::chrono::seconds(20);
    Group group(env, options);
    return body(group);
  };
  auto f0 = std::async(std::launch::async, rank, 0), f1 = std::async(std::launch::async, rank, 1);
  return std::make_pair(f0.get(), f1.get());
}

TEST(Group, AllReduceSumsMixedDtypesAndShapes) {
  auto [a, b] = two_ranks([](Group& g) {
    std::vector<at::Tensor> t{at::ones({2, 3}) * (g.rank() + 1),
                              at::arange(4, at::kLong) * (g.rank() + 1), at::ones({}, at::kDouble)};
    g.all_reduce_sum(t, "test");
    return t;
  });
  for (const auto& t : {a, b}) {
    EXPECT_TRUE(at::allclose(t[0], at::ones({2, 3}) * 3));
    EXPECT_TRUE(at::equal(t[1], at::arange(4, at::kLong) * 3));
    EXPECT_EQ(t[2].item<double>(), 2.0);
  }
}

TEST(Group, BroadcastAndStrings) {
  auto [a, b] = two_ranks([](Group& g) {
    std::vector<at::Tensor> t{at::ones({5}) * (g.rank() + 7)};
    g.broadcast(t, 1, "test");
    std::string s = g.broadcast_string(g.is_main() ? "from rank 0" : "ignored", 0, "test");
    std::string empty = g.broadcast_string("", 0, "test");
    return std::make_tuple(t[0], s, empty);
  });
  for (const auto& r : {a, b}) {
    EXPECT_TRUE(at::allclose(std::get<0>(r), at::ones({5}) * 8));
    EXPECT_EQ(std::get<1>(r), "from rank 0");
    EXPECT_EQ(std::get<2>(r), "");
  }
}

TEST(Group, RunOnMainSharesResultsAndErrors) {
  auto [a, b] = two_ranks([](Group& g) {
    nlohmann::json ok = run_on_main(g, "answer", [] { return nlohmann::json{{"x", 42}}; });
    std::string error;
    try {
      run_on_main(g, "failing work", []() -> nlohmann::json { DSLA_FAIL("disk full"); });
    } catch (const Error& e) {
      error = e.what();
    }
    return std::make_pair(ok, error);
  });
  EXPECT_EQ(a.first["x"], 42);
  EXPECT_EQ(b.first["x"], 42);
  EXPECT_EQ(a.second, "disk full");
  EXPECT_EQ(b.second, "failing work failed on rank 0: disk full");
}

TEST(Group, SingleRankCollectivesAreNoOps) {
  Group g;
  std::vector<at::Tensor> t{at::ones({3})};
  g.all_reduce_sum(t, "test");
  EXPECT_TRUE(at::allclose(t[0], at::ones({3})));
  EXPECT_EQ(run_on_main(g, "x", [] { return nlohmann::json(5); }), 5);
}

TEST(Environment, ReadsTorchrunVariablesAndRefusesHalfSetOnes) {
  for (const char* v : {"WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
                        "MASTER_PORT", "SLURM_NTASKS", "SLURM_PROCID"}) {
    ::unsetenv(v);
  }
  EXPECT_FALSE(environment_from_variables().has_value());
  ::setenv("WORLD_SIZE", "4", 1);
  EXPECT_THROW(environment_from_variables(), Error);  // no RANK
  ::setenv("RANK", "3", 1);
  EXPECT_THROW(environment_from_variables(), Error);  // no MASTER_ADDR
  ::setenv("MASTER_ADDR", "10.0.0.1", 1);
  ::setenv("MASTER_PORT", "29400", 1);
  auto env = environment_from_variables();
  ASSERT_TRUE(env.has_value());
  EXPECT_EQ(env->rank, 3);
  EXPECT_EQ(env->world_size, 4);
  EXPECT_EQ(env->local_rank, 3);
  EXPECT_EQ(env->master_addr, "10.0.0.1");
  ::setenv("MASTER_PORT", "http", 1);
  EXPECT_THROW(environment_from_variables(), Error);
  ::setenv("MASTER_PORT", "29400", 1);
  ::setenv("RANK", "4", 1);
  EXPECT_THROW(environment_from_variables(), Error);
  // Slurm's variables stand in for torchrun's.
  ::unsetenv("WORLD_SIZE");
  ::unsetenv("RANK");
  ::setenv("SLURM_NTASKS", "2", 1);
  ::setenv("SLURM_PROCID", "1", 1);
  env = environment_from_variables();
  ASSERT_TRUE(env.has_value());
  EXPECT_EQ(env->rank, 1);
  EXPECT_EQ(env->world_size, 2);
  for (const char* v : {"SLURM_NTASKS", "SLURM_PROCID", "MASTER_ADDR", "MASTER_PORT"})
    ::unsetenv(v);
}

TEST(Launcher, StripsNproc) {
  int n = 0;
  auto out = strip_nproc({"distill", "r.yaml", "--nproc", "3", "--resume"}, n);
  EXPECT_EQ(n, 3);
  EXPECT_EQ(out, (std::vector<std::string>{"distill", "r.yaml", "--resume"}));
  out = strip_nproc({"distill", "--nproc=2"}, n);
  EXPECT_EQ(n, 2);
  EXPECT_THROW(strip_nproc({"distill", "--nproc", "x"}, n), Error);
  EXPECT_THROW(strip_nproc({"distill", "--nproc"}, n), Error);
}

}  // namespace
}  // namespace dsla::dist
