// Reading a rank's place in the job from torchrun's (or Slurm's) environment variables.
#include <charconv>
#include <cstdlib>

#include "core/error.h"
#include "dist/group.h"

namespace dsla::dist {
namespace {

const char* variable(const char* name) {
  const char* value = std::getenv(name);
  return value && *value ? value : nullptr;
}

/// The leading integer of `name`'s value ("2(x3)" from SLURM_TASKS_PER_NODE reads as 2).
std::optional<int> int_variable(const char* name) {
  const char* text = variable(name);
  if (!text) return std::nullopt;
  int value = 0;
  auto [end, ec] = std::from_chars(text, text + std::char_traits<char>::length(text), value);
  DSLA_CHECK(ec == std::errc() && end != text, "environment variable {}='{}' is not an integer",
             name, text);
  return value;
}

/// `primary`, else the Slurm variable standing for it, else nullopt.
std::optional<int> int_variable(const char* primary, const char* slurm) {
  if (auto v = int_variable(primary)) return v;
  return int_variable(slurm);
}

}  // namespace

std::optional<Environment> environment_from_variables() {
  std::optional<int> world = int_variable("WORLD_SIZE", "SLURM_NTASKS");
  if (!world || *world == 1) return std::nullopt;
  Environment env;
  env.world_size = *world;
  DSLA_CHECK(env.world_size >= 1, "WORLD_SIZE={} must be at least 1", env.world_size);
  std::optional<int> rank = int_variable("RANK", "SLURM_PROCID");
  DSLA_CHECK(rank.has_value(), "WORLD_SIZE={} is set but RANK is not", env.world_size);
  env.rank = *rank;
  DSLA_CHECK(env.rank >= 0 && env.rank < env.world_size, "RANK={} is outside [0, WORLD_SIZE={})",
             env.rank, env.world_size);
  env.local_rank = int_variable("LOCAL_RANK", "SLURM_LOCALID").value_or(env.rank);
  env.local_world_size =
      int_variable("LOCAL_WORLD_SIZE", "SLURM_TASKS_PER_NODE").value_or(env.world_size);
  const char* addr = variable("MASTER_ADDR");
  DSLA_CHECK(addr != nullptr,
             "WORLD_SIZE={} needs MASTER_ADDR (the host of rank 0) and MASTER_PORT in the "
             "environment",
             env.world_size);
  env.master_addr = addr;
  std::optional<int> port = int_variable("MASTER_PORT");
  DSLA_CHECK(port.has_value(), "WORLD_SIZE={} needs MASTER_PORT in the environment",
             env.world_size);
  DSLA_CHECK(*port > 0 && *port < 65536, "MASTER_PORT={} is not a TCP port", *port);
  env.master_port = *port;
  return env;
}

}  // namespace dsla::dist
