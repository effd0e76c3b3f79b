// Implementation of the weighted sequence stream: smooth weighted round robin over scattered slots.
#include "data/mixture.h"

#include <cmath>
#include <numeric>

#include "core/error.h"

namespace dsla::data {
namespace {

/// A stride coprime to n near 0.618 n (1 when n < 3).
int64_t scatter_stride(int64_t n) {
  if (n < 3) return 1;
  auto s = std::max<int64_t>(1, static_cast<int64_t>(std::llround(0.6180339887 * n)));
  while (std::gcd(s, n) != 1) ++s;
  return s % n == 0 ? 1 : s;
}

/// splitmix64: a fixed, library-independent mix of the seed and the source index.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

SequenceStream::SequenceStream(std::vector<MixtureSource> sources, int64_t seq_len, uint64_t seed,
                               double copy_fraction)
    : seq_len_(seq_len), copy_fraction_(copy_fraction) {
  DSLA_CHECK(!sources.empty(), "training data: no source files");
  DSLA_CHECK(seq_len >= 1, "training data: seq_len must be at least 1, got {}", seq_len);
  DSLA_CHECK(copy_fraction >= 0 && copy_fraction <= 1,
             "training data: copy_fraction must be in [0, 1], got {}", copy_fraction);
  for (size_t i = 0; i < sources.size(); ++i) {
    MixtureSource& s = sources[i];
    DSLA_CHECK(s.weight > 0 && std::isfinite(s.weight), "{}: weight {} must be positive", s.name,
               s.weight);
    auto length = static_cast<int64_t>(s.end - s.begin);
    DSLA_CHECK(s.end >= s.begin && length >= seq_len,
               "{}: {} training tokens, fewer than one sequence of {} (add data or lower seq_len)",
               s.name, length, seq_len);
    Source src;
    src.slots = length / seq_len;
    src.stride = scatter_stride(src.slots);
    src.offset =
        static_cast<int64_t>(mix(seed * 1000003ULL + i) % static_cast<uint64_t>(src.slots));
    src.spec = std::move(s);
    total_weight_ += src.spec.weight;
    sources_.push_back(std::move(src));
  }
}

SequenceStream::Source& SequenceStream::pick() {
  Source* best = nullptr;
  for (auto& s : sources_) {
    s.credit += s.spec.weight;
    if (best == nullptr || s.credit > best->credit) best = &s;
  }
  best->credit -= total_weight_;
  return *best;
}

std::vector<int64_t> SequenceStream::next(int64_t count) {
  DSLA_CHECK(count >= 0, "training data: negative sequence count {}", count);
  std::vector<int64_t> out(static_cast<size_t>(count * seq_len_));
  for (int64_t i = 0; i < count; ++i) {
    Source& s = pick();
    int64_t slot = (s.offset + s.drawn * s.stride) % s.slots;
    ++s.drawn;
    size_t first = s.spec.begin + static_cast<size_t>(slot * seq_len_);
    int64_t* row = out.data() + i * seq_len_;
    for (int64_t t = 0; t < seq_len_; ++t)
      row[t] = (*s.spec.tokens)[first + static_cast<size_t>(t)];
    if (is_copy(position_ + i)) {
      const int64_t half = seq_len_ / 2;
      for (int64_t t = 0; half > 0 && half + t < seq_len_; ++t) row[half + t] = row[t];
    }
  }
  position_ += count;
  return out;
}

bool SequenceStream::is_copy(int64_t index) const {
  if (copy_fraction_ <= 0) return false;
  auto before = static_cast<int64_t>(std::floor(static_cast<double>(index) * copy_fraction_));
  auto after = static_cast<int64_t>(std::floor(static_cast<double>(index + 1) * copy_fraction_));
  return after > before;
}

void SequenceStream::skip(int64_t count) {
  DSLA_CHECK(count >= 0, "training data: negative sequence count {}", count);
  for (int64_t i = 0; i < count; ++i) ++pick().drawn;
  position_ += count;
}

std::vector<SourceUsage> SequenceStream::usage() const {
  std::vector<SourceUsage> out;
  for (const auto& s : sources_) {
    out.push_back({s.spec.name, s.drawn, s.drawn * seq_len_,
                   static_cast<double>(s.drawn) / static_cast<double>(s.slots)});
  }
  return out;
}

}  // namespace dsla::data
