// Implementation of the single-pass decode step over batches of several depths.
#include "serve/mixed_decode.h"

#include <ATen/ATen.h>

#include "core/error.h"

namespace dsla::serve {

at::Tensor decode_mixed(ServedModel& model, const std::vector<DepthBatch>& batches) {
  DSLA_CHECK(!batches.empty(), "a decode step needs at least one batch");
  std::vector<at::Tensor> ids;
  std::vector<model::AttentionContext> contexts;
  std::vector<int64_t> rows;
  // The shared parts (embeddings, norms, MLPs, head) are the same at every depth; attention
  // modules are taken per depth below, so no depth needs to be set.
  model::LlamaForCausalLMImpl& m = model.model();
  for (const DepthBatch& b : batches) {
    DSLA_CHECK(b.cache != nullptr && b.ids.dim() == 2 && b.ids.size(1) == 1 &&
                   b.ids.size(0) == b.cache->rows(),
               "depth {}: ids must be [rows, 1] for a cache of {} rows", b.depth,
               b.cache ? b.cache->rows() : 0);
    model.attention(b.depth, 0);  // checks the depth
    ids.push_back(b.ids);
    rows.push_back(b.ids.size(0));
    contexts.push_back(m.make_context(b.cache->columns(), 1, b.cache->pad()));
  }
  // Layer i's attention per batch: rows [offset, offset + rows[g]) of x [B, 1, hidden].
  auto attend = [&](int64_t i, const at::Tensor& x) {
    std::vector<at::Tensor> parts;
    int64_t offset = 0;
    for (size_t g = 0; g < batches.size(); ++g) {
      model::AttentionModule& attention = model.attention(batches[g].depth, i);
      parts.push_back(attention.forward(x.narrow(0, offset, rows[g]), contexts[g],
                                        &batches[g].cache->cache().layer(i)));
      offset += rows[g];
    }
    return parts.size() == 1 ? parts.front() : at::cat(parts, 0);
  };
  at::Tensor h = m.model->embed_tokens->forward(at::cat(ids, 0));  // [B, 1, hidden]
  h = m.forward_layers(h, 0, m.num_layers(), attend);
  return m.logits(m.model->norm->forward(h));  // [B, 1, vocab]
}

}  // namespace dsla::serve
