# HF remote code for dsla exports: a Llama whose converted layers are Dual-State Linear Attention (DSLA) layers.
"""Plain-PyTorch DSLA hybrid, matching dsla's C++ (src/model/dsla_attention.cpp, dsla_window.cpp, feature_map.cpp).

Layers not in `config.dsla["converted_layers"]` are transformers' own LlamaDecoderLayer, unchanged. A converted layer
keeps the decoder layer (norms, MLP) and gets a `DslaAttention` as `self_attn` (variant dual or single), or, for the
sliding_window baseline, HF's LlamaAttention under a sliding-window mask. Per head, with f feature channels:

    S1_t = diag(exp g1_t) S1_{t-1} + phi(k_t) v_t^T      history state [f, dv]  (g = logsigmoid(gate(x)) / tau)
    S2_t = diag(exp g2_t) S2_{t-1} + phi(k_t) v_t^T      recency state
    o_t  = f^-1/2 phi(q_t)^T (gamma S1_t + (1 - gamma) S2_t)

(single: one state, gamma = 1). normalize qz appends a ones column to v, so the last output column is the
denominator phi(q).z; an exact window adds softmax scores over the last `window` tokens and `sinks` first tokens
(weighted by exp(window_log_weight)) to numerator and denominator, while the state takes the token leaving the window.

Form chosen: the states are computed by `dsla_chunked` (prefill: within a chunk the masked quadratic form with
exp(b_r - b_u) <= 1 computed directly, across chunks the carried states), which is exactly the recurrence
`dsla_recurrent` (used for one-token decode steps) reordered; `DSLA_FORCE_RECURRENT = True` uses the recurrence for all.
All DSLA math runs in fp32. Left padding (attention_mask) is supported: padded tokens never enter the states or the
window, and positions are counted from each row's first real token (position_ids default to that, as in dsla).
"""
import copy
import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers.cache_utils import DynamicCache, DynamicLayer
from transformers.masking_utils import create_causal_mask, create_sliding_window_causal_mask
from transformers.modeling_outputs import BaseModelOutputWithPast
from transformers.models.llama.modeling_llama import (
    LlamaForCausalLM,
    LlamaModel,
    LlamaPreTrainedModel,
    LlamaRMSNorm,
    apply_rotary_pos_emb,
)
from transformers.utils.generic import merge_with_config_defaults
from transformers.utils.output_capturing import capture_outputs

from .configuration_dsla import DslaConfig

MIN_LOG_GATE = -50.0  # exp(-50) per token: the C++ kernels' floor
NORM_EPS = 1e-6  # added to the shared denominator
DSLA_FORCE_RECURRENT = False  # True: token-by-token recurrence for prompts too (slower; a cross-check)


def repeat_heads(x: torch.Tensor, groups: int) -> torch.Tensor:
    """GQA: [B, T, KVH, d] -> [B, T, KVH * groups, d] (each KV head repeated for its query heads)."""
    return x.repeat_interleave(groups, dim=2) if groups > 1 else x


class FeatureMap(nn.Module):
    """phi applied to q and k: [B, T, H, d] -> [B, T, H, out_dim] (fp32)."""

    def __init__(self, kind: str, heads: int, head_dim: int, feature_dim: int):
        super().__init__()
        self.kind = kind
        self.out_dim = head_dim
        if kind == "hedgehog":  # [softmax(xW), softmax(-xW)] with a learned W per head, identity at first
            f = feature_dim or head_dim
            self.out_dim = 2 * f
            self.weight = nn.Parameter(torch.eye(head_dim, f).unsqueeze(0).repeat(heads, 1, 1))  # [H, d, f]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        if self.kind == "identity":
            return x
        if self.kind == "softmax":
            return torch.softmax(x, -1)
        if self.kind == "elu1":
            return F.elu(x) + 1
        if self.kind == "relu":
            return torch.relu(x)
        p = torch.einsum("bthd,hdf->bthf", x, self.weight.float())  # [B, T, H, f]
        return torch.cat([torch.softmax(p, -1), torch.softmax(-p, -1)], -1)  # [B, T, H, 2f]


def dsla_recurrent(q, k, v, g1, g2, gamma, s1, s2):
    """The DSLA recurrence, token by token (csrc_kernels/dsla/dsla_ref.cpp).

    q, k, g1, g2: [B, T, H, f]; v: [B, T, H, dv]; gamma: [H]; s1, s2: [B, H, f, dv] initial states.
    Returns o [B, T, H, dv] and the final states.
    """
    scale = q.shape[-1] ** -0.5
    w1 = (scale * gamma).view(1, -1, 1, 1)
    w2 = (scale * (1 - gamma)).view(1, -1, 1, 1)
    out = []
    for t in range(q.shape[1]):
        kv = k[:, t, :, :, None] * v[:, t, :, None, :]  # [B, H, f, dv]
        s1 = torch.exp(g1[:, t])[..., None] * s1 + kv
        s2 = torch.exp(g2[:, t])[..., None] * s2 + kv
        out.append(torch.einsum("bhf,bhfv->bhv", q[:, t], w1 * s1 + w2 * s2))
    return torch.stack(out, 1), s1, s2


def dsla_chunked(q, k, v, g1, g2, gamma, s1, s2, chunk: int):
    """The same recurrence in chunks of `chunk` tokens (same arguments and results as `dsla_recurrent`).

    Inside a chunk, with b = cumsum(g) over the chunk: o_r = sum_j w_j [(q_r e^{b_j,r}) S_j
    + sum_{u<=r} (q_r . (k_u e^{b_j,r - b_j,u})) v_u]; then S_j <- e^{b_j,last} S_j + sum_u (k_u e^{b_j,last - b_j,u}) v_u^T.
    """
    scale = q.shape[-1] ** -0.5
    w = [(scale * gamma).view(1, 1, -1, 1), (scale * (1 - gamma)).view(1, 1, -1, 1)]  # [1, 1, H, 1]
    out = []
    states = [s1, s2]
    for a in range(0, q.shape[1], chunk):
        qc, kc, vc = q[:, a : a + chunk], k[:, a : a + chunk], v[:, a : a + chunk]
        n = qc.shape[1]
        causal = torch.ones(n, n, dtype=torch.bool, device=q.device).tril()  # [r, u]: u <= r
        o = torch.zeros_like(vc)
        for j, g in enumerate((g1, g2)):
            b = g[:, a : a + chunk].cumsum(1)  # [B, L, H, f]
            o = o + w[j] * torch.einsum("brhf,bhfv->brhv", qc * b.exp(), states[j])
            diff = b[:, :, None] - b[:, None, :]  # [B, r, u, H, f]
            decay = diff.masked_fill(~causal[None, :, :, None, None], float("-inf")).exp()
            scores = torch.einsum("brhf,buhf,bruhf->bhru", qc, kc, decay)  # [B, H, r, u]
            o = o + w[j] * torch.einsum("bhru,buhv->brhv", scores, vc)
            last = b[:, -1:]  # [B, 1, H, f]
            states[j] = last[:, 0, :, :, None].exp() * states[j] + torch.einsum(
                "buhf,buhv->bhfv", kc * (last - b).exp(), vc
            )
        out.append(o)
    return torch.cat(out, 1), states[0], states[1]


def entering_mask(start: int, t: int, window: int, sinks: int, pad: torch.Tensor) -> torch.Tensor:
    """[B, T] bool: the token entering the states at column c (the one at column c - window) is real and no sink."""
    cols = torch.arange(start - window, start - window + t, device=pad.device)[None]  # [1, T]
    return cols >= (pad[:, None] + sinks)


def updated_sinks(sinks: torch.Tensor, new: torch.Tensor, start: int, pad: torch.Tensor) -> torch.Tensor:
    """Sink buffer [B, S, KVH, d]: row b's slot s takes the token at column pad[b] + s if it is among `new`."""
    s, t = sinks.shape[1], new.shape[1]
    index = pad[:, None] - start + torch.arange(s, device=pad.device)[None]  # [B, S]
    here = ((index >= 0) & (index < t))[:, :, None, None]
    gathered = new.gather(1, index.clamp(0, t - 1)[:, :, None, None].expand_as(sinks))
    return torch.where(here, gathered, sinks)


def exact_window_part(q, keys, values, sink_k, sink_v, start, pad, window, chunk):
    """Unnormalised softmax over the visible window keys and sinks (dsla_window.cpp), queries `chunk` at a time.

    q: [B, T, H, d] at columns start..; keys/values: [B, N + T, H, d] at columns start - N ..; sink_k/sink_v:
    [B, S, H, d] or None (sink s at column pad + s). Returns num [B, T, H, d] and den [B, T, H, 1].
    """
    t, d = q.shape[1], q.shape[3]
    s = 0 if sink_k is None else sink_k.shape[1]
    pad_b = pad.view(-1, 1, 1)  # [B, 1, 1]
    sink_cols = pad_b + torch.arange(s, device=q.device).view(1, 1, -1)  # [B, 1, S]
    nums, dens = [], []
    for a in range(0, t, chunk):
        c = min(chunk, t - a)
        span = min(window + c, keys.shape[1] - a)
        qc = q[:, a : a + c].transpose(1, 2)  # [B, H, c, d]
        kc = keys[:, a : a + span].transpose(1, 2)  # [B, H, span, d]
        vc = values[:, a : a + span].transpose(1, 2)
        qcol = torch.arange(start + a, start + a + c, device=q.device).view(1, -1, 1)  # [1, c, 1]
        kcol = torch.arange(start - window + a, start - window + a + span, device=q.device).view(1, 1, -1)
        visible = (kcol >= pad_b) & (kcol <= qcol) & (kcol > qcol - window)  # [B, c, span]
        scores = qc @ kc.transpose(2, 3) / math.sqrt(d)  # [B, H, c, span]
        vals = vc
        if s > 0:
            visible = torch.cat([visible, (sink_cols <= qcol) & (qcol - sink_cols >= window)], 2)
            scores = torch.cat([scores, qc @ sink_k.transpose(1, 2).transpose(2, 3) / math.sqrt(d)], 3)
            vals = torch.cat([vc, sink_v.transpose(1, 2)], 2)
        scores = scores.masked_fill(~visible[:, None], float("-inf"))
        m = scores.amax(-1, keepdim=True).clamp_min(-1e30)  # a query with no visible key gets all weights 0
        wts = torch.exp(scores - m)  # [B, H, c, keys]
        nums.append((wts @ vals).transpose(1, 2))  # [B, c, H, d]
        dens.append(wts.sum(-1, keepdim=True).transpose(1, 2))  # [B, c, H, 1]
    return torch.cat(nums, 1), torch.cat(dens, 1)


class DslaCacheLayer(DynamicLayer):
    """What a DSLA layer carries between calls: the two fp32 states [B, H, f, dv(+1)], the last `window` tokens'
    k, v [B, N, KVH, d] (zeros before the first token), the sinks' k, v [B, S, KVH, d], and the tokens seen.
    Sits in HF's DynamicCache at the layer's index (so get_seq_length works even when every layer is DSLA).
    """

    is_croppable = False
    supports_early_init = False
    FIELDS = ("s1", "s2", "window_k", "window_v", "sink_k", "sink_v")

    def __init__(self):
        super().__init__()
        self.length = 0
        for name in self.FIELDS:
            setattr(self, name, None)

    def lazy_initialization(self, *args, **kwargs):
        self.is_initialized = True

    def update(self, *args, **kwargs):
        raise RuntimeError("a DSLA layer's cache holds states, not keys and values")

    def get_seq_length(self) -> int:
        return self.length

    def _map(self, fn):
        for name in self.FIELDS:
            if getattr(self, name) is not None:
                setattr(self, name, fn(getattr(self, name)))

    def reorder_cache(self, beam_idx):
        self._map(lambda x: x.index_select(0, beam_idx.to(x.device)))

    def batch_select_indices(self, indices):
        self._map(lambda x: x[indices])

    def batch_repeat_interleave(self, repeats: int):
        self._map(lambda x: x.repeat_interleave(repeats, dim=0))

    def offload(self):
        self._map(lambda x: x.to("cpu", non_blocking=True))

    def prefetch(self):
        pass

    def crop(self, tokens_to_remove: int):
        if tokens_to_remove != 0:
            raise RuntimeError("a DSLA layer's states cannot be cropped")

    def reset(self):
        self.__init__()


def install_dsla_cache_layers(cache, dsla_layers, num_layers: int):
    """Puts a DslaCacheLayer at each DSLA layer's index of a DynamicCache (in place; generate keeps the object)."""
    if not isinstance(cache, DynamicCache):
        raise NotImplementedError(f"DSLA layers need a DynamicCache, got {type(cache).__name__}")
    while len(cache.layers) < num_layers:
        cache.layers.append(DynamicLayer())
    for i in dsla_layers:
        if not isinstance(cache.layers[i], DslaCacheLayer):
            if cache.layers[i].get_seq_length() > 0:
                raise ValueError(f"cache layer {i} holds keys and values but layer {i} is a DSLA layer")
            cache.layers[i] = DslaCacheLayer()


class DslaAttention(nn.Module):
    """A converted layer's attention: dual (or single) gated linear attention, see the module docstring."""

    def __init__(self, config: DslaConfig, layer_idx: int):
        super().__init__()
        o = config.dsla
        self.layer_idx, self.settings = layer_idx, o
        self.heads, self.kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.head_dim = config.head_dim
        self.single = o["variant"] == "single"
        self.window, self.sinks, self.rope = int(o["window"]), int(o["sinks"]), bool(o["rope"])
        self.qz = o["normalize"] == "qz"
        h, kvh, d, hidden = self.heads, self.kv_heads, self.head_dim, config.hidden_size
        qkv_bias = config.attention_bias or getattr(config, "qkv_bias", False)
        self.q_proj = nn.Linear(hidden, h * d, bias=qkv_bias)
        self.k_proj = nn.Linear(hidden, kvh * d, bias=qkv_bias)
        self.v_proj = nn.Linear(hidden, kvh * d, bias=qkv_bias)
        self.o_proj = nn.Linear(h * d, hidden, bias=config.attention_bias)
        self.q_map = FeatureMap(o["feature_map"], h, d, int(o["feature_dim"]))
        self.k_map = FeatureMap(o["feature_map"], h, d, int(o["feature_dim"]))
        self.feature_dim = self.q_map.out_dim
        if o["temperature"]:
            self.temperature_log = nn.Parameter(torch.zeros(h))
        if self.window > 0:
            self.window_log_weight = nn.Parameter(torch.full((h,), math.log(o["window_weight"])))
        rank = int(o["gate_rank"])
        for state in ("history",) if self.single else ("history", "recency"):
            if rank > 0:
                setattr(self, f"{state}_gate_down", nn.Linear(hidden, rank, bias=False))
            setattr(self, f"{state}_gate_up", nn.Linear(rank or hidden, h * self.feature_dim))
        if not self.single:
            logit = math.log(o["gamma_init"] / (1 - o["gamma_init"]))
            self.gamma_logit = nn.Parameter(torch.full((h if o["per_head_gamma"] else 1,), logit))
        if o["output_norm"]:
            self.out_norm = LlamaRMSNorm(d, eps=config.rms_norm_eps)

    def log_gate(self, state: str, x: torch.Tensor) -> torch.Tensor:
        """log decay per channel [B, T, H, f], in [-50, 0]: logsigmoid(up(down(x))) / tau."""
        down = getattr(self, f"{state}_gate_down", None)
        z = getattr(self, f"{state}_gate_up")(down(x) if down is not None else x)  # [B, T, H*f]
        g = (F.logsigmoid(z.float()) / self.settings["tau"]).clamp_min(MIN_LOG_GATE)
        return g.view(x.shape[0], x.shape[1], self.heads, self.feature_dim)

    def forward(self, hidden_states, position_embeddings=None, attention_mask=None, past_key_values=None,
                dsla_pad=None, **kwargs):
        x = hidden_states
        b, t, _ = x.shape
        h, kvh, d, n, groups = self.heads, self.kv_heads, self.head_dim, self.window, self.heads // self.kv_heads
        q = self.q_proj(x).view(b, t, h, d)  # [B, T, H*d] -> [B, T, H, d]
        k = self.k_proj(x).view(b, t, kvh, d)  # k, v stay at KV heads until used
        v = self.v_proj(x).view(b, t, kvh, d)
        if self.rope:
            cos, sin = position_embeddings  # [B, T, d] -> [B, T, 1, d] inside
            q, k = apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=2)
        q, k, v = q.float(), k.float(), v.float()
        pad = dsla_pad if dsla_pad is not None else torch.zeros(b, dtype=torch.long, device=x.device)
        cache = past_key_values.layers[self.layer_idx] if past_key_values is not None else None
        start = cache.length if cache is not None else 0
        # With a window, the states take the token leaving it: the N buffered tokens then this call's,
        # [B, N + T, KVH, d] at columns start - N ..
        all_k, all_v = k, v
        if n > 0:
            cached = cache is not None and cache.window_k is not None
            all_k = torch.cat([cache.window_k if cached else k.new_zeros(b, n, kvh, d), k], 1)
            all_v = torch.cat([cache.window_v if cached else v.new_zeros(b, n, kvh, d), v], 1)
        entering = entering_mask(start, t, n, self.sinks, pad)[:, :, None, None]  # [B, T, 1, 1]
        k_heads, v_heads = repeat_heads(all_k, groups), repeat_heads(all_v, groups)  # [B, N + T, H, d]
        q_lin = q * self.temperature_log.float().exp().view(1, 1, h, 1) if hasattr(self, "temperature_log") else q
        phi_q = self.q_map(q_lin)  # [B, T, H, f]
        # Padding and tokens still in the window (or sinks) write nothing (where, not *, so padding can't leak NaN).
        phi_k = torch.where(entering, self.k_map(k_heads[:, :t]), 0.0)  # [B, T, H, f]
        v_in = torch.where(entering, v_heads[:, :t], 0.0)
        if self.qz:
            v_in = torch.cat([v_in, entering.expand(b, t, h, 1).float()], 3)  # [B, T, H, d + 1]
        before_pad = (start + torch.arange(t, device=x.device)[None] < pad[:, None])[:, :, None, None]
        g1 = torch.where(before_pad, 0.0, self.log_gate("history", x))  # decays on an all-zero state
        g2 = g1 if self.single else torch.where(before_pad, 0.0, self.log_gate("recency", x))
        gamma = torch.ones(h, device=x.device) if self.single else torch.sigmoid(self.gamma_logit.float()).expand(h)
        if cache is not None and cache.s1 is not None:
            s1, s2 = cache.s1, cache.s2
        else:
            s1 = torch.zeros(b, h, self.feature_dim, v_in.shape[3], device=x.device)
            s2 = torch.zeros_like(s1)
        if t == 1 or DSLA_FORCE_RECURRENT:
            o, s1, s2 = dsla_recurrent(phi_q, phi_k, v_in, g1, g2, gamma, s1, s2)
        else:
            o, s1, s2 = dsla_chunked(phi_q, phi_k, v_in, g1, g2, gamma, s1, s2, int(self.settings["chunk_size"]))
        if self.qz:
            unscale = math.sqrt(self.feature_dim)  # the states carry f^-1/2; the exact part does not
            num, den = o[..., :d] * unscale, o[..., d:] * unscale  # [B, T, H, d], [B, T, H, 1]
            if n > 0:
                sink_k = sink_v = None
                if self.sinks > 0:
                    cached = cache is not None and cache.sink_k is not None
                    sink_k = cache.sink_k if cached else k.new_zeros(b, self.sinks, kvh, d)
                    sink_v = cache.sink_v if cached else v.new_zeros(b, self.sinks, kvh, d)
                    sink_k, sink_v = updated_sinks(sink_k, k, start, pad), updated_sinks(sink_v, v, start, pad)
                    if cache is not None:
                        cache.sink_k, cache.sink_v = sink_k, sink_v
                    sink_k, sink_v = repeat_heads(sink_k, groups), repeat_heads(sink_v, groups)  # [B, S, H, d]
                ex_num, ex_den = exact_window_part(q, k_heads, v_heads, sink_k, sink_v, start, pad, n,
                                                   int(self.settings["chunk_size"]))
                weight = self.window_log_weight.float().exp().view(1, 1, h, 1)
                num, den = num + weight * ex_num, den + weight * ex_den
            o = num / (den + NORM_EPS)
        if cache is not None:
            cache.s1, cache.s2 = s1, s2
            if n > 0:
                cache.window_k, cache.window_v = all_k[:, t:], all_v[:, t:]  # the newest N columns
            cache.length += t
            cache.is_initialized = True
        o = o.to(x.dtype)
        if hasattr(self, "out_norm"):
            o = self.out_norm(o)  # [B, T, H, d], per head
        return self.o_proj(o.reshape(b, t, h * d)), None


def sliding_window_size(config: DslaConfig) -> int:
    """Window of a sliding_window layer: dsla.window, or state_matched_window (conversion.cpp): as many cached
    bytes as the two states of the dual layer the settings describe."""
    o = config.dsla
    if o["window"] > 0:
        return int(o["window"])
    d = config.head_dim
    f = 2 * (o["feature_dim"] or d) if o["feature_map"] == "hedgehog" else d
    state_floats = 2 * config.num_attention_heads * f * (d + (1 if o["normalize"] == "qz" else 0))
    return max(1, state_floats // (2 * config.num_key_value_heads * d))


def left_padding(attention_mask, batch: int, device) -> torch.Tensor | None:
    """Leading zeros per row of a 2D attention mask [B, past + T] (None when there is no 2D mask)."""
    if attention_mask is None or attention_mask.dim() != 2:
        return None
    mask = attention_mask.to(device).bool()
    pad = (mask.long().cumsum(-1) == 0).sum(-1)  # [B]
    cols = torch.arange(mask.shape[1], device=device)[None]
    if not torch.equal(mask, cols >= pad[:, None]):
        raise ValueError("DSLA layers support left padding only (attention_mask rows must be 0..0 1..1)")
    return pad


class DslaPreTrainedModel(LlamaPreTrainedModel):
    config_class = DslaConfig
    config: DslaConfig
    _can_compile_fullgraph = False
    _is_stateful = True  # DSLA states cannot be rolled back (no assisted generation)


class DslaModel(DslaPreTrainedModel, LlamaModel):
    """LlamaModel with the converted layers' self_attn replaced; forward passes each DSLA layer its row padding."""

    def __init__(self, config: DslaConfig):
        LlamaModel.__init__(self, config)
        self.dsla_layers = [i for i in config.dsla_layers]
        self.sliding_layers = []
        for i in self.dsla_layers:
            if config.dsla["variant"] == "sliding_window":
                self.sliding_layers.append(i)  # teacher's LlamaAttention, under a sliding-window mask
            else:
                self.layers[i].self_attn = DslaAttention(config, i)
        self.post_init()

    @merge_with_config_defaults
    @capture_outputs
    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, use_cache=None, **kwargs) -> BaseModelOutputWithPast:
        if (input_ids is None) ^ (inputs_embeds is not None):
            raise ValueError("You must specify exactly one of input_ids or inputs_embeds")
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        if use_cache and past_key_values is None:
            past_key_values = DynamicCache(config=self.config)
        attention_layers = [i for i in self.dsla_layers if i not in self.sliding_layers]
        if past_key_values is not None:
            install_dsla_cache_layers(past_key_values, attention_layers, self.config.num_hidden_layers)
        b, t = inputs_embeds.shape[:2]
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        pad = left_padding(attention_mask, b, inputs_embeds.device)
        if position_ids is None:  # column - row padding, as dsla (HF Llama would ignore the padding here)
            position_ids = torch.arange(past, past + t, device=inputs_embeds.device)[None]
            if pad is not None:
                position_ids = (position_ids - pad[:, None]).clamp_min(0)
        mask_args = dict(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                         past_key_values=past_key_values, position_ids=position_ids)
        causal_mask = create_causal_mask(config=self.config, **mask_args)
        sliding_mask = None
        if self.sliding_layers:
            window_config = copy.copy(self.config)  # the same config with the layers' window
            window_config.sliding_window = sliding_window_size(self.config)
            sliding_mask = create_sliding_window_causal_mask(config=window_config, **mask_args)
        hidden_states = inputs_embeds
        position_embeddings = self.rotary_emb(hidden_states, position_ids=position_ids)
        for i, decoder_layer in enumerate(self.layers[: self.config.num_hidden_layers]):
            extra = {"dsla_pad": pad} if i in attention_layers else {}
            hidden_states = decoder_layer(
                hidden_states,
                attention_mask=sliding_mask if i in self.sliding_layers else causal_mask,
                position_embeddings=position_embeddings,
                position_ids=position_ids,
                past_key_values=past_key_values,
                use_cache=use_cache,
                **extra,
                **kwargs,
            )
        hidden_states = self.norm(hidden_states)
        return BaseModelOutputWithPast(last_hidden_state=hidden_states, past_key_values=past_key_values)


class DslaForCausalLM(DslaPreTrainedModel, LlamaForCausalLM):
    """LlamaForCausalLM (its forward, loss and generate) over a DslaModel."""

    def __init__(self, config: DslaConfig):
        DslaPreTrainedModel.__init__(self, config)  # not LlamaForCausalLM.__init__: it would build a LlamaModel
        self.model = DslaModel(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()


__all__ = ["DslaForCausalLM", "DslaModel", "DslaPreTrainedModel", "DslaAttention", "DslaCacheLayer"]
