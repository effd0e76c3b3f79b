// A data-parallel process group (one rank of a job): rendezvous from the torchrun environment
// variables and the collectives distillation needs, on LibTorch's c10d (Gloo for CPU tensors).
#pragma once

#include <ATen/core/Tensor.h>

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace dsla::dist {

/// Where this rank sits in a job: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
/// MASTER_PORT as torchrun, Slurm wrappers and `dsla ... --nproc N` set them.
struct Environment {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
};

/// The job's environment, or nullopt when WORLD_SIZE is unset (a single-process run). Throws
/// dsla::Error naming the variable when one is missing or malformed.
std::optional<Environment> environment_from_variables();

struct GroupOptions {
  /// Longest wait of one training collective (and of the rendezvous) for the other ranks.
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};
  /// Longest wait for work only the main rank does (profiling, evaluation, checkpoints).
  std::chrono::milliseconds main_work_timeout{std::chrono::hours(24)};
};

class Group {
 public:
  /// A one-rank group: every collective is a no-op.
  Group();
  /// Joins the job `env` describes (rank 0 hosts the rendezvous store). Throws dsla::Error when
  /// the rendezvous fails or times out.
  Group(const Environment& env, const GroupOptions& options);
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_main() const { return rank_ == 0; }
  const GroupOptions& options() const { return options_; }

  /// Sums each tensor over the ranks, in place (CPU tensors). `what` names the operation in errors.
  void all_reduce_sum(std::vector<at::Tensor>& tensors, const std::string& what);
  /// Copies `root`'s tensors into every rank's, in place.
  void broadcast(std::vector<at::Tensor>& tensors, int root, const std::string& what);
  /// `root`'s string on every rank; waits up to `timeout` (options().timeout when unset).
  std::string broadcast_string(const std::string& text, int root, const std::string& what,
                               std::optional<std::chrono::milliseconds> timeout = std::nullopt);

 private:
  struct Impl;
  int rank_ = 0, size_ = 1;
  GroupOptions options_;
  std::unique_ptr<Impl> impl_;
};

/// Runs `work` on the main rank only and returns its result on every rank; the other ranks wait up
/// to options().main_work_timeout. An error on the main rank is rethrown on every rank with the
/// same message, so each rank's log says why the job ended.
nlohmann::json run_on_main(Group& group, const std::string& what,
                           const std::function<nlohmann::json()>& work);

}  // namespace dsla::dist
