// Implementation of sliding-window perplexity.
#include "model/perplexity.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>

#include <cmath>
#include <optional>

#include "core/error.h"
#include "core/progress.h"

namespace dsla::model {

double PerplexityResult::perplexity() const {
  return std::exp(mean_nll());
}

PerplexityResult compute_perplexity(LlamaForCausalLMImpl& model, const std::vector<int64_t>& tokens,
                                    const PerplexityOptions& o) {
  DSLA_CHECK(o.context > 0 && o.stride > 0 && o.stride <= o.context,
             "perplexity needs 0 < stride <= context (got stride {}, context {})", o.stride,
             o.context);
  c10::InferenceMode guard;
  auto n = static_cast<int64_t>(tokens.size());
  if (o.max_tokens > 0) n = std::min(n, o.max_tokens + (o.bos_id ? 0 : 1));
  DSLA_CHECK(n >= (o.bos_id ? 1 : 2), "text has too few tokens ({}) to score", n);
  // On the model's device: windows, logits and targets meet there; only the sums come back.
  at::Tensor all = at::tensor(tokens, at::kLong).narrow(0, 0, n).to(model.device());
  PerplexityResult r;
  std::optional<ProgressBar> bar;
  if (o.progress) bar.emplace("ppl", o.bos_id ? n : n - 1, "tok");
  int64_t scored_until = o.bos_id ? 0 : 1;  // tokens [0, scored_until) are already scored
  for (int64_t end = std::min(n, o.stride); scored_until < n; end = std::min(n, end + o.stride)) {
    int64_t begin = std::max<int64_t>(0, end - o.context);
    at::Tensor window = all.slice(0, begin, end);
    if (o.bos_id) window = at::cat({at::full({1}, *o.bos_id, window.options()), window});
    int64_t offset = o.bos_id ? 1 : 0;  // index in `window` of text token `begin`
    at::Tensor logits = model.forward(window.unsqueeze(0)).squeeze(0);  // [W, vocab]
    // logits at window index i predict window[i + 1]; score text tokens [scored_until, end).
    int64_t first = scored_until - begin + offset;  // window index of the first scored target
    int64_t count = end - scored_until;
    if (first <
        1) {  // no BOS and no overlap: a window's first token has nothing to be predicted from
      count -= 1 - first;
      first = 1;
    }
    if (count <= 0) {
      scored_until = end;
      continue;
    }
    at::Tensor logp = at::log_softmax(logits.narrow(0, first - 1, count), -1);
    at::Tensor targets = window.narrow(0, first, count);
    r.nll_sum -= logp.gather(1, targets.unsqueeze(1)).sum().item<double>();
    r.scored_tokens += count;
    r.windows++;
    scored_until = end;
    if (bar) bar->advance(count, fmt::format("ppl {:.4f}", r.perplexity()));
  }
  if (bar) bar->finish();
  return r;
}

std::string describe_protocol(const PerplexityOptions& o) {
  bool bos = o.bos_id.has_value();
  return fmt::format(
      "windows of {}{} text tokens advancing by {}; each token scored once{}", bos ? "BOS + " : "",
      o.context, o.stride,
      o.stride < o.context ? " with the earlier tokens of its window as context" : "");
}

}  // namespace dsla::model
