// Packing a token stream into fixed-length training sequences, and a deterministic shuffled batch
// cursor over them.
#pragma once

#include <cstdint>
#include <vector>

namespace dsla::data {

/// `count()` sequences of `seq_len` tokens, row-major in `tokens` (count * seq_len ids).
struct PackedSequences {
  int64_t seq_len = 0;
  std::vector<int64_t> tokens;

  int64_t count() const { return seq_len > 0 ? static_cast<int64_t>(tokens.size()) / seq_len : 0; }
};

/// Contiguous, non-overlapping chunks of `seq_len` tokens of `stream`; the incomplete tail is
/// dropped. Throws dsla::Error when seq_len < 1 or the stream is shorter than one sequence.
PackedSequences pack(const std::vector<int64_t>& stream, int64_t seq_len);

/// A permutation of 0..n-1 from std::mt19937_64(seed) and a hand-written Fisher-Yates shuffle, so
/// it is the same with every standard library.
std::vector<int64_t> shuffled_order(int64_t n, uint64_t seed);

/// Hands out batches of exactly batch_size sequence indices. The indices, read batch after batch,
/// are epoch 0's order shuffled_order(count, seed), then epoch 1's shuffled_order(count, seed + 1),
/// and so on: every epoch visits each sequence exactly once, and a batch straddles two epochs when
/// batch_size does not divide the count (so a batch larger than the count repeats indices).
class BatchCursor {
 public:
  /// Throws dsla::Error when `sequences` is empty or batch_size < 1.
  BatchCursor(const PackedSequences& sequences, int64_t batch_size, uint64_t seed);
  /// The same over `count` items (indices 0 .. count-1) of any kind.
  BatchCursor(int64_t count, int64_t batch_size, uint64_t seed);

  /// Indices (into the PackedSequences) of the next batch_size sequences.
  std::vector<int64_t> next_batch();
  /// The epoch (0-based) the next index handed out belongs to.
  int64_t epoch() const { return epoch_; }
  int64_t batch_size() const { return batch_size_; }

 private:
  int64_t count_;
  int64_t batch_size_;
  uint64_t seed_;
  int64_t epoch_ = 0;
  int64_t position_ = 0;
  std::vector<int64_t> order_;
};

}  // namespace dsla::data
