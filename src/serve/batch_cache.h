// The cache of a running batch whose rows joined at different times: rows are left-padded to a
// common column count, and rows are added (after their own prefill) and removed between steps.
#pragma once

#include "model/attention.h"

namespace dsla::serve {

class BatchCache {
 public:
  explicit BatchCache(int64_t num_layers) : cache_(num_layers) {}

  int64_t rows() const { return pad_.defined() ? pad_.size(0) : 0; }
  /// Columns every row spans (the next token's column).
  int64_t columns() const { return columns_; }
  /// int64 [rows]: leading padding columns of each row.
  const at::Tensor& pad() const { return pad_; }
  model::InferenceCache& cache() { return cache_; }
  int64_t bytes() const { return cache_.bytes(); }

  /// Appends the rows of `other` (a cache of `other_columns` columns without padding, e.g. one
  /// prompt's prefill). Softmax K/V of the shorter side are left-padded with zero keys that the
  /// padding mask hides; DSLA states, which hold no columns, are concatenated as they are.
  void append(model::InferenceCache&& other, int64_t other_rows, int64_t other_columns);
  /// Keeps only `keep` (int64 [R]) rows, in that order, and drops leading columns that every
  /// remaining row pads.
  void keep_rows(const at::Tensor& keep);
  /// One decode step appended a column to every row (the layers already wrote it).
  void advance() { ++columns_; }

 private:
  /// Prepends `n` zero columns to every softmax layer's K/V and pad.
  void pad_left(int64_t n);

  model::InferenceCache cache_;
  at::Tensor pad_;
  int64_t columns_ = 0;
};

}  // namespace dsla::serve
