// c10d behind engine/distributed.h: the store, the Gloo process group, DDP's Reducer, and what a
// rank says when another is lost. The only file that names a c10d or Gloo type.
#include "engine/distributed.h"

#include <skipzoo/models/manual_batch_norm.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/comm.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <set>
#include <sstream>
#include <thread>

namespace skipzoo::app {

namespace {

using std::chrono::milliseconds;

// DDP's size for the coalesced broadcasts of parameters and buffers (distributed.py).
constexpr size_t kBroadcastBytes = size_t{250} << 20;

int parse_int(const char* name, const char* text, int lo, int hi) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi) {
    throw std::invalid_argument(std::string(name) + "='" + text + "': expected a whole number in " +
                                std::to_string(lo) + ".." + std::to_string(hi));
  }
  return static_cast<int>(v);
}

// The sum over ranks as an autograd function: forward and backward are both allreduces.
struct SumOverRanks : public torch::autograd::Function<SumOverRanks> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, RankGroup* group) {
    ctx->saved_data["group"] = reinterpret_cast<int64_t>(group);
    auto out = x.detach().clone(at::MemoryFormat::Contiguous);
    group->sum_(out);
    return out;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto* group = reinterpret_cast<RankGroup*>(ctx->saved_data["group"].toInt());
    auto g = grads[0].clone(at::MemoryFormat::Contiguous);
    group->sum_(g);
    return {g, torch::Tensor()};
  }
};

// This host's address on the route to `host` (a connected UDP socket sends nothing): the
// address the other ranks can reach Gloo at, where the hostname may resolve to 127.0.1.1.
std::string address_towards(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0 || !found) {
    throw std::runtime_error("MASTER_ADDR '" + host + "' does not resolve to an IPv4 address");
  }
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in local{};
  socklen_t size = sizeof local;
  const bool ok = fd >= 0 && connect(fd, found->ai_addr, found->ai_addrlen) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &size) == 0;
  if (fd >= 0) close(fd);
  freeaddrinfo(found);
  if (!ok) throw std::runtime_error("no route from this host to MASTER_ADDR '" + host + "'");
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &local.sin_addr, text, sizeof text);
  return text;
}

std::string hostname() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  return name;
}

// Whether process `pid` on this host has ended (gone, dead, or a zombie its parent has not reaped).
bool process_ended(long pid) {
  if (kill(static_cast<pid_t>(pid), 0) != 0) return errno == ESRCH;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto paren = line.rfind(')');
  const char state = paren != std::string::npos && paren + 2 < line.size() ? line[paren + 2] : '?';
  return state == 'Z' || state == 'X';
}

class ReducerParallel : public DataParallel {
 public:
  ReducerParallel(c10::intrusive_ptr<c10d::ProcessGroup> pg, torch::nn::Module& module) : pg_(std::move(pg)) {
    std::set<const void*> seen;  // a parameter shared by two modules is reduced once
    for (const auto& p : module.parameters()) {
      if (p.requires_grad() && seen.insert(p.unsafeGetTensorImpl()).second) params_.push_back(p);
    }
    for (const auto& b : module.buffers()) buffers_.push_back(b.detach());
    // As DDP's constructor: the same shapes on every rank, then rank 0's values everywhere.
    c10d::verify_params_across_processes(pg_, params_, c10::nullopt);
    std::vector<torch::Tensor> states;
    for (const auto& p : params_) states.push_back(p.detach());
    states.insert(states.end(), buffers_.begin(), buffers_.end());
    c10d::broadcast_coalesced(pg_, states, kBroadcastBytes, 0);
    // One bucket for the first step; rebuild_buckets() then regroups them in the order backward
    // produced the gradients, 1 MiB first and 25 MiB after, as DDP does.
    const std::vector<size_t> first_limits = {static_cast<size_t>(std::numeric_limits<int64_t>::max())};
    const std::vector<bool> sparse(params_.size(), false);
    auto [buckets, limits] = c10d::compute_bucket_assignment_by_size(params_, first_limits, sparse);
    std::reverse(buckets.begin(), buckets.end());
    std::reverse(limits.begin(), limits.end());
    reducer_ = std::make_shared<c10d::Reducer>(params_, std::move(buckets), std::move(limits), pg_, sparse,
                                               c10d::kDefaultBucketBytesCap, /*find_unused_parameters=*/false,
                                               /*gradient_as_bucket_view=*/false,
                                               std::unordered_map<size_t, std::string>{},
                                               c10d::kDefaultFirstBucketBytes);
  }

  void before_forward() override {
    reducer_->prepare_for_forward();
    reducer_->rebuild_buckets();  // a collective after the first step; a no-op later
    if (!buffers_.empty()) c10d::broadcast_coalesced(pg_, buffers_, kBroadcastBytes, 0);
  }
  void after_forward() override { reducer_->prepare_for_backward({}); }
  void sync_buffers() override {
    if (!buffers_.empty()) c10d::broadcast_coalesced(pg_, buffers_, kBroadcastBytes, 0);
  }

 private:
  c10::intrusive_ptr<c10d::ProcessGroup> pg_;
  std::vector<torch::Tensor> params_, buffers_;
  std::shared_ptr<c10d::Reducer> reducer_;
};

class GlooGroup : public Distributed {
 public:
  GlooGroup(const LaunchEnv& env, const DistOptions& options) : env_(env), timeout_(options.timeout_s) {
    const milliseconds timeout(static_cast<int64_t>(options.timeout_s * 1000));
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(env.master_port);
    so.isServer = env.rank == 0 && !env.agent_store;
    so.waitWorkers = false;
    so.timeout = timeout;
    tcp_ = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    store_ = c10::make_intrusive<c10d::PrefixStore>("skipzoo/attempt_" + std::to_string(env.restart), tcp_);
    join_store(timeout);

    auto gloo = c10d::ProcessGroupGloo::Options::create(timeout);
    if (const char* names = std::getenv("GLOO_SOCKET_IFNAME"); names && *names) {
      std::stringstream list(names);
      for (std::string name; std::getline(list, name, ',');) {
        if (!name.empty()) gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
      }
    } else {
      gloo->devices.push_back(
          c10d::ProcessGroupGloo::createDeviceForHostname(address_towards(env.master_addr, env.master_port)));
    }
    gloo->threads = static_cast<int>(gloo->devices.size()) * 2;  // as torch.distributed does
    pg_ = c10::make_intrusive<c10d::ProcessGroupGloo>(c10::make_intrusive<c10d::PrefixStore>("gloo", store_),
                                                      env.rank, env.world_size, gloo);
  }

  int rank() const override { return env_.rank; }
  int world_size() const override { return env_.world_size; }

  void sum_(torch::Tensor& t) override {
    if (alone_) return;
    TORCH_CHECK(t.is_contiguous(), "RankGroup::sum_ needs a contiguous tensor");
    std::vector<torch::Tensor> v{t};
    pg_->allreduce(v)->wait();
  }
  void broadcast_(std::vector<torch::Tensor> tensors) override {
    if (alone_) return;
    for (auto& t : tensors) t = t.detach();
    c10d::broadcast_coalesced(pg_, tensors, kBroadcastBytes, 0);
  }
  void barrier() override {
    if (!alone_) pg_->barrier()->wait();
  }

  std::unique_ptr<DataParallel> data_parallel(torch::nn::Module& module) override {
    return std::make_unique<ReducerParallel>(pg_, module);
  }

  std::string lost_ranks() override {
    std::string out;
    const auto add = [&out](const std::string& text) { out += (out.empty() ? "" : "; ") + text; };
    // A killed rank's sockets close while it is still exiting, so the collective can fail before
    // the process has ended: look again for up to 2 s (this runs only after a failure).
    for (int attempt = 0; attempt < 20 && out.empty(); ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      for (int r = 0; r < env_.world_size; ++r) {
        if (r == env_.rank || static_cast<size_t>(r) >= peers_.size()) continue;
        const auto& [host, pid] = peers_[static_cast<size_t>(r)];
        if (host == host_ && pid > 0 && process_ended(pid)) {
          add("rank " + std::to_string(r) + " (pid " + std::to_string(pid) + ") has exited");
        }
      }
    }
    // Ranks that failed with an error recorded it; the store lives as long as its server does.
    try {
      store_->setTimeout(milliseconds(2000));
      for (int r = 0; r < env_.world_size; ++r) {
        const std::string key = "error/" + std::to_string(r);
        if (r == env_.rank || !store_->check({key})) continue;
        const auto bytes = store_->get(key);
        add("rank " + std::to_string(r) + " failed: " + std::string(bytes.begin(), bytes.end()));
      }
    } catch (const std::exception&) {
      if (out.empty() && env_.rank != 0 && !env_.agent_store) add("rank 0 (which serves the store) is unreachable");
    }
    return out;
  }

  void record_error(const std::string& message) override {
    try {
      store_->setTimeout(milliseconds(2000));
      store_->set("error/" + std::to_string(env_.rank), std::vector<uint8_t>(message.begin(), message.end()));
    } catch (const std::exception&) {
    }
  }

 private:
  // Every rank announces itself (host and pid, for lost_ranks) and waits for all the others.
  void join_store(milliseconds timeout) {
    host_ = hostname();
    const std::string me = host_ + " " + std::to_string(getpid());
    store_->set("joined/" + std::to_string(env_.rank), std::vector<uint8_t>(me.begin(), me.end()));
    std::vector<std::string> keys;
    for (int r = 0; r < env_.world_size; ++r) keys.push_back("joined/" + std::to_string(r));
    try {
      store_->wait(keys, timeout);
    } catch (const std::exception&) {
      std::string missing;
      for (int r = 0; r < env_.world_size; ++r) {
        if (!store_->check({keys[static_cast<size_t>(r)]})) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
      }
      if (missing.empty()) throw;
      throw std::runtime_error("rank(s) " + missing + " of " + std::to_string(env_.world_size) + " did not join within " +
                               std::to_string(static_cast<int64_t>(timeout_)) + " s (--dist-timeout) at " +
                               env_.master_addr + ":" + std::to_string(env_.master_port));
    }
    for (const auto& key : keys) {
      const auto bytes = store_->get(key);
      std::istringstream in(std::string(bytes.begin(), bytes.end()));
      std::pair<std::string, long> peer;
      in >> peer.first >> peer.second;
      peers_.push_back(peer);
    }
  }

  LaunchEnv env_;
  double timeout_;
  std::string host_;
  std::vector<std::pair<std::string, long>> peers_;  // each rank's host and pid
  c10::intrusive_ptr<c10d::TCPStore> tcp_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroup> pg_;
};

}  // namespace

LaunchEnv launch_env(const std::function<const char*(const char*)>& getenv) {
  const auto get = [&getenv](const char* name) -> const char* {
    const char* v = getenv(name);
    return v && *v ? v : nullptr;
  };
  LaunchEnv env;
  const auto read = [&](const char* rank, const char* size, const char* local, const char* launcher) {
    env.world_size = parse_int(size, get(size), 1, 1 << 20);
    env.rank = parse_int(rank, get(rank), 0, env.world_size - 1);
    if (get(local)) env.local_rank = parse_int(local, get(local), 0, env.world_size - 1);
    env.launcher = launcher;
  };
  if (get("RANK") && get("WORLD_SIZE")) {
    read("RANK", "WORLD_SIZE", "LOCAL_RANK", get("TORCHELASTIC_RUN_ID") ? "torchrun" : "env");
  } else if (get("SLURM_PROCID") && get("SLURM_STEP_NUM_TASKS")) {
    read("SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_LOCALID", "slurm");
    // A one-name node list ("node7") is the master; "node[1-4]" needs MASTER_ADDR (scontrol show hostnames).
    if (const char* nodes = get("SLURM_JOB_NODELIST"); nodes && !std::strpbrk(nodes, "[,")) env.master_addr = nodes;
  } else if (get("OMPI_COMM_WORLD_RANK") && get("OMPI_COMM_WORLD_SIZE")) {
    read("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "openmpi");
  }
  if (const char* addr = get("MASTER_ADDR")) env.master_addr = addr;
  if (const char* port = get("MASTER_PORT")) env.master_port = parse_int("MASTER_PORT", port, 1, 65535);
  if (const char* restart = get("TORCHELASTIC_RESTART_COUNT")) {
    env.restart = parse_int("TORCHELASTIC_RESTART_COUNT", restart, 0, 1 << 20);
  }
  if (const char* agent = get("TORCHELASTIC_USE_AGENT_STORE")) env.agent_store = std::string(agent) == "True";
  return env;
}

void check_backend(const DistOptions& options) {
  // NCCL is in CUDA builds of LibTorch only; this engine drives its ranks through Gloo.
  if (options.backend != "auto" && options.backend != "gloo") {
    throw std::invalid_argument("--backend " + options.backend +
                                ": this build has Gloo only (NCCL comes with CUDA builds of LibTorch); use gloo");
  }
}

torch::Tensor RankGroup::sum(const torch::Tensor& t) { return SumOverRanks::apply(t, this); }

int64_t RankGroup::rank0(int64_t value) {
  auto t = torch::tensor({value}, torch::kLong);
  broadcast_({t});
  return t.item<int64_t>();
}

int synchronize_batch_norm(torch::nn::Module& module, RankGroup& group) {
  int layers = 0;
  const models::ReplicaSum sum = [&group](torch::Tensor& t) { group.sum_(t); };
  for (const auto& m : module.modules()) {
    if (auto* bn = dynamic_cast<models::ManualBatchNorm2dImpl*>(m.get())) {
      bn->replica_sum = sum;
      ++layers;
    } else if (auto* bn1 = dynamic_cast<models::ManualBatchNorm1dImpl*>(m.get())) {
      bn1->replica_sum = sum;
      ++layers;
    }
  }
  return layers;
}

std::unique_ptr<Distributed> Distributed::join(const LaunchEnv& env, const DistOptions& options) {
  check_backend(options);
  return std::make_unique<GlooGroup>(env, options);
}

}  // namespace skipzoo::app
