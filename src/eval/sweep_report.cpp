// The outputs of an evaluation sweep: eval.json, eval.csv, eval.md and a PNG per metric.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.h"
#include "eval/sweep.h"
#include "report/plot.h"

namespace dsla::eval {
namespace fs = std::filesystem;

namespace {

/// Task labels in first-seen order, each with its metric names.
std::vector<std::pair<std::string, std::vector<std::string>>> task_metrics(
    const std::vector<EvalRow>& rows) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (const auto& r : rows) {
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const auto& p) { return p.first == r.result.task; });
    if (it == out.end()) {
      out.emplace_back(r.result.task, std::vector<std::string>{});
      it = std::prev(out.end());
    }
    for (const auto& [k, v] : r.result.metrics) {
      if (std::find(it->second.begin(), it->second.end(), k) == it->second.end()) {
        it->second.push_back(k);
      }
    }
  }
  return out;
}

std::string markdown(const std::vector<EvalRow>& rows) {
  std::ostringstream md;
  md << "# Evaluation\n";
  for (const auto& [task, metrics] : task_metrics(rows)) {
    md << "\n## " << task << "\n\n| model | converted |";
    for (const auto& m : metrics) md << " " << m << " |";
    md << " examples | examples/s | prompt tokens |\n|---|---|";
    for (size_t i = 0; i < metrics.size() + 3; ++i) md << "---|";
    md << "\n";
    std::string protocol;
    for (const auto& r : rows) {
      if (r.result.task != task) continue;
      protocol = r.result.protocol;
      md << fmt::format("| {} | {}/{} |", r.model, r.converted, r.num_layers);
      for (const auto& m : metrics) {
        auto it = r.result.metrics.find(m);
        md << (it == r.result.metrics.end() ? std::string(" - |")
                                            : fmt::format(" {:.2f} |", it->second));
      }
      md << fmt::format(" {} | {:.3f} | {:.0f} |\n", r.result.examples,
                        r.result.examples_per_second(), r.result.mean_prompt_tokens);
    }
    md << "\nProtocol: " << protocol << ".\n";
  }
  return md.str();
}

std::string csv(const std::vector<EvalRow>& rows) {
  std::ostringstream out;
  out << "model,converted,num_layers,task,metric,value,examples,seconds,examples_per_second\n";
  for (const auto& r : rows) {
    for (const auto& [k, v] : r.result.metrics) {
      out << fmt::format("{},{},{},{},{},{:.6f},{},{:.3f},{:.4f}\n", r.model, r.converted,
                         r.num_layers, r.result.task, k, v, r.result.examples, r.result.seconds,
                         r.result.examples_per_second());
    }
  }
  return out.str();
}

/// One plot per task metric: the metric against converted layers, the teacher as a flat line.
std::vector<std::string> plots(const std::vector<EvalRow>& rows, const fs::path& out_dir) {
  std::vector<std::string> written;
  if (!report::plotting_available()) return written;
  for (const auto& [task, metrics] : task_metrics(rows)) {
    for (const auto& m : metrics) {
      report::Series models{"dsla", {}, {}}, teacher{"teacher", {}, {}};
      double max_layers = 1;
      for (const auto& r : rows) {
        auto it = r.result.metrics.find(m);
        if (r.result.task != task || it == r.result.metrics.end()) continue;
        max_layers = std::max(max_layers, static_cast<double>(r.num_layers));
        if (r.converted == 0) teacher.y = {it->second, it->second};
        models.x.push_back(static_cast<double>(r.converted));
        models.y.push_back(it->second);
      }
      std::vector<report::Series> series = {models};
      if (!teacher.y.empty()) {
        teacher.x = {0, max_layers};
        series.push_back(teacher);
      }
      bool log_y = m.rfind("ppl", 0) == 0;
      std::string name = fmt::format("plot_{}_{}.png", file_safe(task), file_safe(m));
      report::line_plot(out_dir / name, fmt::format("{}: {}", task, m), "converted layers", m,
                        series, log_y);
      written.push_back(name);
    }
  }
  return written;
}

}  // namespace

void write_sweep_outputs(const std::vector<EvalRow>& rows, const fs::path& out_dir) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& r : rows) j.push_back(eval_row_json(r));
  std::vector<std::string> pngs = plots(rows, out_dir);
  std::string md = markdown(rows);
  for (const auto& p : pngs) md += fmt::format("\n![{}]({})\n", p, p);
  write_text_atomically(out_dir / "eval.json", nlohmann::json({{"rows", j}}).dump(2) + "\n");
  write_text_atomically(out_dir / "eval.csv", csv(rows));
  write_text_atomically(out_dir / "eval.md", md);
}

}  // namespace dsla::eval
