// Implementation of the single-machine launcher: fork/exec of the ranks, signal forwarding, and
// ending the job when one rank fails.
#include "dist/local_launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "core/error.h"

namespace dsla::dist {
namespace {

constexpr int kMaxRanks = 256;
volatile sig_atomic_t g_rank_count = 0;
pid_t g_rank_pids[kMaxRanks];

void forward_signal(int sig) {
  for (int i = 0; i < g_rank_count; ++i) {
    if (g_rank_pids[i] > 0) ::kill(g_rank_pids[i], sig);
  }
}

pid_t start_rank(int rank, int nproc, int port, const std::vector<std::string>& args) {
  pid_t pid = ::fork();
  DSLA_CHECK(pid >= 0, "--nproc: cannot start rank {} (fork failed)", rank);
  if (pid > 0) return pid;
  std::string world = std::to_string(nproc), r = std::to_string(rank);
  ::setenv("WORLD_SIZE", world.c_str(), 1);
  ::setenv("LOCAL_WORLD_SIZE", world.c_str(), 1);
  ::setenv("RANK", r.c_str(), 1);
  ::setenv("LOCAL_RANK", r.c_str(), 1);
  ::setenv("MASTER_ADDR", "127.0.0.1", 1);
  ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
  std::vector<char*> argv;
  for (size_t i = 0; i < args.size(); ++i) {
    argv.push_back(const_cast<char*>(i == 0 ? "/proc/self/exe" : args[i].c_str()));
  }
  argv.push_back(nullptr);
  ::execv("/proc/self/exe", argv.data());
  std::perror("dsla: cannot start a rank (execv /proc/self/exe)");
  std::_Exit(127);
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

}  // namespace

int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  DSLA_CHECK(fd >= 0, "cannot open a socket to find a free port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  DSLA_CHECK(ok, "cannot find a free port on 127.0.0.1");
  return ntohs(addr.sin_port);
}

std::vector<std::string> strip_nproc(const std::vector<std::string>& args, int& nproc) {
  std::vector<std::string> out;
  nproc = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string value;
    if (args[i] == "--nproc") {
      DSLA_CHECK(i + 1 < args.size(), "--nproc needs a value (the number of local ranks)");
      value = args[++i];
    } else if (args[i].rfind("--nproc=", 0) == 0) {
      value = args[i].substr(8);
    } else {
      out.push_back(args[i]);
      continue;
    }
    char* end = nullptr;
    long n = std::strtol(value.c_str(), &end, 10);
    DSLA_CHECK(!value.empty() && *end == '\0' && n >= 1 && n <= kMaxRanks,
               "--nproc '{}' must be an integer in [1, {}]", value, kMaxRanks);
    nproc = static_cast<int>(n);
  }
  return out;
}

int launch_local_ranks(int nproc, const std::vector<std::string>& args,
                       std::chrono::milliseconds grace) {
  DSLA_CHECK(nproc >= 1 && nproc <= kMaxRanks, "--nproc {} must be in [1, {}]", nproc, kMaxRanks);
  int port = free_loopback_port();
  std::fprintf(stderr, "[launcher] starting %d ranks (rendezvous 127.0.0.1:%d)\n", nproc, port);
  struct sigaction action {};
  action.sa_handler = forward_signal;
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  for (int r = 0; r < nproc; ++r) {
    g_rank_pids[r] = start_rank(r, nproc, port, args);
    g_rank_count = r + 1;
  }
  int running = nproc, first_failure = 0;
  auto deadline = std::chrono::steady_clock::time_point::max();
  while (running > 0) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (int r = 0; r < nproc; ++r) {
        if (g_rank_pids[r] != pid) continue;
        g_rank_pids[r] = -1;
        --running;
        int code = exit_code(status);
        if (code != 0) {
          std::fprintf(stderr, "[launcher] rank %d exited with code %d\n", r, code);
          if (first_failure == 0) {
            first_failure = code;
            deadline = std::chrono::steady_clock::now() + grace;
          }
        }
      }
      continue;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr,
                   "[launcher] %d rank(s) still running after a rank failed: killing them\n",
                   running);
      forward_signal(SIGKILL);
      deadline = std::chrono::steady_clock::time_point::max();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  g_rank_count = 0;
  return first_failure;
}

}  // namespace dsla::dist
