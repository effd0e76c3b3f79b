// dsla distill: chained conversion of the teacher's layers as a recipe says, stage by stage; one
// process, one rank of a data-parallel job (torchrun/Slurm environment), or --nproc local ranks.
#include <fmt/format.h>

#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "cli/model_loading.h"
#include "cli/recipe_options.h"
#include "core/error.h"
#include "dist/group.h"
#include "dist/local_launcher.h"
#include "distill/driver.h"
#include "distill/loop_state.h"
#include "distill/report.h"

namespace dsla::cli {

/// The exit status of a run stopped by --time-limit (EX_TEMPFAIL: try again, with --resume).
constexpr int kExitStopped = 75;

int run_distill(int argc, char** argv) {
  cxxopts::Options options(
      "dsla distill",
      "Convert the teacher's layers one at a time (profiling first when the order is by "
      "sensitivity); checkpoints every stage in the run directory. Runs as one rank of a "
      "data-parallel job when WORLD_SIZE, RANK, MASTER_ADDR and MASTER_PORT are set "
      "(docs/distributed.md).");
  add_recipe_options(options);
  // clang-format off
  options.add_options()
      ("resume", "continue the run in the run directory after its last completed stage")
      ("allow-change", "with --resume, accept a recipe whose training settings differ from the "
       "run's (the earlier recipe is kept in recipe_history/, the change logged)")
      ("time-limit", "stop at the first checkpoint after M minutes (a parallel transfer checkpoint "
       "or a completed stage) with exit status 75; --resume continues", cxxopts::value<double>(), "M")
      ("nproc", "start N data-parallel ranks on this machine", cxxopts::value<int>(), "N")
      ("dist-timeout", "seconds a rank waits for the others in a collective before the job ends",
       cxxopts::value<int>()->default_value("300"), "S")
      ("h,help", "show this help");
  // clang-format on
  auto parsed = parse_or_help(options, argc, argv);
  if (!parsed) return 0;
  auto timeout = std::chrono::seconds((*parsed)["dist-timeout"].as<int>());
  DSLA_CHECK(timeout.count() >= 1, "--dist-timeout {} must be at least 1 second", timeout.count());
  if (parsed->count("nproc")) {
    int nproc = 0;
    std::vector<std::string> args = dist::strip_nproc({argv, argv + argc}, nproc);
    args.insert(args.begin(), "dsla");
    // The ranks notice a failed peer within their timeout; the launcher waits a little longer.
    return dist::launch_local_ranks(nproc, args, timeout + std::chrono::seconds(30));
  }
  config::Recipe r = load_recipe_from_options(*parsed);
  std::unique_ptr<dist::Group> group;
  distill::DistillOptions o;
  if (auto env = dist::environment_from_variables()) {
    dist::GroupOptions group_options;
    group_options.timeout = timeout;
    group = std::make_unique<dist::Group>(*env, group_options);
    o.local_rank = env->local_rank;
    if (r.run.threads == 0) {
      // The ranks on one machine share its cores.
      int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
      o.threads = std::max(1, cores / std::max(1, env->local_world_size));
    }
  }
  o.resume = parsed->count("resume") != 0;
  o.allow_change = parsed->count("allow-change") != 0;
  o.group = group.get();
  if (parsed->count("time-limit")) {
    double minutes = (*parsed)["time-limit"].as<double>();
    DSLA_CHECK(minutes > 0, "--time-limit {} must be a positive number of minutes", minutes);
    o.time_limit_s = 60 * minutes;
  }
  run::RunProgress progress;
  try {
    progress = distill::run_distill(r, o);
  } catch (const distill::RunStopped& stopped) {
    if (!group || group->is_main()) {
      std::cerr << fmt::format(
          "[distill] time limit reached: {}; everything so far is saved in {}, continue with "
          "--resume\n",
          stopped.what(), r.run.dir);
    }
    return kExitStopped;
  }
  if (group && !group->is_main()) return 0;
  std::cout << distill::stage_table(progress, progress.num_layers);
  std::cout << fmt::format("run directory: {} (report.md, metrics.jsonl, stages/)\n", r.run.dir);
  return 0;
}

}  // namespace dsla::cli
