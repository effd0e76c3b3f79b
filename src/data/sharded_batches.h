// The data order of (data-parallel) training: the same global batches whatever the number of
// ranks, each rank reading only its own share of the sequences.
#pragma once

#include <cstdint>
#include <vector>

#include "data/packing.h"

namespace dsla::data {

/// `samples` items split into `streams` = min(global_batch, samples) interleaved streams (item i is
/// in stream i % streams). Each step takes the next item of every stream; stream s reads its items
/// in the order of its own BatchCursor (seed + s * 2^32), epoch after epoch. Stream s belongs to
/// rank s % world, so a rank only ever touches the items of its streams, and the union of the
/// ranks' batches at a step is the same global batch for every world size.
class ShardedBatches {
 public:
  /// Throws dsla::Error when samples or global_batch < 1, rank is outside [0, world), or a rank
  /// would get no stream (world > streams).
  ShardedBatches(int64_t samples, int64_t global_batch, uint64_t seed, int rank, int world);

  /// The items this rank reads (ascending global indices). Batches index into this list.
  const std::vector<int64_t>& local_items() const { return local_items_; }
  /// Items per step over all ranks, and on this rank.
  int64_t global_batch() const { return streams_; }
  int64_t local_batch() const { return static_cast<int64_t>(cursors_.size()); }

  /// The next step's batch on this rank: positions into local_items(), one per local stream.
  std::vector<int64_t> next_local_batch();

 private:
  int64_t streams_ = 0;
  std::vector<BatchCursor> cursors_;               ///< one per local stream
  std::vector<std::vector<int64_t>> stream_rows_;  ///< per local stream: positions in local_items_
  std::vector<int64_t> local_items_;
};

}  // namespace dsla::data
