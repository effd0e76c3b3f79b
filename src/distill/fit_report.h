// The fit report: each requested DSLA layer form fitted briefly to the teacher's attention output
// on the teacher's own layer inputs, layer by layer, beside the floors it has to beat.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "distill/layer_fit.h"
#include "model/dsla_settings.h"

namespace dsla::distill {

/// A named set of layer settings to compare.
struct FitForm {
  std::string name;
  model::DslaSettings settings;
};

/// One layer and form: held-out relative MSE, sum (s - y)^2 / sum y^2 (1.0 = predicting zeros).
struct FitRow {
  int64_t layer = 0;
  std::string form;
  double before = 0;  ///< the converted layer as initialised
  double after = 0;   ///< after the fit
  double seconds = 0;
};

struct FitReport {
  std::vector<int64_t> layers;
  std::vector<FitForm> forms;
  std::vector<FitRow> rows;
  /// The untrained exact part alone (the teacher's softmax over the last N tokens and the first S):
  /// "window N + S sinks" -> held-out relative MSE per layer, in the order of `layers`. One entry
  /// per window and sink count a form uses.
  std::map<std::string, std::vector<double>> window_floors;
};

/// Fits every form on every layer of `layers` (ascending) from the same initial state and steps,
/// on train_ids [N, T], and measures it on eval_ids [M, T]. One teacher walk feeds all layers.
/// `on_row` sees each row as it is finished.
FitReport fit_report(model::LlamaForCausalLMImpl& teacher, const at::Tensor& train_ids,
                     const at::Tensor& eval_ids, const std::vector<int64_t>& layers,
                     const std::vector<FitForm>& forms, const FitOptions& fit,
                     const std::function<void(const FitRow&)>& on_row);

/// Median (nearest rank) and worst held-out relative MSE after the fit of each form (and of each
/// window floor), then one line per layer: a Markdown table.
std::string fit_report_table(const FitReport& report);

/// Writes fit_report.{csv,json,md} and, when gnuplot is there, fit_report.png into `dir`.
void write_fit_report(const std::filesystem::path& dir, const FitReport& report);

}  // namespace dsla::distill
