// One decode step for running batches at different conversion depths in a single pass: the parts
// every depth shares (embeddings, norms, MLPs, LM head) run on all rows at once; attention runs per
// batch, with the module its depth uses at that layer and the batch's own cache.
#pragma once

#include <vector>

#include "serve/batch_cache.h"
#include "serve/served_model.h"

namespace dsla::serve {

/// The rows of one depth: the next token of each row and the batch's cache.
struct DepthBatch {
  int64_t depth = 0;
  at::Tensor ids;               ///< int64 [B_g, 1]
  BatchCache* cache = nullptr;  ///< B_g rows; each layer appends this step's column
};

/// Logits [sum of B_g, 1, vocab] (fp32), rows in the order of `batches`. Each batch's result is
/// that of its depth's model alone (`model.at_depth(depth).forward`), up to the rounding of
/// matrix products over more rows. The caller advances each batch's cache.
at::Tensor decode_mixed(ServedModel& model, const std::vector<DepthBatch>& batches);

}  // namespace dsla::serve
