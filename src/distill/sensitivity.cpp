// Implementation of sensitivity profiling and its files.
#include "distill/sensitivity.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/progress.h"
#include "io/hf_config.h"
#include "model/softmax_attention.h"
#include "report/plot.h"

namespace dsla::distill {
namespace fs = std::filesystem;

std::vector<double> attention_entropy(model::LlamaForCausalLMImpl& model, const at::Tensor& ids,
                                      int64_t batch) {
  torch::NoGradGuard no_grad;
  int64_t layers = model.num_layers(), t = ids.size(1);
  DSLA_CHECK(t >= 2, "attention entropy needs sequences of at least 2 tokens, got {}", t);
  std::vector<double> sum(static_cast<size_t>(layers), 0.0);
  model::AttentionContext ctx = model.make_context(0, t);
  ProgressBar bar("entropy", ids.size(0), "seq");
  for (int64_t begin = 0; begin < ids.size(0); begin += batch) {
    at::Tensor chunk = ids.narrow(0, begin, std::min(batch, ids.size(0) - begin));
    at::Tensor h = model.model->embed_tokens->forward(chunk);
    for (int64_t i = 0; i < layers; ++i) {
      auto& layer = model.layer(i);
      auto* soft = dynamic_cast<model::SoftmaxAttention*>(layer.attention().get());
      DSLA_CHECK(soft != nullptr, "attention entropy: layer {} is already converted ({})", i,
                 layer.attention()->kind());
      at::Tensor p = soft->attention_probabilities(layer.input_layernorm->forward(h), ctx);
      // Entropy of each row [B, H, T]; row 0 (one key) is always 0 and is left out.
      at::Tensor entropy = -at::special_xlogy(p, p).sum(-1).narrow(2, 1, t - 1);
      sum[static_cast<size_t>(i)] += entropy.mean(at::IntArrayRef{1, 2}).sum().item<double>();
      h = layer.forward(h, ctx, nullptr);
    }
    bar.advance(chunk.size(0));
  }
  bar.finish();
  for (double& s : sum) s /= static_cast<double>(ids.size(0));
  return sum;
}

namespace {

/// Mean per-token KL(teacher || student) between log-probabilities [B, T, V].
double mean_kl(const at::Tensor& teacher_logp, const at::Tensor& student_logp) {
  return (teacher_logp.exp() * (teacher_logp - student_logp)).sum(-1).mean().item<double>();
}

}  // namespace

std::vector<double> replace_kl(model::LlamaForCausalLMImpl& model,
                               const model::ConversionSpec& spec, const at::Tensor& fit_ids,
                               const at::Tensor& eval_ids, const FitOptions& options) {
  at::Tensor teacher_logp;
  {
    torch::NoGradGuard no_grad;
    teacher_logp = at::log_softmax(model.forward(eval_ids), -1);
  }
  std::vector<double> kl;
  ProgressBar bar("replace-kl", model.num_layers(), "layer");
  model::AttentionContext ctx = model.make_context(0, fit_ids.size(1));
  for (int64_t i = 0; i < model.num_layers(); ++i) {
    auto teacher = model.layer(i).attention();
    model::convert_layer(model, i, spec);
    try {
      LayerIO io = collect_layer_io(model, i, *teacher, fit_ids, options.batch_size);
      FitOptions quiet = options;
      quiet.label.clear();
      quiet.seed = options.seed + static_cast<uint64_t>(i);
      if (options.steps > 0) fit_attention(*model.layer(i).attention(), io, ctx, quiet);
      torch::NoGradGuard no_grad;
      kl.push_back(mean_kl(teacher_logp, at::log_softmax(model.forward(eval_ids), -1)));
    } catch (...) {
      model.layer(i).set_attention(teacher);
      throw;
    }
    model.layer(i).set_attention(teacher);
    bar.advance(1, fmt::format("layer {} KL {:.4f}", i, kl.back()));
  }
  bar.finish();
  return kl;
}

std::vector<int64_t> ascending_order(const std::vector<double>& scores) {
  std::vector<int64_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return scores[static_cast<size_t>(a)] < scores[static_cast<size_t>(b)];
  });
  return order;
}

std::vector<fs::path> write_sensitivity(const SensitivityReport& r, const fs::path& dir) {
  fs::create_directories(dir);
  nlohmann::json j = {{"metrics", r.metrics},
                      {"order_metric", r.metrics.front()},
                      {"order", r.order},
                      {"scores", r.scores},
                      {"calibration", r.calibration}};
  std::vector<fs::path> written = {dir / "sensitivity.json", dir / "sensitivity.csv"};
  write_text_atomically(written[0], j.dump(2) + "\n");
  std::ostringstream csv;
  csv << "layer";
  for (const auto& m : r.metrics) csv << "," << m;
  csv << ",rank\n";
  size_t layers = r.scores.at(r.metrics.front()).size();
  for (size_t i = 0; i < layers; ++i) {
    csv << i;
    for (const auto& m : r.metrics) csv << "," << fmt::format("{:.6g}", r.scores.at(m)[i]);
    auto rank =
        std::find(r.order.begin(), r.order.end(), static_cast<int64_t>(i)) - r.order.begin();
    csv << "," << rank << "\n";
  }
  write_text_atomically(written[1], csv.str());
  if (report::plotting_available()) {
    std::vector<std::string> names;
    for (size_t i = 0; i < layers; ++i) names.push_back(std::to_string(i));
    const std::string& m = r.metrics.front();
    written.push_back(dir / "sensitivity.png");
    report::bar_plot(written.back(),
                     fmt::format("Layer sensitivity ({}; lowest converted first)", m), m, names,
                     r.scores.at(m));
  }
  return written;
}

SensitivityReport read_sensitivity(const fs::path& file) {
  nlohmann::json j = io::read_json_file(file);
  SensitivityReport r;
  try {
    r.metrics = j.at("metrics").get<std::vector<std::string>>();
    r.order = j.at("order").get<std::vector<int64_t>>();
    r.scores = j.at("scores").get<std::map<std::string, std::vector<double>>>();
    r.calibration = j.value("calibration", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    DSLA_FAIL("{}: not a sensitivity file: {}", file.string(), e.what());
  }
  DSLA_CHECK(!r.metrics.empty() && !r.order.empty(), "{}: no metrics or empty order",
             file.string());
  return r;
}

}  // namespace dsla::distill
