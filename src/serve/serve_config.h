// The settings of one `dsla serve`, each declared once below: the same table reads a YAML file
// (`schema: serve`) and the command-line flags (the key with '-' for '_'), flags overriding the
// file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/settings.h"
#include "model/hybrid_model.h"
#include "serve/controller.h"
#include "serve/engine.h"

namespace dsla::serve {

// clang-format off
#define DSLA_SERVE_SETTINGS(X)                                                                     \
  X(model, std::string, "", checks::required("a run or model directory is required (--model DIR)"), \
    "a dsla distill run directory, or an HF/exported model directory")                             \
  X(host, std::string, "127.0.0.1", checks::required(), "address to listen on")                    \
  X(port, int64_t, 8000, checks::in_range([](double v) { return v >= 0 && v <= 65535; }, "[0, 65535]"), \
    "port (0 = any free one)")                                                                     \
  X(port_file, std::string, "", checks::none, "write the bound port into this file")              \
  X(max_connections, int64_t, 256, checks::positive,                                              \
    "connections served at once, a thread each (later ones wait for a free one)")                 \
  X(read_timeout, double, 10.0, checks::positive, "seconds a connection may stay silent (requests and keep-alive)") \
  X(max_batch, int64_t, 8, checks::positive, "requests running at once")                           \
  X(max_context, int64_t, 0, checks::non_negative(" (0 = the model's positions)"),                 \
    "prompt + max_tokens limit (0 = the model's positions)")                                       \
  X(cache_budget_mb, double, 0.0, checks::non_negative(" (0 = no limit)"),                         \
    "cache memory for admitted requests (0 = no limit)")                                           \
  X(prefill_chunk, int64_t, 512, checks::positive, "prompt tokens prefilled between decode steps") \
  X(depth, std::string, "auto", checks::none, "'auto' (the controller) or a fixed depth")          \
  X(max_depth, int64_t, -1, checks::none, "deepest depth the controller may choose (-1 = the model's deepest)") \
  X(prompt_high, int64_t, 1024, checks::non_negative(), "deeper when the longest queued prompt exceeds this") \
  X(prompt_low, int64_t, 256, checks::non_negative(), "shallower only when it is below this")      \
  X(queue_high, int64_t, 8, checks::non_negative(), "deeper when more requests than this wait")    \
  X(queue_low, int64_t, 2, checks::non_negative(), "shallower only when fewer than this wait")     \
  X(cooldown, double, 5.0, checks::non_negative(), "seconds between depth changes")                \
  X(depth_step, int64_t, 1, checks::positive, "layers converted or restored per depth change")     \
  X(queued_tokens_high, int64_t, 0, checks::non_negative(" (0 = off)"),                            \
    "deeper above this many queued prompt tokens (0 = off)")                                       \
  X(cache_pressure_high, double, 0.0, checks::non_negative(" (0 = off)"),                          \
    "deeper above this reserved/budget fraction (0 = off)")                                        \
  X(tpot_slo_ms, double, 0.0, checks::non_negative(" (0 = off)"),                                  \
    "deeper when p99 time per output token exceeds this (0 = off)")                                \
  X(quality_eval, std::string, "", checks::none, "dsla eval's eval.json for the quality guard")    \
  X(quality_task, std::string, "squad", checks::required(), "task of the quality guard")           \
  X(quality_metric, std::string, "f1", checks::required(), "metric of the quality guard")          \
  X(quality_tolerance, double, 0.1, checks::non_negative(), "relative drop from the teacher allowed") \
  X(decisions, std::string, "", checks::none, "append depth decisions (JSONL) to this file")       \
  X(drain_seconds, double, 30.0, checks::non_negative(),                                           \
    "on SIGINT/SIGTERM, let running requests finish this long")                                    \
  X(threads, int, 0, checks::non_negative(" (0 = cores)"), "intra-op threads (0 = cores)")        \
  X(device, std::string, "cpu", checks::device(), "device of the model: cpu, cuda or cuda:N")
// clang-format on

struct ServeConfig {
  DSLA_SERVE_SETTINGS(DSLA_SETTING_MEMBER)
  /// The fixed depth when `depth` is a number; nullopt for "auto".
  std::optional<int64_t> fixed_depth() const;
};

const SettingsTable<ServeConfig>& serve_settings_table();

/// Every problem of `c` ("key: message"): each setting's check and the rules across settings.
std::vector<std::string> check_serve_config(const ServeConfig& c);

/// The depth controller's settings for `model` (its depths and the quality guard's ceiling).
/// Throws dsla::Error when max_depth is outside the model's depths.
ControllerConfig controller_config(const ServeConfig& c, const model::HybridModel& model);

/// The engine's settings.
EngineOptions engine_options(const ServeConfig& c);

/// Reads `file` (a `schema: serve` YAML file) when given, then applies `overrides` ("key=value",
/// the value read as YAML), then checks the result. Throws dsla::Error listing every problem,
/// naming the file.
ServeConfig load_serve_config(const std::optional<std::filesystem::path>& file,
                              const std::vector<std::string>& overrides);

}  // namespace dsla::serve
