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
#include "io/json_file.h"
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
    auto attend = [&](int64_t i, const at::Tensor& x) {
      const auto& attention = model.layer(i).attention();
      auto* soft = dynamic_cast<model::SoftmaxAttention*>(attention.get());
      DSLA_CHECK(soft != nullptr, "attention entropy: layer {} is already converted ({})", i,
                 attention->kind());
      at::Tensor p = soft->attention_probabilities(x, ctx);  // [B, H, T, T]
      // Entropy of each row [B, H, T]; row 0 (one key) is always 0 and is left out.
      at::Tensor entropy = -at::special_xlogy(p, p).sum(-1).narrow(2, 1, t - 1);
      sum[static_cast<size_t>(i)] += entropy.mean(at::IntArrayRef{1, 2}).sum().item<double>();
      return soft->forward(x, ctx, nullptr);
    };
    model.forward_layers(model.model->embed_tokens->forward(chunk), 0, layers, attend);
    bar.advance(chunk.size(0));
  }
  bar.finish();
  for (double& s : sum) s /= static_cast<double>(ids.size(0));
  return sum;
}

namespace {

/// Log-probabilities of ids [N, T], computed batch by batch: one [b, T, V] tensor per batch.
std::vector<at::Tensor> batched_log_probs(model::LlamaForCausalLMImpl& model, const at::Tensor& ids,
                                          int64_t batch) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> out;
  for (int64_t begin = 0; begin < ids.size(0); begin += batch) {
    at::Tensor chunk = ids.narrow(0, begin, std::min(batch, ids.size(0) - begin));
    out.push_back(at::log_softmax(model.forward(chunk), -1));
  }
  return out;
}

/// Mean per-token KL(teacher || model) over ids, batch by batch against the teacher's log-probs.
double mean_kl(model::LlamaForCausalLMImpl& model, const at::Tensor& ids, int64_t batch,
               const std::vector<at::Tensor>& teacher_logp) {
  torch::NoGradGuard no_grad;
  double sum = 0;
  int64_t tokens = 0;
  for (size_t b = 0; b < teacher_logp.size(); ++b) {
    int64_t begin = static_cast<int64_t>(b) * batch;
    at::Tensor chunk = ids.narrow(0, begin, std::min(batch, ids.size(0) - begin));
    at::Tensor logp = at::log_softmax(model.forward(chunk), -1);
    const at::Tensor& t = teacher_logp[b];
    sum += (t.exp() * (t - logp)).sum(-1).sum().item<double>();
    tokens += chunk.numel();
  }
  return sum / static_cast<double>(tokens);
}

}  // namespace

std::vector<double> replace_kl(model::LlamaForCausalLMImpl& model, const model::DslaSettings& spec,
                               const at::Tensor& fit_ids, const at::Tensor& eval_ids,
                               const FitOptions& options) {
  std::vector<at::Tensor> teacher_logp = batched_log_probs(model, eval_ids, options.batch_size);
  std::vector<double> kl;
  ProgressBar bar("replace-kl", model.num_layers(), "layer");
  model::AttentionContext ctx = model.make_context(0, fit_ids.size(1));
  for (int64_t i = 0; i < model.num_layers(); ++i) {
    auto teacher = model.layer(i).attention();
    at::manual_seed(options.seed + static_cast<uint64_t>(i));  // the fresh gates' initialisation
    model::ScopedConversion converted(model, i, spec);  // the teacher's module is back after it
    LayerIO io = collect_layer_io(model, i, *teacher, fit_ids, options.batch_size);
    FitOptions quiet = options;
    quiet.label.clear();
    quiet.seed = options.seed + static_cast<uint64_t>(i);
    if (options.steps > 0) fit_attention(*model.layer(i).attention(), io, ctx, quiet);
    kl.push_back(mean_kl(model, eval_ids, options.batch_size, teacher_logp));
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
