// Packing token streams into sequences, deterministic shuffling, and the batch cursor.
#include "data/packing.h"

#include <random>
#include <utility>

#include "core/error.h"

namespace dsla::data {

PackedSequences pack(const std::vector<int64_t>& stream, int64_t seq_len) {
  DSLA_CHECK(seq_len >= 1, "packing: seq_len must be at least 1, got {}", seq_len);
  const int64_t available = static_cast<int64_t>(stream.size());
  DSLA_CHECK(available >= seq_len,
             "packing: the token stream has {} tokens, fewer than one sequence of {} (add data or "
             "lower seq_len)",
             available, seq_len);
  const int64_t n = available / seq_len;
  PackedSequences packed;
  packed.seq_len = seq_len;
  packed.tokens.assign(stream.begin(), stream.begin() + n * seq_len);
  return packed;
}

std::vector<int64_t> shuffled_order(int64_t n, uint64_t seed) {
  DSLA_CHECK(n >= 0, "shuffled_order: negative count {}", n);
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  // std::shuffle and std::uniform_int_distribution differ between standard libraries; mt19937_64's
  // output does not. Index j is drawn uniformly from [0, i] by rejection sampling.
  std::mt19937_64 rng(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    const uint64_t range = static_cast<uint64_t>(i) + 1;
    const uint64_t limit = UINT64_MAX - UINT64_MAX % range;
    uint64_t r = rng();
    while (r >= limit) r = rng();
    const auto j = static_cast<size_t>(r % range);
    std::swap(order[static_cast<size_t>(i)], order[j]);
  }
  return order;
}

BatchCursor::BatchCursor(const PackedSequences& sequences, int64_t batch_size, uint64_t seed)
    : BatchCursor(sequences.count(), batch_size, seed) {}

BatchCursor::BatchCursor(int64_t count, int64_t batch_size, uint64_t seed)
    : count_(count), batch_size_(batch_size), seed_(seed) {
  DSLA_CHECK(count_ > 0, "batch cursor: no sequences to draw from");
  DSLA_CHECK(batch_size >= 1, "batch cursor: batch_size must be at least 1, got {}", batch_size);
  order_ = shuffled_order(count_, seed_);
}

std::vector<int64_t> BatchCursor::next_batch() {
  std::vector<int64_t> batch;
  batch.reserve(static_cast<size_t>(batch_size_));
  while (static_cast<int64_t>(batch.size()) < batch_size_) {
    batch.push_back(order_[static_cast<size_t>(position_++)]);
    if (position_ == count_) {
      ++epoch_;
      position_ = 0;
      order_ = shuffled_order(count_, seed_ + static_cast<uint64_t>(epoch_));
    }
  }
  return batch;
}

}  // namespace dsla::data
