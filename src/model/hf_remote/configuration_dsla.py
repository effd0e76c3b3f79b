# HF remote-code config of a dsla export: the teacher's LlamaConfig plus the "dsla" section (converted-layer settings).
"""Configuration of a dsla hybrid export.

config.json is the teacher's Llama config with one extra object, "dsla": every converted-layer setting of
src/model/dsla_settings.h (variant, tau, gate_rank, feature_map, normalize, window, sinks, ...) plus the conversion
plan (order, converted, converted_layers). `DslaConfig` keeps that object as the plain dict `config.dsla`, with the
C++ defaults filled in for any setting an older export lacks, and checks it with the C++ cross-setting rules.
"""
from transformers import LlamaConfig

# Every setting of DSLA_LAYER_SETTINGS (src/model/dsla_settings.h) and its default.
DSLA_DEFAULTS = {
    "variant": "dual",  # dual | single | sliding_window
    "tau": 16.0,
    "gate_rank": 16,
    "per_head_gamma": False,
    "rope": False,
    "output_norm": False,
    "history_decay": 0.999,
    "recency_decay": 0.875,
    "chunk_size": 64,
    "window": 0,
    "sinks": 0,
    "window_weight": 10.0,
    "feature_map": "identity",  # identity | hedgehog | softmax | elu1 | relu
    "feature_dim": 0,
    "normalize": "none",  # none | qz
    "temperature": False,
    "single_decay": 0.96,
    "gamma_init": 0.5,
    "gate_init": "constant",  # constant | spread
}
VARIANTS = ("dual", "single", "sliding_window")
FEATURE_MAPS = ("identity", "hedgehog", "softmax", "elu1", "relu")


def resolve_dsla_settings(section: dict | None, num_layers: int) -> dict:
    """The "dsla" section with defaults filled in, `converted_layers` present, and the C++ rules checked."""
    s = dict(DSLA_DEFAULTS)
    s.update(section or {})
    if "converted_layers" not in s:  # order[:converted], as ConversionPlan::converted_layers()
        s["converted_layers"] = list(s.get("order", []))[: int(s.get("converted", 0))]
    s["converted_layers"] = [int(i) for i in s["converted_layers"]]
    errors = []
    if s["variant"] not in VARIANTS:
        errors.append(f"variant {s['variant']!r} is not one of {VARIANTS}")
    if s["feature_map"] not in FEATURE_MAPS:
        errors.append(f"feature_map {s['feature_map']!r} is not one of {FEATURE_MAPS}")
    if s["normalize"] not in ("none", "qz"):
        errors.append(f"normalize {s['normalize']!r} is not none or qz")
    if any(i < 0 or i >= num_layers for i in s["converted_layers"]) or len(set(s["converted_layers"])) != len(
        s["converted_layers"]
    ):
        errors.append(f"converted_layers {s['converted_layers']} is not a set of layers in [0, {num_layers})")
    if s["variant"] != "sliding_window":
        if s["normalize"] == "qz" and s["feature_map"] == "identity":
            errors.append("normalize qz needs a non-negative feature map")
        if s["window"] > 0 and (s["normalize"] != "qz" or not s["rope"]):
            errors.append("an exact window needs normalize qz and rope true")
        if s["sinks"] > 0 and s["window"] == 0:
            errors.append("sinks need window > 0")
    if errors:
        raise ValueError("config.json dsla section: " + "; ".join(errors))
    return s


class DslaConfig(LlamaConfig):
    """A LlamaConfig carrying `dsla`: the converted layers' settings (see the module docstring).

    model_type stays "llama" (the export's config.json is the teacher's); auto_map points AutoConfig here.
    """

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)  # sets unknown config.json keys, "dsla" among them, as attributes
        self.dsla = resolve_dsla_settings(getattr(self, "dsla", None), self.num_hidden_layers)

    @property
    def dsla_layers(self) -> list[int]:
        """Indices of the converted layers."""
        return list(self.dsla["converted_layers"])


__all__ = ["DslaConfig", "DSLA_DEFAULTS", "resolve_dsla_settings"]
