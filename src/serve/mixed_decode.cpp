// Implementation of the single-pass decode step over batches of several depths.
#include "serve/mixed_decode.h"

#include <ATen/ATen.h>

#include "core/error.h"

namespace dsla::serve {

at::Tensor decode_mixed(HybridModel& model, const std::vector<DepthBatch>& batches) {
  DSLA_CHECK(!batches.empty(), "a decode step needs at least one batch");
  std::vector<at::Tensor> ids;
  std::vector<model::AttentionContext> contexts;
  std::vector<int64_t> rows;
  // Any depth's model holds the shared parts; attention modules are taken per depth below.
  model::LlamaForCausalLMImpl& m = model.at_depth(batches.front().depth);
  for (const DepthBatch& b : batches) {
    DSLA_CHECK(b.cache != nullptr && b.ids.dim() == 2 && b.ids.size(1) == 1 &&
                   b.ids.size(0) == b.cache->rows(),
               "depth {}: ids must be [rows, 1] for a cache of {} rows", b.depth,
               b.cache ? b.cache->rows() : 0);
    ids.push_back(b.ids);
    rows.push_back(b.ids.size(0));
    contexts.push_back(m.make_context(b.cache->columns(), 1, b.cache->pad()));
  }
  at::Tensor h = m.model->embed_tokens->forward(at::cat(ids, 0));  // [B, 1, hidden]
  for (int64_t i = 0; i < m.num_layers(); ++i) {
    model::DecoderLayerImpl& layer = m.layer(i);
    at::Tensor x = layer.input_layernorm->forward(h);
    std::vector<at::Tensor> parts;
    int64_t offset = 0;
    for (size_t g = 0; g < batches.size(); ++g) {
      model::AttentionModule& attention = model.attention(batches[g].depth, i);
      parts.push_back(attention.forward(x.narrow(0, offset, rows[g]), contexts[g],
                                        &batches[g].cache->cache().layer(i)));
      offset += rows[g];
    }
    h = layer.feed_forward(h + (parts.size() == 1 ? parts.front() : at::cat(parts, 0)));
  }
  return m.logits(m.model->norm->forward(h));  // [B, 1, vocab]
}

}  // namespace dsla::serve
