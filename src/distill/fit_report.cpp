// Implementation of the fit report: one teacher walk, a brief fit per layer and form, the floors.
#include "distill/fit_report.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/autograd.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/quantile.h"
#include "core/seconds.h"
#include "model/conversion.h"
#include "report/plot.h"

namespace dsla::distill {
namespace {

/// The layer's normalised inputs for the residuals h [N, T, hidden] and the teacher's outputs.
LayerIO layer_io(model::LlamaForCausalLMImpl& teacher, int64_t layer, const at::Tensor& h,
                 const model::AttentionContext& ctx) {
  torch::NoGradGuard no_grad;
  at::Tensor x = teacher.layer(layer).input_layernorm->forward(h);
  return {x, teacher.layer(layer).attention()->forward(x, ctx, nullptr), 0};
}

/// Held-out relative MSE of `m` on io, `batch` sequences at a time.
double heldout_mse(model::AttentionModule& m, const LayerIO& io, const model::AttentionContext& ctx,
                   int64_t batch) {
  torch::NoGradGuard no_grad;
  double error = 0, energy = 0;
  for (int64_t i = 0; i < io.x.size(0); i += batch) {
    int64_t n = std::min(batch, io.x.size(0) - i);
    at::Tensor y = io.y.narrow(0, i, n).to(at::kFloat);
    at::Tensor out = m.forward(io.x.narrow(0, i, n), ctx, nullptr).to(at::kFloat);
    error += (out - y).pow(2).sum().item<double>();
    energy += y.pow(2).sum().item<double>();
  }
  return error / std::max(energy, 1e-30);
}

double median(const std::vector<double>& v) {
  return quantile(v, 0.5);
}

std::vector<double> after_values(const FitReport& r, const std::string& form) {
  std::vector<double> v;
  for (const auto& row : r.rows) {
    if (row.form == form) v.push_back(row.after);
  }
  return v;
}

}  // namespace

FitReport fit_report(model::LlamaForCausalLMImpl& teacher, const at::Tensor& train_ids,
                     const at::Tensor& eval_ids, const std::vector<int64_t>& layers,
                     const std::vector<FitForm>& forms, const FitOptions& fit,
                     const std::function<void(const FitRow&)>& on_row) {
  DSLA_CHECK(!layers.empty() && std::is_sorted(layers.begin(), layers.end()),
             "fit report: layers must be given in ascending order");
  FitReport report{layers, forms, {}, {}};
  model::AttentionContext ctx = teacher.make_context(0, train_ids.size(1));
  at::Tensor h_train, h_eval;
  {
    torch::NoGradGuard no_grad;
    h_train = teacher.residual_before(train_ids, 0);
    h_eval = teacher.residual_before(eval_ids, 0);
  }
  const model::LlamaConfig& config = teacher.config();
  for (int64_t layer = 0; layer <= layers.back(); ++layer) {
    auto wanted = std::find(layers.begin(), layers.end(), layer);
    if (wanted != layers.end()) {
      LayerIO train = layer_io(teacher, layer, h_train, ctx);
      LayerIO eval = layer_io(teacher, layer, h_eval, ctx);
      const model::AttentionModule& attention = *teacher.layer(layer).attention();
      for (const auto& form : forms) {
        auto start = std::chrono::steady_clock::now();
        at::manual_seed(fit.seed + static_cast<uint64_t>(layer));
        auto student = model::make_student_attention(attention, config, form.settings, layer);
        FitRow row{layer, form.name, heldout_mse(*student, eval, ctx, fit.batch_size), 0, 0};
        FitOptions o = fit;
        o.label = fmt::format("L{} {}", layer, form.name);
        fit_attention(*student, train, ctx, o);
        row.after = heldout_mse(*student, eval, ctx, fit.batch_size);
        row.seconds = seconds_since(start);
        report.rows.push_back(row);
        if (on_row) on_row(row);
      }
      auto index = static_cast<size_t>(wanted - layers.begin());
      for (const auto& form : forms) {  // each window and sink count once per layer
        const model::DslaSettings& f = form.settings;
        if (f.exact_window() == 0) continue;
        std::string key = fmt::format("window {} + {} sinks", f.window, f.sinks);
        if (report.window_floors[key].size() > index) continue;
        // The form's own layer, untrained, with the states' weight ~1e-12 of the window's: the
        // teacher's softmax over exactly the window and sinks.
        model::DslaSettings only_window = f;
        only_window.window_weight = 1e12;
        auto window = model::make_student_attention(attention, config, only_window, layer);
        report.window_floors[key].push_back(heldout_mse(*window, eval, ctx, fit.batch_size));
      }
    }
    torch::NoGradGuard no_grad;
    auto attend = teacher.own_attention(ctx, nullptr);
    h_train = teacher.forward_layers(h_train, layer, layer + 1, attend);
    h_eval = teacher.forward_layers(h_eval, layer, layer + 1, attend);
  }
  return report;
}

std::string fit_report_table(const FitReport& r) {
  std::string out = "| form | median MSE | worst MSE | median before fit |\n|---|---|---|---|\n";
  for (const auto& form : r.forms) {
    std::vector<double> after = after_values(r, form.name), before;
    for (const auto& row : r.rows) {
      if (row.form == form.name) before.push_back(row.before);
    }
    out += fmt::format("| {} | {:.4f} | {:.4f} | {:.4f} |\n", form.name, median(after),
                       *std::max_element(after.begin(), after.end()), median(before));
  }
  for (const auto& [n, floors] : r.window_floors) {
    out += fmt::format("| floor: {} only (untrained) | {:.4f} | {:.4f} | |\n", n, median(floors),
                       *std::max_element(floors.begin(), floors.end()));
  }
  out += "\n| layer |";
  for (const auto& form : r.forms) out += fmt::format(" {} |", form.name);
  for (const auto& [n, floors] : r.window_floors) out += fmt::format(" floor: {} |", n);
  out += "\n|---|";
  for (size_t i = 0; i < r.forms.size() + r.window_floors.size(); ++i) out += "---|";
  out += "\n";
  for (size_t i = 0; i < r.layers.size(); ++i) {
    out += fmt::format("| {} |", r.layers[i]);
    for (const auto& form : r.forms) out += fmt::format(" {:.4f} |", after_values(r, form.name)[i]);
    for (const auto& [n, floors] : r.window_floors) out += fmt::format(" {:.4f} |", floors[i]);
    out += "\n";
  }
  return out;
}

void write_fit_report(const std::filesystem::path& dir, const FitReport& r) {
  std::filesystem::create_directories(dir);
  std::string csv = "layer,form,before,after,seconds\n";
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& row : r.rows) {
    csv += fmt::format("{},{},{:.6g},{:.6g},{:.2f}\n", row.layer, row.form, row.before, row.after,
                       row.seconds);
    rows.push_back({{"layer", row.layer},
                    {"form", row.form},
                    {"before", row.before},
                    {"after", row.after},
                    {"seconds", row.seconds}});
  }
  nlohmann::json floors = nlohmann::json::object();
  for (const auto& [n, values] : r.window_floors) {
    for (size_t i = 0; i < values.size(); ++i) {
      csv +=
          fmt::format("{},window_floor_{},{:.6g},{:.6g},0\n", r.layers[i], n, values[i], values[i]);
    }
    floors[n] = values;
  }
  nlohmann::json forms = nlohmann::json::object();
  for (const auto& form : r.forms) {
    forms[form.name] = settings_to_json(model::dsla_settings_table(), form.settings);
  }
  write_text_atomically(dir / "fit_report.csv", csv);
  nlohmann::json all = {
      {"layers", r.layers}, {"forms", forms}, {"rows", rows}, {"window_floors", floors}};
  write_text_atomically(dir / "fit_report.json", all.dump(2) + "\n");
  write_text_atomically(dir / "fit_report.md", fit_report_table(r));
  if (!report::plotting_available()) return;
  std::vector<report::Series> series;
  std::vector<double> xs(r.layers.begin(), r.layers.end());
  for (const auto& form : r.forms) series.push_back({form.name, xs, after_values(r, form.name)});
  for (const auto& [n, values] : r.window_floors) {
    series.push_back({"floor: " + n + " only", xs, values});
  }
  series.push_back({"zero predictor", xs, std::vector<double>(xs.size(), 1.0)});
  report::line_plot(dir / "fit_report.png", "held-out relative MSE of the fitted layer", "layer",
                    "relative MSE", series, true);
}

}  // namespace dsla::distill
