// Implementation of the rank-independent sharded batch order.
#include "data/sharded_batches.h"

#include <algorithm>

#include "core/error.h"

namespace dsla::data {

ShardedBatches::ShardedBatches(int64_t samples, int64_t global_batch, uint64_t seed, int rank,
                               int world) {
  DSLA_CHECK(samples >= 1, "no training sequences to batch");
  DSLA_CHECK(global_batch >= 1, "batch size {} must be at least 1", global_batch);
  DSLA_CHECK(world >= 1 && rank >= 0 && rank < world, "rank {} is outside a world of {}", rank,
             world);
  streams_ = std::min(global_batch, samples);
  DSLA_CHECK(world <= streams_,
             "{} ranks but only {} sequences per step (the batch size, or fewer training "
             "sequences): every rank needs at least one; use fewer ranks or a larger batch",
             world, streams_);
  for (int64_t s = rank; s < streams_; s += world) {
    for (int64_t item = s; item < samples; item += streams_) local_items_.push_back(item);
  }
  std::sort(local_items_.begin(), local_items_.end());
  for (int64_t s = rank; s < streams_; s += world) {
    std::vector<int64_t> rows;
    for (int64_t item = s; item < samples; item += streams_) {
      auto at = std::lower_bound(local_items_.begin(), local_items_.end(), item);
      rows.push_back(at - local_items_.begin());
    }
    cursors_.emplace_back(static_cast<int64_t>(rows.size()), 1,
                          seed + (static_cast<uint64_t>(s) << 32));
    stream_rows_.push_back(std::move(rows));
  }
}

std::vector<int64_t> ShardedBatches::next_local_batch() {
  std::vector<int64_t> batch;
  batch.reserve(cursors_.size());
  for (size_t i = 0; i < cursors_.size(); ++i) {
    batch.push_back(stream_rows_[i][static_cast<size_t>(cursors_[i].next_batch().front())]);
  }
  return batch;
}

}  // namespace dsla::data
