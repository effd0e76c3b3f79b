// Tests of the data-parallel batch order: the ranks' batches make up the same global batch for any
// world size, each rank touches only its own items, and bad worlds are refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/error.h"
#include "data/sharded_batches.h"

namespace dsla::data {
namespace {

/// The global batches of `steps` steps (as sorted item lists) with `world` ranks.
std::vector<std::vector<int64_t>> global_batches(int64_t samples, int64_t batch, int world,
                                                 int steps) {
  std::vector<ShardedBatches> ranks;
  for (int r = 0; r < world; ++r) ranks.emplace_back(samples, batch, 11, r, world);
  std::vector<std::vector<int64_t>> out;
  for (int s = 0; s < steps; ++s) {
    std::vector<int64_t> items;
    for (auto& rank : ranks) {
      for (int64_t pos : rank.next_local_batch()) {
        items.push_back(rank.local_items().at(static_cast<size_t>(pos)));
      }
    }
    std::sort(items.begin(), items.end());
    out.push_back(items);
  }
  return out;
}

TEST(ShardedBatches, SameGlobalBatchesForEveryWorldSize) {
  for (auto [samples, batch] : {std::pair<int64_t, int64_t>{64, 8}, {37, 6}, {5, 8}}) {
    auto reference = global_batches(samples, batch, 1, 40);
    for (int world : {2, 3}) {
      if (world > std::min(samples, batch)) continue;
      EXPECT_EQ(global_batches(samples, batch, world, 40), reference)
          << samples << " samples, batch " << batch << ", " << world << " ranks";
    }
  }
}

TEST(ShardedBatches, EveryItemEachEpochAndRanksDisjoint) {
  const int64_t samples = 37, batch = 6;
  ShardedBatches a(samples, batch, 3, 0, 2), b(samples, batch, 3, 1, 2);
  std::set<int64_t> all(a.local_items().begin(), a.local_items().end());
  for (int64_t item : b.local_items()) EXPECT_TRUE(all.insert(item).second) << item;
  EXPECT_EQ(static_cast<int64_t>(all.size()), samples);
  EXPECT_EQ(a.local_batch() + b.local_batch(), batch);
  // Over ceil(37 / 6) steps every stream visits each of its items once: no item twice in a row
  // before its stream's epoch ends.
  auto batches = global_batches(samples, batch, 1, 7);
  std::map<int64_t, int> seen;
  for (const auto& step : batches)
    for (int64_t item : step) ++seen[item];
  EXPECT_EQ(static_cast<int64_t>(seen.size()), samples);
  for (auto [item, count] : seen) EXPECT_LE(count, 2) << item;
}

TEST(ShardedBatches, RefusesBadWorlds) {
  EXPECT_THROW(ShardedBatches(10, 4, 0, 0, 5), Error);  // 5 ranks, 4 items per step
  EXPECT_THROW(ShardedBatches(3, 8, 0, 0, 4), Error);   // 3 sequences only
  EXPECT_THROW(ShardedBatches(10, 4, 0, 2, 2), Error);  // rank outside the world
  EXPECT_THROW(ShardedBatches(0, 4, 0, 0, 1), Error);
  EXPECT_THROW(ShardedBatches(10, 0, 0, 0, 1), Error);
}

}  // namespace
}  // namespace dsla::data
