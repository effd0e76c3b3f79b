// `--nproc N`: starting N ranks of a data-parallel job on this machine and supervising them.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace dsla::dist {

/// `args` without the `--nproc` option (both "--nproc N" and "--nproc=N"); `nproc` gets its value
/// (0 when absent). Throws dsla::Error when the value is not a positive integer.
std::vector<std::string> strip_nproc(const std::vector<std::string>& args, int& nproc);

/// A TCP port on 127.0.0.1 nobody listens on right now (the kernel's pick). Throws dsla::Error
/// when none can be found.
int free_loopback_port();

/// Runs `nproc` copies of this program with `args` (args[0] is ignored: the running executable is
/// used) as the ranks of one job: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR
/// (127.0.0.1) and MASTER_PORT (a free port) set for each. SIGINT and SIGTERM are passed on to the
/// ranks. When a rank fails, the others get `grace` to notice and exit by themselves and are then
/// killed. Returns 0 when every rank succeeded, else the exit code of the first rank that failed
/// (128 + signal for a killed rank).
int launch_local_ranks(int nproc, const std::vector<std::string>& args,
                       std::chrono::milliseconds grace);

}  // namespace dsla::dist
