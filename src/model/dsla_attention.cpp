// Implementation of DslaAttention over the DSLA kernels (chunked for prefill/training, recurrent
// for decode).
#include "model/dsla_attention.h"

#include <ATen/ATen.h>
#include <fmt/ranges.h>
#include <torch/autograd.h>

#include <cmath>

#include "core/error.h"
#include "dsla/dsla.h"
#include "model/dsla_window.h"
#include "model/linear.h"
#include "model/rope.h"
#include "model/softmax_attention.h"

namespace dsla::model {
namespace {

constexpr double kMinLogGate = -50.0;  // exp(-50) per token: the kernels' documented floor
constexpr double kNormEps = 1e-6;      // added to the shared denominator

/// z such that logsigmoid(z) / tau = log(decay), i.e. sigmoid(z) = decay^tau.
double gate_bias_for(double decay, double tau) {
  double s = std::pow(decay, tau);
  return std::log(s / (1 - s));
}

}  // namespace

std::vector<double> initial_decays(const DslaSettings& o, bool recency, int64_t layer,
                                   int64_t num_layers, int64_t head_dim) {
  if (o.gate_init == GateInit::constant) {
    double decay = recency ? o.recency_decay : o.single_state() ? o.single_decay : o.history_decay;
    return std::vector<double>(static_cast<size_t>(head_dim), decay);
  }
  double lo = -6, hi = -1;
  if (!o.single_state()) (recency ? lo : hi) = -3.5;
  double power =
      0.7 + 1.3 * (num_layers > 1 ? static_cast<double>(layer) / static_cast<double>(num_layers - 1)
                                  : 0.0);
  std::vector<double> decays;
  for (int64_t n = 0; n < head_dim; ++n) {
    double r = head_dim > 1 ? static_cast<double>(n) / static_cast<double>(head_dim - 1) : 0.0;
    decays.push_back(std::exp(-std::exp(lo + (hi - lo) * std::pow(r, power))));
  }
  return decays;
}

DslaAttention::DslaAttention(const LlamaConfig& c, const DslaSettings& o, int64_t layer)
    : config_(c),
      options_(o),
      heads_(c.num_attention_heads),
      kv_heads_(c.num_key_value_heads),
      head_dim_(c.head_dim),
      feature_dim_(c.head_dim) {
  auto problems = check_dsla_settings(o);
  DSLA_CHECK(problems.empty(), "DSLA layer settings: {}", fmt::join(problems, "; "));
  DSLA_CHECK(o.variant != DslaVariant::sliding_window,
             "a DSLA layer cannot have variant sliding_window");
  bool qkv_bias = c.attention_bias || c.qkv_bias;
  auto lin = [](int64_t in, int64_t out, bool bias) {
    return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
  };
  q_proj = register_module("q_proj", lin(c.hidden_size, heads_ * head_dim_, qkv_bias));
  k_proj = register_module("k_proj", lin(c.hidden_size, kv_heads_ * head_dim_, qkv_bias));
  v_proj = register_module("v_proj", lin(c.hidden_size, kv_heads_ * head_dim_, qkv_bias));
  o_proj = register_module("o_proj", lin(heads_ * head_dim_, c.hidden_size, c.attention_bias));
  q_map = register_module("q_map", QkFeatureMap(o.feature_map, heads_, head_dim_, o.feature_dim));
  k_map = register_module("k_map", QkFeatureMap(o.feature_map, heads_, head_dim_, o.feature_dim));
  feature_dim_ = q_map->output_dim();
  if (o.temperature) temperature_log = register_parameter("temperature_log", at::zeros({heads_}));
  if (o.exact_window() > 0) {
    window_log_weight =
        register_parameter("window_log_weight", at::full({heads_}, std::log(o.window_weight)));
  }
  history_gate_down = gate_down("history_gate_down");
  int64_t layers = c.num_hidden_layers;
  history_gate_up =
      gate_up("history_gate_up", initial_decays(o, false, layer, layers, feature_dim_));
  if (!o.single_state()) {
    recency_gate_down = gate_down("recency_gate_down");
    recency_gate_up =
        gate_up("recency_gate_up", initial_decays(o, true, layer, layers, feature_dim_));
    double logit = std::log(o.gamma_init / (1 - o.gamma_init));
    gamma_logit =
        register_parameter("gamma_logit", at::full({o.per_head_gamma ? heads_ : 1}, logit));
  }
  if (o.output_norm) out_norm = register_module("out_norm", RMSNorm(head_dim_, c.rms_norm_eps));
}

torch::nn::Linear DslaAttention::gate_down(const char* name) {
  if (options_.gate_rank == 0) return nullptr;
  return register_module(
      name, torch::nn::Linear(
                torch::nn::LinearOptions(config_.hidden_size, options_.gate_rank).bias(false)));
}

torch::nn::Linear DslaAttention::gate_up(const char* name, const std::vector<double>& decays) {
  int64_t in = options_.gate_rank > 0 ? options_.gate_rank : config_.hidden_size;
  auto up = register_module(name, torch::nn::Linear(in, heads_ * feature_dim_));
  torch::NoGradGuard no_grad;
  // Zero weights: every token starts at the target decays; training moves the gates away from them.
  up->weight.zero_();
  std::vector<double> bias;  // [d] per channel, the same for every head
  for (double d : decays) bias.push_back(gate_bias_for(d, options_.tau));
  up->bias.copy_(at::tensor(bias, at::kDouble).repeat({heads_}));  // [H*d]
  return up;
}

std::shared_ptr<DslaAttention> DslaAttention::from_softmax(const AttentionModule& teacher,
                                                           const LlamaConfig& config,
                                                           const DslaSettings& options,
                                                           int64_t layer_index) {
  auto layer = std::make_shared<DslaAttention>(config, options, layer_index);
  copy_projections(teacher, "dsla", layer->q_proj, layer->k_proj, layer->v_proj, layer->o_proj);
  layer->to(teacher.parameters().front().scalar_type());
  return layer;
}

at::Tensor DslaAttention::gate(torch::nn::Linear& down, torch::nn::Linear& up,
                               const at::Tensor& x) {
  at::Tensor z = project(up, down ? project(down, x) : x);  // [B, T, H*d]
  at::Tensor g = at::log_sigmoid(z.to(at::kFloat)) / options_.tau;
  return g.clamp_min(kMinLogGate).view({x.size(0), x.size(1), heads_, feature_dim_});
}

std::pair<at::Tensor, at::Tensor> DslaAttention::log_gates(const at::Tensor& x) {
  at::Tensor g1 = gate(history_gate_down, history_gate_up, x);
  // A single-state layer runs the dual kernel with both states on the same gate and gamma = 1.
  if (options_.single_state()) return {g1, g1};
  return {g1, gate(recency_gate_down, recency_gate_up, x)};
}

at::Tensor DslaAttention::gamma() {
  if (options_.single_state()) {
    return at::ones({heads_}, history_gate_up->weight.options().dtype(at::kFloat));
  }
  return at::sigmoid(gamma_logit.to(at::kFloat)).expand({heads_}).contiguous();
}

int64_t DslaAttention::cache_bytes_per_sequence(int64_t /*tokens*/) const {
  int64_t value_columns = head_dim_ + (options_.normalize == Normalize::qz ? 1 : 0);
  int64_t states = 2 * heads_ * feature_dim_ * value_columns;
  // The window and sink buffers are allocated whole: k and v of N + S tokens at KV-head size.
  int64_t buffers = 2 * (options_.exact_window() + options_.sinks) * kv_heads_ * head_dim_;
  return (states + buffers) * static_cast<int64_t>(sizeof(float));
}

at::Tensor DslaAttention::all_heads(const at::Tensor& kv) const {
  int64_t groups = heads_ / kv_heads_;
  return groups > 1 ? kv.repeat_interleave(groups, 2) : kv;
}

at::Tensor DslaAttention::linear_part(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                      const at::Tensor& x, LayerCache* cache) {
  auto [g1, g2] = log_gates(x);
  at::Tensor mix = gamma();
  g1 = g1.to(q.scalar_type());
  g2 = g2.to(q.scalar_type());
  kernels::DslaOptions ko;
  ko.chunk_size = options_.chunk_size;
  if (cache == nullptr) return kernels::dsla_attention(q, k, v, g1, g2, mix, {}, {}, {}, ko).o;
  if (!cache->s1.defined()) {
    cache->s1 = at::zeros({q.size(0), heads_, q.size(3), v.size(3)}, x.options().dtype(at::kFloat));
    cache->s2 = at::zeros_like(cache->s1);
  }
  if (q.size(1) == 1)
    return kernels::dsla_recurrent_step(q, k, v, g1, g2, mix, cache->s1, cache->s2);
  ko.output_final_state = true;
  auto out = kernels::dsla_attention(q, k, v, g1, g2, mix, cache->s1, cache->s2, {}, ko);
  cache->s1 = out.s1.contiguous();
  cache->s2 = out.s2.contiguous();
  return out.o;
}

ExactPart DslaAttention::exact_part(const at::Tensor& q, const at::Tensor& all_k,
                                    const at::Tensor& all_v, const at::Tensor& k,
                                    const at::Tensor& v, int64_t start, const at::Tensor& pad,
                                    LayerCache* cache) {
  WindowKeys keys{all_k, all_v, {}, {}};
  if (options_.sinks == 0) {
    return exact_window_part(q, keys, start, pad, options_.window, options_.chunk_size);
  }
  bool cached = cache != nullptr && cache->sink_k.defined();
  at::Tensor sink_k =
      cached ? cache->sink_k
             : at::zeros({q.size(0), options_.sinks, kv_heads_, head_dim_}, k.options());
  at::Tensor sink_v = cached ? cache->sink_v : at::zeros_like(sink_k);
  sink_k = updated_sinks(sink_k, k, start, pad);  // [B, S, KVH, d]
  sink_v = updated_sinks(sink_v, v, start, pad);
  if (cache != nullptr) {
    cache->sink_k = sink_k.detach();
    cache->sink_v = sink_v.detach();
  }
  keys.sink_k = sink_k;
  keys.sink_v = sink_v;
  return exact_window_part(q, keys, start, pad, options_.window, options_.chunk_size);
}

at::Tensor DslaAttention::forward(const at::Tensor& x, const AttentionContext& ctx,
                                  LayerCache* cache) {
  if (x.scalar_type() != at::kFloat && x.scalar_type() != at::kBFloat16) {
    DSLA_FAIL("dsla attention supports float32 and bfloat16 activations, got {}",
              c10::toString(x.scalar_type()));
  }
  int64_t b = x.size(0), t = x.size(1), n = options_.exact_window(), start = ctx.start_pos;
  // [B, T, H*d] -> [B, T, H, d]; k and v stay at KV heads until they are used.
  at::Tensor q = project(q_proj, x).view({b, t, heads_, head_dim_});
  at::Tensor k = project(k_proj, x).view({b, t, kv_heads_, head_dim_});
  at::Tensor v = project(v_proj, x).view({b, t, kv_heads_, head_dim_});
  if (options_.rope) {
    q = apply_rotary(q, ctx.cos, ctx.sin);
    k = apply_rotary(k, ctx.cos, ctx.sin);
  }
  at::Tensor pad = ctx.pad.defined() ? ctx.pad.to(x.device(), at::kLong)
                                     : at::zeros({b}, x.options().dtype(at::kLong));
  // With a window, the states take the token that leaves it: the N buffered tokens (zeros before
  // the first call) then this call's, [B, N + T, KVH, d] at columns start - N ..
  at::Tensor all_k = k, all_v = v;
  if (n > 0) {
    bool cached = cache != nullptr && cache->window_k.defined();
    at::Tensor buf_k =
        cached ? cache->window_k : at::zeros({b, n, kv_heads_, head_dim_}, k.options());
    at::Tensor buf_v = cached ? cache->window_v : at::zeros_like(buf_k);
    all_k = at::cat({buf_k, k}, 1);
    all_v = at::cat({buf_v, v}, 1);
  }
  at::Tensor entering = entering_mask(start, t, n, options_.sinks, pad);  // [B, T]
  // The states read the first T tokens repeated to all heads; the exact window reads all N + T at
  // KV heads (grouped queries, no copy of the window per head).
  at::Tensor k_in = all_heads(all_k.narrow(1, 0, t)), v_in = all_heads(all_v.narrow(1, 0, t));
  at::Tensor q_lin = q;
  if (temperature_log.defined())
    q_lin = q * temperature_log.exp().view({1, 1, heads_, 1}).to(q.scalar_type());
  q_lin = q_map->forward(q_lin);
  // Padding and tokens still in the window (or sinks) write nothing: zero features.
  k_in = k_map->forward(k_in) * entering.view({b, t, 1, 1}).to(k.scalar_type());
  bool normalize = options_.normalize == Normalize::qz;
  if (normalize) v_in = at::cat({v_in, at::ones({b, t, heads_, 1}, v_in.options())}, 3);
  at::Tensor o = linear_part(q_lin.contiguous(), k_in.contiguous(), v_in.contiguous(), x, cache);
  if (normalize) {
    // The kernels scale by f^-1/2; undo it so the exact part and the states share one scale.
    double unscale = std::sqrt(static_cast<double>(feature_dim_));
    at::Tensor num = o.narrow(3, 0, head_dim_).to(at::kFloat) * unscale;  // [B, T, H, dv]
    at::Tensor den = o.narrow(3, head_dim_, 1).to(at::kFloat) * unscale;  // [B, T, H, 1]
    if (n > 0) {
      ExactPart exact = exact_part(q, all_k, all_v, k, v, start, pad, cache);
      at::Tensor weight = at::exp(window_log_weight.to(at::kFloat)).view({1, 1, heads_, 1});
      num = num + weight * exact.num;
      den = den + weight * exact.den;
    }
    o = (num / (den + kNormEps)).to(x.scalar_type());
  }
  if (cache != nullptr) {
    if (n > 0) {
      cache->window_k = all_k.narrow(1, t, n).detach().contiguous();  // the newest N columns
      cache->window_v = all_v.narrow(1, t, n).detach().contiguous();
    }
    cache->length += t;
  }
  if (out_norm) o = out_norm->forward(o);  // [B, T, H, d], normalized per head
  return project(o_proj, o.reshape({b, t, heads_ * head_dim_}));
}

}  // namespace dsla::model
