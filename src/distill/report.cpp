// Implementation of the run report (markdown table + perplexity plot).
#include "distill/report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/atomic_file.h"
#include "report/plot.h"

namespace dsla::distill {

std::string stage_table(const run::RunProgress& p, int64_t num_layers) {
  std::vector<std::string> evals;
  if (!p.stages.empty()) {
    for (const auto& [name, value] : p.stages.front().perplexity) evals.push_back(name);
  }
  std::string out = "| stage | layer | converted | transfer loss (first -> last) | e2e loss |";
  for (const auto& e : evals) out += fmt::format(" {} ppl |", e);
  out += " seconds |\n|---|---|---|---|---|";
  for (size_t i = 0; i < evals.size(); ++i) out += "---|";
  out += "---|\n";
  for (const auto& s : p.stages) {
    double share = 100.0 * static_cast<double>(s.stage) / static_cast<double>(num_layers);
    out += s.stage == 0
               ? "| 0 (teacher) | - | 0 | - | - |"
               : fmt::format("| {} | {} | {} ({:.0f}%) | {:.4f} -> {:.4f} | {} |", s.stage, s.layer,
                             s.stage, share, s.transfer_first_loss, s.transfer_final_loss,
                             s.e2e_final_loss > 0 ? fmt::format("{:.4f}", s.e2e_final_loss) : "-");
    for (const auto& e : evals) {
      auto it = s.perplexity.find(e);
      out += it == s.perplexity.end() ? " - |" : fmt::format(" {:.3f} |", it->second);
    }
    out += fmt::format(" {:.1f} |\n", s.seconds);
  }
  return out;
}

void write_report(const run::RunDirectory& dir, const run::RunProgress& p,
                  const config::Recipe& r) {
  int64_t layers = p.num_layers;
  std::string md = fmt::format(
      "# Distillation report\n\n"
      "- model: `{}`\n- variant: {} (tau {}, gate rank {}, feature map {}, normalize {}, window "
      "{}, "
      "sinks {}, rope {})\n"
      "- order ({}): {}\n- stages completed: {} of {} planned ({} layers in the model)\n"
      "- attention transfer: {} steps/layer, batch {} x {} tokens, lr {}; end-to-end steps: {}\n\n",
      r.model.path, enum_name(p.plan.spec.variant), p.plan.spec.tau, p.plan.spec.gate_rank,
      enum_name(p.plan.spec.feature_map), enum_name(p.plan.spec.normalize), p.plan.spec.window,
      p.plan.spec.sinks, p.plan.spec.rope, enum_name(r.distill.order), fmt::join(p.plan.order, " "),
      p.plan.converted, p.target_stages, layers, r.distill.steps_per_layer, r.distill.batch_size,
      r.data.seq_len, r.distill.lr, r.distill.e2e_steps);
  md += stage_table(p, layers);
  if (report::plotting_available() && !p.stages.empty()) {
    std::vector<report::Series> series;
    for (const auto& [name, value] : p.stages.front().perplexity) {
      report::Series s{name, {}, {}};
      for (const auto& st : p.stages) {
        auto it = st.perplexity.find(name);
        if (it == st.perplexity.end()) continue;
        s.x.push_back(static_cast<double>(st.stage));
        s.y.push_back(it->second);
      }
      series.push_back(s);
    }
    report::line_plot(
        dir.root() / "perplexity.png",
        fmt::format("Held-out perplexity vs converted layers ({})", enum_name(p.plan.spec.variant)),
        "converted layers", "perplexity (log scale)", series, /*log_y=*/true);
    md += "\n![perplexity against converted layers](perplexity.png)\n";
  } else {
    md += "\n(no plot: gnuplot is not installed)\n";
  }
  write_text_atomically(dir.root() / "report.md", md);
}

}  // namespace dsla::distill
