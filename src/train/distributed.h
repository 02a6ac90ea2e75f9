#pragma once
// Data-parallel training on torch's own c10d: where this process sits in the job (torchrun's or
// Slurm's environment variables), a process group (TCPStore rendezvous + Gloo, or NCCL where
// LibTorch has it), and the few collectives a data-parallel trainer needs, each done on ONE
// flattened buffer per dtype so a step costs one network round per dtype, not one per parameter.
//
//   auto env = sola::distributed_env_from_environment();   // RANK, WORLD_SIZE, ... (torchrun)
//   auto group = sola::ProcessGroup::create(env);           // blocks until all ranks joined
//   group.broadcast(params);                                // same start everywhere
//   loss.backward();  sola::sum_gradients(group, *model);   // every rank: sum over all ranks
//
// Determinism: with 2 ranks every element of a summed float tensor is fl(a0 + a1), bit for bit
// the value a single process gets by accumulating the two micro-batch gradients (Gloo's ring
// allreduce adds each element once, as local + remote, then copies the result to the other
// rank; IEEE addition is commutative). With more ranks all ranks still get identical bits, but
// the order of the additions depends on the element's position in the ring, so the result may
// differ in the last bits from a sequential g0 + g1 + g2 + ...
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

namespace sola {

/// This process's place in a data-parallel job.
struct DistributedEnv {
  int rank = 0;                          ///< 0 .. world_size-1; rank 0 hosts the rendezvous store
  int world_size = 1;                    ///< number of processes
  int local_rank = 0;                    ///< rank among the processes on this machine (CUDA device)
  std::string master_addr = "127.0.0.1"; ///< host of rank 0, reachable from every rank
  int master_port = 29500;               ///< TCP port rank 0 listens on for the rendezvous
  /// Network interface Gloo binds to (GLOO_SOCKET_IFNAME, e.g. "eth0"); empty: the loopback
  /// interface when master_addr is a loopback address, else the address this host's name
  /// resolves to (set it for multi-node runs where that is 127.0.1.1, as on stock Debian).
  std::string gloo_interface;

  /// True when there is more than one process.
  bool enabled() const { return world_size > 1; }
};

/// The DistributedEnv that `vars` (variable name -> value) describe:
///  - torchrun: RANK and WORLD_SIZE (both, or neither), LOCAL_RANK (default: RANK),
///    MASTER_ADDR (default 127.0.0.1), MASTER_PORT (default 29500);
///  - else Slurm (srun), when SLURM_NTASKS is set: SLURM_PROCID (required), SLURM_LOCALID
///    (default: the rank), MASTER_ADDR (required when SLURM_NTASKS > 1; Slurm sets none),
///    MASTER_PORT (default 29500);
///  - else a single process (world_size 1).
/// GLOO_SOCKET_IFNAME fills gloo_interface. Every variable that is set is validated: throws
/// ConfigError naming the variable and its value for a non-integer, WORLD_SIZE below 1, a rank
/// or local rank outside [0, world_size), a port outside [1, 65535], an empty MASTER_ADDR, or
/// only one of RANK / WORLD_SIZE.
DistributedEnv distributed_env_from_variables(const std::map<std::string, std::string>& vars);

/// distributed_env_from_variables over this process's environment.
DistributedEnv distributed_env_from_environment();

/// The c10d backend that carries the collectives.
enum class CommBackend {
  gloo,  ///< TCP; CPU tensors (and CUDA tensors, staged through the host, where LibTorch has CUDA)
  nccl,  ///< CUDA tensors on cuda:local_rank; only where LibTorch was built with NCCL
};

/// "gloo" or "nccl".
std::string comm_backend_name(CommBackend backend);

/// A group of `world_size` processes that run the same collectives in the same order.
///
/// Every collective is blocking and must be called by all ranks, in the same order, with tensors
/// of the same dtypes and shapes (on every rank, the i-th tensor of the list must match). An
/// object is used from one thread at a time. After a collective failed (a peer died, the timeout
/// passed) the group is broken: report the error and end the process.
///
/// A group with world_size 1 opens no socket and starts no thread; its collectives leave the
/// tensors as they are (the sum over one rank), so a trainer may always hold a group.
class ProcessGroup {
 public:
  /// Joins the group `env` describes: rank 0 starts a c10d::TCPStore on master_port (all
  /// interfaces), the others connect to master_addr:master_port (retrying while rank 0 is not up
  /// yet); then the backend connects every pair of ranks. Blocks until all world_size ranks have
  /// joined, for about `timeout` at most (which also bounds every later collective). Throws
  /// ConfigError when `env` is inconsistent or `backend` is not built into this LibTorch
  /// (gloo_available(), nccl_available()), sola::Error naming the rank and the master address
  /// when the rendezvous fails (port in use, master unreachable, a rank missing at the timeout).
  /// For world_size 1 it returns at once (see the class comment).
  static ProcessGroup create(const DistributedEnv& env,
                             std::chrono::milliseconds timeout = std::chrono::minutes(5),
                             CommBackend backend = CommBackend::gloo);

  /// True where this LibTorch has Gloo (Debian's libtorch 1.13 has; USE_C10D_GLOO).
  static bool gloo_available();
  /// True where this LibTorch has NCCL and its headers were found at build time (USE_C10D_NCCL).
  static bool nccl_available();

  ProcessGroup(ProcessGroup&&) noexcept;
  ProcessGroup& operator=(ProcessGroup&&) noexcept;
  ~ProcessGroup();

  int rank() const;
  int size() const;
  CommBackend backend() const;

  /// Replaces every tensor by its elementwise sum over all ranks. The tensors are packed into one
  /// contiguous buffer per (dtype, device), in order of first appearance, each buffer is summed
  /// with one allreduce, and the results are copied back (a single contiguous tensor is summed in
  /// place). Throws sola::Error for an undefined or sparse tensor (before any communication) and
  /// when the collective fails, e.g. for a dtype the backend cannot sum (Gloo in 1.13 sums
  /// float, double, half and the integer types, not bfloat16 or bool). Works on tensors that
  /// require grad (no autograd is recorded).
  void allreduce_sum(std::vector<torch::Tensor>& tensors);

  /// Replaces every tensor by rank `root`'s (packed like allreduce_sum). Throws sola::Error for a
  /// root outside [0, size()) and as allreduce_sum does.
  void broadcast(std::vector<torch::Tensor>& tensors, int root = 0);

  /// Returns once every rank has called barrier().
  void barrier();

  /// The sum of `value` over all ranks (in double precision; identical on every rank).
  double allreduce_scalar_sum(double value);

 private:
  friend void sum_gradients(ProcessGroup& group, torch::nn::Module& module);
  struct Impl;
  explicit ProcessGroup(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Replaces the gradient of every parameter of `module` (recursively) that has a defined grad by
/// its elementwise sum over all ranks, with one allreduce per dtype (allreduce_sum); parameters
/// without a grad are left alone. The sum, not the mean: dividing by size() is the caller's
/// choice (for a world of 2 the sum equals, bit for bit, the gradient one process accumulates
/// over the two ranks' micro-batches; see the note at the top). First checks, with one small
/// collective, that all ranks have the same number of defined grads and elements, and throws
/// sola::Error naming the counts otherwise (instead of corrupting or hanging).
void sum_gradients(ProcessGroup& group, torch::nn::Module& module);

}  // namespace sola
