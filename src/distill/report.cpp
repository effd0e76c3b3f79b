// Implementation of the run report (markdown table + perplexity plot).
#include "distill/report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>

#include "core/atomic_file.h"
#include "distill/phase_support.h"
#include "report/plot.h"

namespace dsla::distill {

namespace {

/// A stage's end-to-end cell: the final training loss, and with held-out checks the KL to the
/// teacher before the phase and at the best step it kept.
std::string e2e_cell(const run::StageRecord& s) {
  if (s.e2e_final_loss <= 0) return "-";
  std::string cell = fmt::format("{:.4f}", s.e2e_final_loss);
  if (const auto& c = s.e2e_checks) {
    cell +=
        fmt::format("; held-out KL {:.4f} -> {:.4f} (step {})", c->first, c->best, c->best_step);
    if (c->rollbacks > 0) cell += fmt::format(", {} rollback(s)", c->rollbacks);
  }
  return cell;
}

}  // namespace

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
    out += s.stage == 0 ? "| 0 (teacher) | - | 0 | - | - |"
                        : fmt::format("| {} | {} | {} ({:.0f}%) | {:.4f} -> {:.4f} | {} |", s.stage,
                                      s.layer, s.stage, share, s.transfer_first_loss,
                                      s.transfer_final_loss, e2e_cell(s));
    for (const auto& e : evals) {
      auto it = s.perplexity.find(e);
      out += it == s.perplexity.end() ? " - |" : fmt::format(" {:.3f} |", it->second);
    }
    out += fmt::format(" {:.1f} |\n", s.seconds);
  }
  return out;
}

namespace {

/// The parallel transfer phase (transfer.json): each run of it, then each layer's losses.
std::string transfer_section(const nlohmann::json& t) {
  std::string out = "\n## Parallel attention transfer\n\n";
  for (const auto& phase : t.at("phases")) {
    std::string sources;
    for (const auto& src : phase.at("sources")) {
      sources += fmt::format(" {} {} tokens ({:.2f} passes);", src.at("name").get<std::string>(),
                             src.at("tokens").get<int64_t>(), src.at("passes").get<double>());
    }
    int64_t resumed = phase.value("resumed_at_step", int64_t{0});
    out += fmt::format(
        "- {}: {} layers, {} steps{}, {} tokens per layer, {:.0f} s: teacher forward {:.0f} s, "
        "students {:.0f} s, held-out scoring {:.0f} s; data:{}\n",
        phase.value("name", std::string("parallel_transfer")), phase.at("layers").size(),
        phase.at("steps").get<int64_t>(),
        resumed > 0 ? fmt::format(" (resumed at step {}; seconds after it)", resumed) : "",
        phase.at("tokens_per_layer").get<int64_t>(), phase.at("seconds").get<double>(),
        phase.at("teacher_forward_seconds").get<double>(),
        phase.at("student_seconds").get<double>(), phase.at("heldout_seconds").get<double>(),
        sources);
  }
  out +=
      "\n| layer | relative MSE, first step | last 10% of steps | held-out | held-out before the "
      "extra phase |\n|---|---|---|---|---|\n";
  std::map<int64_t, nlohmann::json> layers;  // ascending layer order
  for (const auto& [key, v] : t.at("layers").items()) layers[std::stoll(key)] = v;
  for (const auto& [layer, v] : layers) {
    std::string before =
        v.contains("extra")
            ? fmt::format("{:.4f}", v["extra"].at("before_heldout_mse").get<double>())
            : "-";
    out += fmt::format("| {} | {:.4f} | {:.4f} | {:.4f} | {} |\n", layer,
                       v.at("first_loss").get<double>(), v.at("final_loss").get<double>(),
                       v.at("heldout_mse").get<double>(), before);
  }
  return out;
}

/// Wall time of the stages by part, summed.
std::string stage_time_line(const run::RunProgress& p) {
  std::map<std::string, double> total;
  for (const auto& s : p.stages) {
    for (const auto& [part, seconds] : s.seconds_by_part) total[part] += seconds;
  }
  if (total.empty()) return "";
  std::string out = "\nStage time by part:";
  for (const auto& [part, seconds] : total) out += fmt::format(" {} {:.0f} s;", part, seconds);
  return out + "\n";
}

/// The repair phase's line: its depth, steps, loss and perplexity after it.
std::string repair_line(const run::RunProgress& p) {
  if (!p.repair) return "";
  const run::RepairRecord& r = *p.repair;
  std::string out = fmt::format(
      "\nRepair of all {} converted layers at once (depth {} only; smaller depths keep their "
      "stages' layers): {} steps, {} tokens, {:.0f} s, loss {:.4f} -> {:.4f}",
      r.depth, r.depth, r.steps, r.tokens, r.seconds, r.first_loss, r.final_loss);
  if (r.checks) {
    out += fmt::format("; held-out KL {:.4f} -> {:.4f} (step {})", r.checks->first, r.checks->best,
                       r.checks->best_step);
  }
  for (const auto& [name, value] : r.perplexity) out += fmt::format("; {} ppl {:.3f}", name, value);
  return out + "\n";
}

}  // namespace

void write_report(const run::RunDirectory& dir, const run::RunProgress& p,
                  const config::Recipe& r) {
  int64_t layers = p.num_layers;
  std::string md = fmt::format(
      "# Distillation report\n\n"
      "- model: `{}`\n- variant: {} (tau {}, gate rank {}, feature map {}, normalize {}, window "
      "{}, "
      "sinks {}, rope {})\n"
      "- order ({}): {}\n- stages completed: {} of {} planned ({} layers in the model)\n"
      "- attention transfer ({}): {} steps/layer, batch {} x {} tokens, lr {}; end-to-end steps: "
      "{} "
      "(lr {}, KL weight {}, CE weight {}, {}, held-out check every {} steps)\n\n",
      r.model.path, enum_name(p.plan.spec.variant), p.plan.spec.tau, p.plan.spec.gate_rank,
      enum_name(p.plan.spec.feature_map), enum_name(p.plan.spec.normalize), p.plan.spec.window,
      p.plan.spec.sinks, p.plan.spec.rope, enum_name(r.distill.order), fmt::join(p.plan.order, " "),
      p.plan.converted, p.target_stages, layers, enum_name(r.distill.transfer),
      r.distill.steps_per_layer, r.distill.batch_size, r.data.seq_len, r.distill.lr,
      r.distill.e2e_steps, end_to_end_lr(r.distill), r.distill.kd_weight, r.distill.ce_weight,
      r.distill.e2e_adapter == config::E2eAdapter::lora
          ? fmt::format("LoRA rank {} alpha {} + new parameters", r.distill.lora_rank,
                        r.distill.lora_alpha)
          : std::string("all attention parameters"),
      r.distill.check_every);
  md += stage_table(p, layers);
  md += stage_time_line(p);
  md += repair_line(p);
  if (auto transfer = dir.load_transfer_summary()) md += transfer_section(*transfer);
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
