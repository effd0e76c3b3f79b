// The settings of a converted layer (variant, DSLA gates and states, the sliding-window baseline),
// each declared once below; recipes, checkpoints, exports and --resume all go through this table.
// Header-only and LibTorch-free, so recipe parsing can use it without linking the model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/settings.h"

namespace dsla::model {

/// How the gates' initial per-token decays are set: one value per state (the paper) or spread
/// across a head's channels and across layers (RADLADS).
enum class GateInit { constant, spread };
DSLA_ENUM_NAMES(GateInit, {GateInit::constant, "constant"}, {GateInit::spread, "spread"})

/// The map applied to q and k (after RoPE when rope is on) before they meet the states.
/// identity: the paper's raw q, k. hedgehog (LoLCATs): [softmax(xW), softmax(-xW)] with a learned
/// per-head W (identity init). softmax (Liger): softmax over the head dimension. elu1: elu(x) + 1.
/// relu: max(x, 0).
enum class FeatureMap { identity, hedgehog, softmax, elu1, relu };
DSLA_ENUM_NAMES(FeatureMap, {FeatureMap::identity, "identity"}, {FeatureMap::hedgehog, "hedgehog"},
                {FeatureMap::softmax, "softmax"}, {FeatureMap::elu1, "elu1"},
                {FeatureMap::relu, "relu"})

/// How the linear part is normalised: none (the paper) or qz (divided by phi(q_t) . z_t, z the
/// gated sum of phi(k), shared with the exact window when there is one).
enum class Normalize { none, qz };
DSLA_ENUM_NAMES(Normalize, {Normalize::none, "none"}, {Normalize::qz, "qz"})

/// What a converted layer becomes.
enum class DslaVariant { dual, single, sliding_window };
DSLA_ENUM_NAMES(DslaVariant, {DslaVariant::dual, "dual"}, {DslaVariant::single, "single"},
                {DslaVariant::sliding_window, "sliding_window"})

// clang-format off
/// name, type, default, check, help. Adding a setting is one line here plus the code that uses it.
#define DSLA_LAYER_SETTINGS(X)                                                                     \
  X(variant, DslaVariant, DslaVariant::dual, checks::none,                                         \
    "dual (DSLA) | single (one gated state, the paper's GLA ablation) | sliding_window (softmax baseline)") \
  X(tau, double, 16.0, checks::positive, "log-gate = logsigmoid(z) / tau")                         \
  X(gate_rank, int64_t, 16, checks::non_negative(" (0 = full rank)"),                              \
    "rank of the gate projections x -> rank -> H*d; 0 = full rank x -> H*d")                       \
  X(per_head_gamma, bool, false, checks::none, "one history/recency mixing weight per head instead of one per layer") \
  X(rope, bool, false, checks::none, "apply the teacher's RoPE to q and k (the paper's DSLA uses none)") \
  X(output_norm, bool, false, checks::none, "per-head RMSNorm of the mixed output before o_proj")  \
  X(history_decay, double, 0.999, checks::open_unit(), "initial per-token decay of the history state") \
  X(recency_decay, double, 0.875, checks::open_unit(), "initial per-token decay of the recency state") \
  X(chunk_size, int64_t, 64, checks::positive, "chunk length of the chunked DSLA kernel")          \
  X(window, int64_t, 0, checks::non_negative(""),                                                  \
    "exact softmax over the last N tokens: beside the states for dual/single (0 = off, needs normalize: qz); " \
    "the whole layer for sliding_window (0 = as many cache bytes as the two states of the dual layer these settings describe)")      \
  X(sinks, int64_t, 0, checks::non_negative(""),                                                   \
    "dual/single with a window: the first S tokens are also attended exactly (never enter the states)") \
  X(window_weight, double, 10.0, checks::positive,                                                \
    "initial weight (per head, learned) of the exact window's scores against the states' in the shared denominator") \
  X(feature_map, FeatureMap, FeatureMap::identity, checks::none,                                   \
    "identity (the paper) | hedgehog (learned, LoLCATs) | softmax (Liger) | elu1 | relu; applied to q and k") \
  X(feature_dim, int64_t, 0, checks::non_negative(" (0 = head_dim)"),                              \
    "hedgehog: columns of the learned map per head; the feature has twice as many")                \
  X(normalize, Normalize, Normalize::none, checks::none,                                           \
    "none (the paper) | qz: divide by phi(q).z, z decayed by the same gates as the states")         \
  X(temperature, bool, false, checks::none,                                                        \
    "a learned per-head scale on q before the feature map (initialised to 1)")                     \
  X(single_decay, double, 0.96, checks::open_unit(), "initial per-token decay of the state of variant single") \
  X(gamma_init, double, 0.5, checks::open_unit(), "initial weight of the history state (dual)")      \
  X(gate_init, GateInit, GateInit::constant, checks::none,                                         \
    "constant: every channel starts at the state's decay above; spread: per-channel decays across channels and layers (RADLADS)")
// clang-format on

/// A converted layer's settings (the "dsla" recipe section and the "dsla" part of an export).
struct DslaSettings {
  DSLA_LAYER_SETTINGS(DSLA_SETTING_MEMBER)
  bool single_state() const { return variant == DslaVariant::single; }
  /// Tokens a DSLA layer attends exactly beside its states (0 for the sliding_window baseline).
  int64_t exact_window() const { return variant == DslaVariant::sliding_window ? 0 : window; }
};

inline const SettingsTable<DslaSettings>& dsla_settings_table() {
  using Self = DslaSettings;
  static const SettingsTable<Self> table = {DSLA_LAYER_SETTINGS(DSLA_SETTING_ENTRY)};
  return table;
}

/// Every problem of `s` ("dsla.key: message"): each setting's check and the cross-setting rules.
inline std::vector<std::string> check_dsla_settings(const DslaSettings& s) {
  std::vector<std::string> errors;
  check_settings(dsla_settings_table(), s, "dsla", errors);
  if (s.variant == DslaVariant::dual && s.history_decay <= s.recency_decay) {
    errors.push_back(
        "dsla.history_decay: must exceed dsla.recency_decay (the history state decays slower)");
  }
  if (s.variant != DslaVariant::sliding_window) {
    bool positive_map = s.feature_map != FeatureMap::identity;
    if (s.normalize == Normalize::qz && !positive_map) {
      errors.push_back(
          "dsla.normalize: qz needs a non-negative feature map (hedgehog, softmax, elu1 or relu); "
          "identity q.z can be zero or negative");
    }
    if (s.window > 0 && s.normalize != Normalize::qz) {
      errors.push_back(
          "dsla.window: an exact window beside the states shares their denominator; set "
          "dsla.normalize: qz");
    }
    if (s.window > 0 && !s.rope) {
      errors.push_back(
          "dsla.window: the exact window is the teacher's softmax, which needs RoPE; set "
          "dsla.rope: true");
    }
    if (s.sinks > 0 && s.window == 0) {
      errors.push_back("dsla.sinks: sinks are part of the exact window; set dsla.window > 0");
    }
  }
  return errors;
}

}  // namespace dsla::model
