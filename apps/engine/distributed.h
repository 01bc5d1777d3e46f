#pragma once
// Data-parallel training on c10d, PyTorch's own distributed engine: one process per rank,
// configured the way PyTorch jobs are launched (torchrun's variables, Slurm's, Open MPI's, or
// `--nproc N` on one machine). Gradients are averaged by c10d's Reducer, DDP's engine (buckets
// allreduced while backward still runs). This header names no c10d type: the trainer and the
// tasks see a RankGroup, and distributed.cpp is the one place that knows the backend.
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace skipzoo::app {

// Where this process stands in a data-parallel job, read from the launcher's environment.
struct LaunchEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  int restart = 0;            // torchrun's TORCHELASTIC_RESTART_COUNT: keeps attempts' keys apart
  bool agent_store = false;   // torchrun's agent already serves the store on MASTER_ADDR:MASTER_PORT
  std::string launcher = "";  // "torchrun", "env" (RANK/WORLD_SIZE), "slurm", "openmpi"; "" alone
  bool distributed() const { return world_size > 1; }
};

// torchrun's (and `--nproc`'s) RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT; without
// them srun's SLURM_PROCID, SLURM_STEP_NUM_TASKS, SLURM_LOCALID (an sbatch script's own shell,
// which sets SLURM_NTASKS but is no task of a step, stays one process), or Open MPI's OMPI_COMM_WORLD_RANK,
// _SIZE, _LOCAL_RANK (then MASTER_ADDR is required for more than one rank; Slurm falls back to
// the first host of SLURM_JOB_NODELIST when it is a plain name). Throws std::invalid_argument
// naming the variable for a value that is not a number in range.
LaunchEnv launch_env(const std::function<const char*(const char*)>& getenv);

// The distributed flags of `skipzoo train` (their defaults live here).
struct DistOptions {
  std::string backend = "auto";  // auto or gloo (this CPU build has no NCCL: `nccl` is a usage error)
  double timeout_s = 300;        // --dist-timeout: joining, and any collective, fails after this
  bool sync_bn = false;          // --sync-bn: BatchNorm statistics over the global batch
  int nproc = 0;                 // --nproc N > 1: start N local ranks (this process waits for them)
};
// Throws std::invalid_argument for a backend this build does not have.
void check_backend(const DistOptions& options);

// The ranks of a run, as the trainer and the tasks use them. Every call is a collective: all
// ranks make the same calls in the same order. Failures (a lost rank, the timeout) throw.
class RankGroup {
 public:
  virtual ~RankGroup() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  bool is_main() const { return rank() == 0; }
  // Sums `t` over the ranks in place (no autograd).
  virtual void sum_(torch::Tensor& t) = 0;
  // Rank 0's values into every rank's tensors (same shapes and dtypes on every rank).
  virtual void broadcast_(std::vector<torch::Tensor> tensors) = 0;
  // Waits for every rank.
  virtual void barrier() = 0;
  // The sum over the ranks, with autograd: its gradient is the sum of the ranks' gradients
  // (the adjoint of an allreduce), so a loss or a statistic built from global sums trains
  // exactly as the one process with the global batch would.
  torch::Tensor sum(const torch::Tensor& t);
  // Rank 0's value of a scalar decision (time budgets and clocks differ between ranks).
  int64_t rank0(int64_t value);

  // While one exists, this rank's sum_, broadcast_ and barrier do nothing: for work one rank does
  // alone (rank 0 measuring the memory layout with real training passes).
  class Alone {
   public:
    explicit Alone(RankGroup& group) : group_(group) { group_.alone_ = true; }
    ~Alone() { group_.alone_ = false; }
    Alone(const Alone&) = delete;
    Alone& operator=(const Alone&) = delete;

   private:
    RankGroup& group_;
  };

 protected:
  bool alone_ = false;
};

// Keeps a module's replicas equal: DDP's construction (parameters checked equal and broadcast
// with the buffers from rank 0) and, per step, the Reducer's bucketed gradient averaging.
class DataParallel {
 public:
  virtual ~DataParallel() = default;
  // Before each training forward: the Reducer's bookkeeping; buffers (BatchNorm's running
  // statistics) from rank 0, as DDP's broadcast_buffers does.
  virtual void before_forward() = 0;
  // After the forward, before backward: arms the gradient hooks for this step.
  virtual void after_forward() = 0;
  // Rank 0's buffers everywhere now (before validation: the last step updated each rank's
  // BatchNorm statistics from its own share).
  virtual void sync_buffers() = 0;
};

// A joined run: the process group, its store, and what is needed to say which rank was lost.
class Distributed : public RankGroup {
 public:
  // Joins the job `env` describes: rank 0 (or torchrun's agent) serves the store at
  // MASTER_ADDR:MASTER_PORT; every rank must join within options.timeout_s, or the error names
  // the ranks that did not. Gloo binds to GLOO_SOCKET_IFNAME's interfaces, else to this host's
  // address on the route to MASTER_ADDR. Throws std::runtime_error (backend unavailable, a rank
  // missing, the address unusable).
  static std::unique_ptr<Distributed> join(const LaunchEnv& env, const DistOptions& options);
  // DDP over `module`'s parameters (those that require grad) and buffers.
  virtual std::unique_ptr<DataParallel> data_parallel(torch::nn::Module& module) = 0;
  // For the message after a collective failed: which ranks exited (same host: by their pid;
  // any host: those that recorded their error), or "" when it cannot be told.
  virtual std::string lost_ranks() = 0;
  // Records this rank's error for the others' messages (best effort; never throws).
  virtual void record_error(const std::string& message) = 0;
};

// --sync-bn: every ManualBatchNorm of `module` takes its training statistics over the ranks'
// batches together (ManualBatchNormImpl::replica_sum). Returns the number of layers set.
int synchronize_batch_norm(torch::nn::Module& module, RankGroup& group);

// Runs `work` as one rank: a failure is reported with the rank's number (and, after a collective
// failed, the ranks that were lost), recorded for the other ranks, and the process ends at once
// with the usual exit status (1 runtime, 2 usage, 130 interrupted): unwinding a broken process
// group could wait for its peers up to the timeout. `work` ends with its own last collective
// (after it, rank 0 may go on alone: the others do not wait for its export).
void run_rank(Distributed& group, const std::function<void()>& work);

// `--nproc N`: starts N copies of this command line as ranks 0..N-1 on this machine (a free
// MASTER_PORT on 127.0.0.1, --threads split between them unless given), forwards SIGINT/SIGTERM,
// and returns the first failing rank's exit status (0 if all succeed). After a rank fails, the
// others get `grace_s` seconds to stop by themselves, then are killed. `args` are the arguments
// after the program name, without --nproc.
int launch_local_ranks(int nproc, const std::vector<std::string>& args, bool threads_given, double grace_s);

}  // namespace skipzoo::app
