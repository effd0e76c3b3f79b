// A weighted mixture of token files read as a stream of fresh fixed-length sequences: each source
// is visited in a seed-dependent scattered order of its sequence slots, and sources take turns in
// proportion to their weights.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/token_cache.h"

namespace dsla::data {

/// One file of the mixture: its tokens [begin, end) are trained on.
struct MixtureSource {
  std::string name;
  std::shared_ptr<const TokenFile> tokens;
  size_t begin = 0, end = 0;
  double weight = 1;  ///< relative share of the sequences drawn (> 0)
};

/// What one source has given so far.
struct SourceUsage {
  std::string name;
  int64_t sequences = 0;
  int64_t tokens = 0;
  double passes = 0;  ///< sequences / the source's sequence slots (> 1 once it repeats)
};

/// Sequence i of the stream is a pure function of (sources, seq_len, seed, i).
/// - Sources take turns by smooth weighted round robin: after n sequences each source has given
///   n * weight / total (rounded), interleaved as evenly as possible.
/// - A source of L tokens has floor(L / seq_len) slots; its k-th sequence is slot
///   (offset + k * stride) mod slots, with stride coprime to slots (about 0.618 * slots) and a
///   seed-dependent offset, so consecutive sequences come from distant parts of the file and
///   every slot is read once before any repeats.
/// - With copy_fraction f > 0, sequence i is a copy sequence when floor((i + 1) f) > floor(i f)
///   (evenly spread, f of them): its second half repeats its first, token for token
///   (position h + t holds position t, h = seq_len / 2), so predicting the second half means
///   retrieving tokens seq_len / 2 back, beyond a short attention window.
class SequenceStream {
 public:
  /// Throws dsla::Error when there is no source, a weight is not positive, seq_len < 1, or a
  /// source has fewer tokens than one sequence (naming it), or copy_fraction is outside [0, 1].
  SequenceStream(std::vector<MixtureSource> sources, int64_t seq_len, uint64_t seed,
                 double copy_fraction = 0);

  int64_t seq_len() const { return seq_len_; }
  /// Sequences handed out so far.
  int64_t position() const { return position_; }
  /// Writes the next `count` sequences (count * seq_len ids, row-major) and advances.
  std::vector<int64_t> next(int64_t count);
  /// Advances past `count` sequences without reading them (resuming a run).
  void skip(int64_t count);
  std::vector<SourceUsage> usage() const;
  /// Whether sequence `index` of the stream is a copy sequence.
  bool is_copy(int64_t index) const;

 private:
  struct Source {
    MixtureSource spec;
    int64_t slots = 0, stride = 1, offset = 0, drawn = 0;
    double credit = 0;
  };
  /// The source of the next sequence (advancing the round robin).
  Source& pick();

  std::vector<Source> sources_;
  int64_t seq_len_;
  double copy_fraction_;
  double total_weight_ = 0;
  int64_t position_ = 0;
};

}  // namespace dsla::data
