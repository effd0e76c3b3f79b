// Per-layer sensitivity profiling (attention entropy, replace-one-layer KL) and the conversion
// order derived from it; sensitivity.json / .csv / .png.
#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "distill/layer_fit.h"
#include "model/conversion.h"

namespace dsla::distill {

struct SensitivityReport {
  std::vector<std::string> metrics;  ///< computed metrics; the first one orders the layers
  std::map<std::string, std::vector<double>> scores;  ///< metric -> one score per layer
  std::vector<int64_t> order;  ///< layers by ascending score of metrics[0] (convert first)
  nlohmann::json calibration;  ///< what the scores were computed on
};

/// Mean entropy (nats) of each layer's causal attention rows over the sequences ids [N, T], all
/// heads and all query positions >= 1, computed on the unconverted model. One value per layer.
std::vector<double> attention_entropy(model::LlamaForCausalLMImpl& model, const at::Tensor& ids,
                                      int64_t batch);

/// For each layer alone: convert it with `spec`, fit it for options.steps of attention transfer on
/// fit_ids, then measure the mean per-token KL(teacher || model) on eval_ids; restore the teacher
/// layer. One value per layer.
std::vector<double> replace_kl(model::LlamaForCausalLMImpl& model, const model::DslaSettings& spec,
                               const at::Tensor& fit_ids, const at::Tensor& eval_ids,
                               const FitOptions& options);

/// Layers sorted by ascending score (ties by index).
std::vector<int64_t> ascending_order(const std::vector<double>& scores);

/// Writes sensitivity.json, sensitivity.csv and (when gnuplot is available) sensitivity.png into
/// `dir`, atomically. Returns the written paths.
std::vector<std::filesystem::path> write_sensitivity(const SensitivityReport& report,
                                                     const std::filesystem::path& dir);

/// Reads a sensitivity.json; errors name the file.
SensitivityReport read_sensitivity(const std::filesystem::path& file);

}  // namespace dsla::distill
