// A fitting loop's state part-way (parameters, AdamW moments, loss bookkeeping): captured for
// periodic checkpoints, restored on every rank to continue exactly, saved as one safetensors file.
#pragma once

#include <torch/optim/optimizer.h>

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace dsla::dist {
class Group;
}

namespace dsla::distill {

/// The loss bookkeeping of a fitting loop: the first step's loss and the tail mean's running sums.
struct LossTally {
  double first_loss = 0, tail_sum = 0;
  std::vector<double> first_parts, tail_parts;
  int64_t tail_count = 0;
};

/// Everything needed to continue a loop after `steps_done` steps as if it had not stopped.
struct LoopState {
  int64_t steps_done = 0;
  std::vector<at::Tensor> params;               ///< the parameters' values, in loop order
  std::vector<at::Tensor> exp_avg, exp_avg_sq;  ///< AdamW's moments per parameter
  std::vector<int64_t> adam_steps;              ///< AdamW's step count per parameter (0 = none yet)
  LossTally tally;
};

/// Periodic checkpoints of a fitting loop (FitOptions::checkpoints).
struct LoopCheckpoints {
  int64_t every = 0;                           ///< steps between saves; 0 = never
  std::function<void(const LoopState&)> save;  ///< called on the main rank only
  std::optional<LoopState> resume;             ///< the main rank's saved state to continue from
  /// Asked on the main rank after each save; true ends the loop there (RunStopped on every rank).
  std::function<bool()> stop;
};

/// A run stopped at a checkpoint on request (dsla distill --time-limit): everything done so far
/// is saved and `--resume` continues it.
class RunStopped : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The main rank's `value` on every rank of `group` (null = this process alone).
bool main_rank_says(dist::Group* group, bool value);

/// The loop's state now (copies, safe to keep while training goes on).
LoopState capture_loop_state(int64_t steps_done, const std::vector<at::Tensor>& params,
                             torch::optim::Optimizer& optimizer, const LossTally& tally);

/// Puts `resume` (the main rank's; ignored elsewhere) into params and an AdamW optimizer's state on
/// every rank of `group` (null = this process alone) and returns the steps done, 0 = a fresh
/// start. `tally` takes the main rank's bookkeeping.
int64_t restore_loop_state(const std::optional<LoopState>& resume, dist::Group* group,
                           const std::vector<at::Tensor>& params,
                           torch::optim::Optimizer& optimizer, LossTally& tally);

/// Writes a state atomically with string `metadata` (what the loop belongs to).
void save_loop_state(const std::filesystem::path& path, const LoopState& state,
                     const std::map<std::string, std::string>& metadata);

/// Reads a state written by save_loop_state, with its metadata; throws dsla::Error naming the file
/// when it is malformed.
std::pair<LoopState, std::map<std::string, std::string>> load_loop_state(
    const std::filesystem::path& path);

}  // namespace dsla::distill
