// Implementation of the process group on c10d: TCPStore rendezvous, Gloo collectives, and errors
// that say which rank and operation failed. The only file that includes c10d's headers.
#include "dist/group.h"

#include <ATen/ops/cat.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/tensor.h>
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "core/error.h"
#include "dist/cuda_backend.h"

namespace dsla::dist {

struct Group::Impl {
  int rank = 0, size = 1;
  std::chrono::milliseconds timeout{0};
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;       ///< Gloo, for CPU tensors
  c10::intrusive_ptr<c10d::Backend> cuda_backend;  ///< NCCL, made at the first CUDA collective

  /// The backend for tensors on `device`. Every rank reaches the first CUDA collective together,
  /// so they create the NCCL group together.
  c10d::Backend& backend_for(const c10::Device& device) {
    if (!device.is_cuda()) return *backend;
    if (!cuda_backend) {
      auto store_for_cuda = c10::make_intrusive<c10d::PrefixStore>("nccl", store);
      cuda_backend = make_cuda_backend(store_for_cuda, rank, size, timeout);
    }
    return *cuda_backend;
  }
};

namespace {

/// The first line of a c10d/Gloo message (they append C++ stack traces).
std::string first_line(const char* what) {
  std::string s(what);
  return s.substr(0, s.find('\n'));
}

std::shared_ptr<::gloo::transport::Device> gloo_device(const std::string& master_addr) {
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname) {
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  }
  // A job on one machine talks over loopback; otherwise the interface the hostname resolves to.
  if (master_addr == "localhost" || master_addr.rfind("127.", 0) == 0) {
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  }
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

/// Runs one collective; any c10d error becomes a dsla::Error saying what to do next.
template <typename Launch>
void run_collective(int rank, const std::string& what, Launch&& launch) {
  try {
    c10::intrusive_ptr<c10d::Work> work = launch();
    work->wait();
  } catch (const std::exception& e) {
    DSLA_FAIL(
        "rank {}: {} failed: {}. Another rank of the job exited or stopped answering (its log "
        "says why); completed stages are kept in the run directory: start the job again with "
        "--resume",
        rank, what, first_line(e.what()));
  }
}

/// Consecutive tensors of one dtype and device flattened into buckets of at most kBucketBytes (a
/// larger tensor gets a bucket of its own): one collective per bucket instead of one per tensor.
struct FlatBuffers {
  static constexpr int64_t kBucketBytes = 25 << 20;
  std::vector<std::vector<size_t>> members;  ///< indices into the input, per bucket
  std::vector<at::Tensor> buffers;           ///< [sum of the members' numels], one per bucket

  explicit FlatBuffers(const std::vector<at::Tensor>& tensors) {
    int64_t bytes = 0;
    for (size_t i = 0; i < tensors.size(); ++i) {
      const at::Tensor& t = tensors[i];
      DSLA_CHECK(t.device().is_cpu(), "collectives take CPU tensors (tensor {} is on {})", i,
                 t.device().str());
      int64_t size = t.numel() * static_cast<int64_t>(t.element_size());
      bool same_dtype =
          !members.empty() && tensors[members.back().front()].scalar_type() == t.scalar_type();
      if (!same_dtype || bytes + size > kBucketBytes) {
        members.emplace_back();
        bytes = 0;
      }
      members.back().push_back(i);
      bytes += size;
    }
    for (const auto& bucket : members) {
      std::vector<at::Tensor> flat;
      for (size_t i : bucket) flat.push_back(tensors[i].reshape({-1}));
      buffers.push_back(at::cat(flat));
    }
  }

  /// Copies the buffers' values back into `tensors`.
  void scatter_to(std::vector<at::Tensor>& tensors) const {
    for (size_t b = 0; b < buffers.size(); ++b) {
      int64_t offset = 0;
      for (size_t i : members[b]) {
        int64_t n = tensors[i].numel();
        tensors[i].copy_(buffers[b].narrow(0, offset, n).view(tensors[i].sizes()));
        offset += n;
      }
    }
  }
};

}  // namespace

Group::Group() = default;

Group::Group(const Environment& env, const GroupOptions& options)
    : rank_(env.rank), size_(env.world_size), options_(options), impl_(std::make_unique<Impl>()) {
  impl_->rank = rank_;
  impl_->size = size_;
  impl_->timeout = options.timeout;
  DSLA_CHECK(env.world_size >= 1 && env.rank >= 0 && env.rank < env.world_size,
             "RANK {} is outside WORLD_SIZE {}", env.rank, env.world_size);
  if (size_ == 1) return;
  c10d::TCPStoreOptions store_options;
  store_options.port = static_cast<uint16_t>(env.master_port);
  store_options.isServer = env.rank == 0;
  store_options.numWorkers = static_cast<size_t>(env.world_size);
  store_options.waitWorkers = true;
  store_options.timeout = options.timeout;
  try {
    auto tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, store_options);
    impl_->store = c10::make_intrusive<c10d::PrefixStore>("dsla", tcp);
    auto gloo_options = c10d::ProcessGroupGloo::Options::create(options.timeout);
    gloo_options->devices.push_back(gloo_device(env.master_addr));
    impl_->backend =
        c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, rank_, size_, gloo_options);
  } catch (const std::exception& e) {
    DSLA_FAIL(
        "rank {} of {}: the rendezvous at {}:{} (MASTER_ADDR:MASTER_PORT) failed within {} s: {}",
        rank_, size_, env.master_addr, env.master_port,
        std::chrono::duration_cast<std::chrono::seconds>(options.timeout).count(),
        first_line(e.what()));
  }
}

Group::~Group() = default;

void Group::all_reduce_sum(std::vector<at::Tensor>& tensors, const std::string& what) {
  if (size_ == 1 || tensors.empty()) return;
  FlatBuffers flat(tensors);
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::SUM;
  for (auto& buffer : flat.buffers) {
    std::vector<at::Tensor> one{buffer};
    c10d::Backend& backend = impl_->backend_for(buffer.device());
    run_collective(rank_, what, [&] { return backend.allreduce(one, o); });
  }
  flat.scatter_to(tensors);
}

void Group::broadcast(std::vector<at::Tensor>& tensors, int root, const std::string& what) {
  if (size_ == 1 || tensors.empty()) return;
  FlatBuffers flat(tensors);
  c10d::BroadcastOptions o;
  o.rootRank = root;
  for (auto& buffer : flat.buffers) {
    std::vector<at::Tensor> one{buffer};
    c10d::Backend& backend = impl_->backend_for(buffer.device());
    run_collective(rank_, what, [&] { return backend.broadcast(one, o); });
  }
  flat.scatter_to(tensors);
}

std::string Group::broadcast_string(const std::string& text, int root, const std::string& what,
                                    std::optional<std::chrono::milliseconds> timeout) {
  if (size_ == 1) return text;
  c10d::BroadcastOptions o;
  o.rootRank = root;
  o.timeout = timeout.value_or(options_.timeout);
  std::vector<at::Tensor> length{at::tensor({static_cast<int64_t>(text.size())}, at::kLong)};
  run_collective(rank_, what, [&] { return impl_->backend->broadcast(length, o); });
  int64_t n = length[0].item<int64_t>();
  std::vector<at::Tensor> bytes{at::empty({n}, at::kByte)};
  if (rank_ == root && n > 0) std::memcpy(bytes[0].data_ptr(), text.data(), text.size());
  o.timeout = options_.timeout;
  if (n == 0) return {};
  run_collective(rank_, what, [&] { return impl_->backend->broadcast(bytes, o); });
  return std::string(static_cast<const char*>(bytes[0].data_ptr()), static_cast<size_t>(n));
}

nlohmann::json run_on_main(Group& group, const std::string& what,
                           const std::function<nlohmann::json()>& work) {
  if (group.size() == 1) return work();
  std::string payload;
  std::exception_ptr failure;
  if (group.is_main()) {
    try {
      payload = nlohmann::json{{"ok", work()}}.dump();
    } catch (const std::exception& e) {
      payload = nlohmann::json{{"error", e.what()}}.dump();
      failure = std::current_exception();
    }
  }
  std::string received =
      group.broadcast_string(payload, 0, what, group.options().main_work_timeout);
  if (failure) std::rethrow_exception(failure);
  nlohmann::json j = nlohmann::json::parse(received);
  if (j.contains("error")) {
    DSLA_FAIL("{} failed on rank 0: {}", what, j["error"].get<std::string>());
  }
  return j["ok"];
}

}  // namespace dsla::dist
