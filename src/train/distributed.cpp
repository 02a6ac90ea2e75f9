#include "train/distributed.h"

#include <charconv>
#include <cstdlib>
#include <exception>
#include <utility>

#include <c10/util/Exception.h>
#include <torch/torch.h>

#include "core/error.h"

// Which c10d backends this LibTorch offers. Its CMake config defines USE_C10D_GLOO (Debian's
// 1.13 and pip's 2.x) and USE_C10D_NCCL (CUDA builds); the headers must be there too (Gloo's
// come with libgloo-dev on Debian and inside pip's torch/include; NCCL's nccl.h with CUDA or the
// nvidia-nccl wheel). The c10d calls used below (TCPStore(host, TCPStoreOptions),
// ProcessGroupGloo(store, rank, size, options), Options::create(timeout), createDevice*(),
// allreduce / broadcast / barrier -> Work::wait()) read the same in 1.13 and 2.x; the base class
// differs (ProcessGroup in 1.13, Backend in 2.x), so the concrete classes are held.
#if defined(USE_C10D_GLOO) && __has_include(<gloo/algorithm.h>)
#define SOLA_HAVE_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#else
#define SOLA_HAVE_GLOO 0
#endif
#if defined(USE_C10D_NCCL) && __has_include(<nccl.h>)
#define SOLA_HAVE_NCCL 1
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#else
#define SOLA_HAVE_NCCL 0
#endif
#if SOLA_HAVE_GLOO || SOLA_HAVE_NCCL
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#endif

namespace sola {
namespace {

/// The variables distributed_env_from_environment reads.
constexpr const char* kEnvVariables[] = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT",
                                         "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "GLOO_SOCKET_IFNAME"};

/// "environment variable NAME='value' is invalid: problem".
[[noreturn]] void bad_variable(const std::string& name, const std::string& value, const std::string& problem) {
  throw ConfigError("environment variable " + name + "='" + value + "' is invalid: " + problem);
}

/// Variable lookup with validation.
class Variables {
 public:
  explicit Variables(const std::map<std::string, std::string>& vars) : vars_(vars) {}

  bool has(const std::string& name) const { return vars_.count(name) > 0; }

  const std::string& text(const std::string& name) const { return vars_.at(name); }

  /// The integer value of `name` in [lo, hi]; `range` describes the interval for the message.
  int integer(const std::string& name, long lo, long hi, const std::string& range) const {
    const std::string& s = text(name);
    long v = 0;
    const char* end = s.data() + s.size();
    const auto [p, ec] = std::from_chars(s.data(), end, v);
    if (s.empty() || ec != std::errc() || p != end) bad_variable(name, s, "not an integer");
    if (v < lo || v > hi) bad_variable(name, s, "must be in " + range);
    return static_cast<int>(v);
  }

 private:
  const std::map<std::string, std::string>& vars_;
};

/// True for "localhost", 127.x.y.z and ::1: Gloo can then stay on the loopback interface.
bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

/// `what` of an exception from c10d or Gloo, without LibTorch's C++ backtrace.
std::string describe(const std::exception& e) {
  if (const auto* ce = dynamic_cast<const c10::Error*>(&e)) return ce->what_without_backtrace();
  return e.what();
}

/// Indices of `tensors` grouped by (dtype, device), groups in order of first appearance.
std::vector<std::vector<size_t>> pack_groups(const std::vector<torch::Tensor>& tensors, const char* op) {
  std::vector<std::vector<size_t>> groups;
  std::vector<std::pair<c10::ScalarType, c10::Device>> keys;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const torch::Tensor& t = tensors[i];
    if (!t.defined()) throw Error(std::string(op) + ": tensor " + std::to_string(i) + " is undefined");
    if (t.layout() != torch::kStrided) {
      throw Error(std::string(op) + ": tensor " + std::to_string(i) + " is not dense (sparse tensors are not supported)");
    }
    const std::pair<c10::ScalarType, c10::Device> key{t.scalar_type(), t.device()};
    size_t g = 0;
    while (g < keys.size() && keys[g] != key) ++g;
    if (g == keys.size()) {
      keys.push_back(key);
      groups.emplace_back();
    }
    groups[g].push_back(i);
  }
  return groups;
}

/// One contiguous 1-D buffer holding the elements of some tensors, in order.
struct Packed {
  torch::Tensor buffer;
  bool in_place = false;  ///< `buffer` is a view of the only tensor (nothing to copy back)
};

/// Packs tensors[idx...]. A single contiguous tensor is used in place.
Packed pack(const std::vector<torch::Tensor>& tensors, const std::vector<size_t>& idx) {
  if (idx.size() == 1 && tensors[idx[0]].is_contiguous()) return {tensors[idx[0]].view({-1}), true};
  std::vector<torch::Tensor> flat;
  flat.reserve(idx.size());
  for (size_t i : idx) flat.push_back(tensors[i].reshape({-1}));
  return {torch::cat(flat), false};
}

/// Copies `packed` back into tensors[idx...] (the same `idx` as pack's).
void unpack(const Packed& packed, std::vector<torch::Tensor>& tensors, const std::vector<size_t>& idx) {
  if (packed.in_place) return;
  int64_t offset = 0;
  for (size_t i : idx) {
    torch::Tensor& t = tensors[i];
    const int64_t n = t.numel();
    t.copy_(packed.buffer.narrow(0, offset, n).view(t.sizes()));
    offset += n;
  }
}

/// "300 s" or "1500 ms".
std::string duration_text(std::chrono::milliseconds d) {
  return d.count() % 1000 == 0 ? std::to_string(d.count() / 1000) + " s" : std::to_string(d.count()) + " ms";
}

}  // namespace

DistributedEnv distributed_env_from_variables(const std::map<std::string, std::string>& vars) {
  const Variables v(vars);
  DistributedEnv env;
  constexpr long kMaxWorld = 1L << 20;
  const std::string world_range = "[1, " + std::to_string(kMaxWorld) + "]";

  std::string rank_name, local_name;  // the variables that gave rank / local rank, for messages
  if (v.has("RANK") || v.has("WORLD_SIZE")) {
    if (!v.has("RANK") || !v.has("WORLD_SIZE")) {
      const std::string set = v.has("RANK") ? "RANK" : "WORLD_SIZE";
      const std::string unset = v.has("RANK") ? "WORLD_SIZE" : "RANK";
      throw ConfigError("environment variable " + set + "='" + v.text(set) + "' is set but " + unset +
                        " is not (torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT)");
    }
    env.world_size = v.integer("WORLD_SIZE", 1, kMaxWorld, world_range);
    rank_name = "RANK";
    local_name = "LOCAL_RANK";
  } else if (v.has("SLURM_NTASKS")) {
    env.world_size = v.integer("SLURM_NTASKS", 1, kMaxWorld, world_range);
    if (!v.has("SLURM_PROCID")) {
      throw ConfigError("environment variable SLURM_NTASKS='" + v.text("SLURM_NTASKS") +
                        "' is set but SLURM_PROCID is not (start the processes with srun)");
    }
    rank_name = "SLURM_PROCID";
    local_name = "SLURM_LOCALID";
    if (env.world_size > 1 && !v.has("MASTER_ADDR")) {
      throw ConfigError("environment variable MASTER_ADDR is not set: under Slurm (SLURM_NTASKS='" +
                        v.text("SLURM_NTASKS") +
                        "') it must name the host of rank 0, e.g. "
                        "export MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1)");
    }
  }
  if (!rank_name.empty()) {
    const std::string range = "[0, " + std::to_string(env.world_size) + ") for a world size of " +
                              std::to_string(env.world_size);
    env.rank = v.integer(rank_name, 0, env.world_size - 1, range);
    env.local_rank = v.has(local_name) ? v.integer(local_name, 0, env.world_size - 1, range) : env.rank;
  }
  if (v.has("MASTER_ADDR")) {
    env.master_addr = v.text("MASTER_ADDR");
    if (env.master_addr.empty()) bad_variable("MASTER_ADDR", "", "empty (expected the host name or address of rank 0)");
  }
  if (v.has("MASTER_PORT")) env.master_port = v.integer("MASTER_PORT", 1, 65535, "[1, 65535]");
  if (v.has("GLOO_SOCKET_IFNAME")) env.gloo_interface = v.text("GLOO_SOCKET_IFNAME");
  return env;
}

DistributedEnv distributed_env_from_environment() {
  std::map<std::string, std::string> vars;
  for (const char* name : kEnvVariables) {
    if (const char* value = std::getenv(name)) vars[name] = value;
  }
  return distributed_env_from_variables(vars);
}

std::string comm_backend_name(CommBackend backend) {
  return backend == CommBackend::nccl ? "nccl" : "gloo";
}

// ---- ProcessGroup -------------------------------------------------------------------------------

struct ProcessGroup::Impl {
  DistributedEnv env;
  CommBackend backend = CommBackend::gloo;
#if SOLA_HAVE_GLOO || SOLA_HAVE_NCCL
  c10::intrusive_ptr<::c10d::Store> store;
#endif
#if SOLA_HAVE_GLOO
  c10::intrusive_ptr<::c10d::ProcessGroupGloo> gloo;
#endif
#if SOLA_HAVE_NCCL
  c10::intrusive_ptr<::c10d::ProcessGroupNCCL> nccl;
#endif

  /// "rank R of W (backend, master HOST:PORT)", for messages.
  std::string where() const {
    return "rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size) + " (" +
           comm_backend_name(backend) + ", master " + env.master_addr + ":" + std::to_string(env.master_port) + ")";
  }

  /// Runs `start(backend)` (which returns a c10d Work), waits for it and turns c10d's and Gloo's
  /// exceptions into sola::Error naming `op` and this rank.
  template <class Start>
  void run(const char* op, Start&& start) {
    try {
#if SOLA_HAVE_GLOO
      if (gloo) {
        start(*gloo)->wait();
        return;
      }
#endif
#if SOLA_HAVE_NCCL
      if (nccl) {
        start(*nccl)->wait();
        return;
      }
#endif
    } catch (const std::exception& e) {
      throw Error("distributed " + std::string(op) + " failed on " + where() + ": " + describe(e));
    }
    throw Error("distributed " + std::string(op) + ": no backend on " + where());
  }

  /// Sums (op "allreduce_sum", `max` false) or maxes `buffers` in place.
  void allreduce(std::vector<torch::Tensor>& buffers, const char* op, bool max = false) {
#if SOLA_HAVE_GLOO || SOLA_HAVE_NCCL
    ::c10d::AllreduceOptions opts;
    opts.reduceOp = max ? ::c10d::ReduceOp::MAX : ::c10d::ReduceOp::SUM;
    run(op, [&](auto& pg) { return pg.allreduce(buffers, opts); });
#endif
  }

  /// The device of scalar helper tensors: CPU for Gloo, this rank's GPU for NCCL.
  torch::Device scalar_device() const {
    return backend == CommBackend::nccl ? torch::Device(torch::kCUDA, env.local_rank) : torch::Device(torch::kCPU);
  }
};

ProcessGroup::ProcessGroup(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProcessGroup::ProcessGroup(ProcessGroup&&) noexcept = default;
ProcessGroup& ProcessGroup::operator=(ProcessGroup&&) noexcept = default;
ProcessGroup::~ProcessGroup() = default;

bool ProcessGroup::gloo_available() { return SOLA_HAVE_GLOO != 0; }
bool ProcessGroup::nccl_available() { return SOLA_HAVE_NCCL != 0; }

ProcessGroup ProcessGroup::create(const DistributedEnv& env, std::chrono::milliseconds timeout, CommBackend backend) {
  if (env.world_size < 1) throw ConfigError("distributed world size " + std::to_string(env.world_size) + " must be at least 1");
  if (env.rank < 0 || env.rank >= env.world_size) {
    throw ConfigError("distributed rank " + std::to_string(env.rank) + " is outside [0, " +
                      std::to_string(env.world_size) + ")");
  }
  if (env.master_port < 1 || env.master_port > 65535) {
    throw ConfigError("distributed master port " + std::to_string(env.master_port) + " is outside [1, 65535]");
  }
  if (timeout.count() <= 0) throw ConfigError("distributed timeout must be positive");
  if (backend == CommBackend::gloo && !gloo_available()) {
    throw ConfigError("this LibTorch has no Gloo backend (built without USE_C10D_GLOO or without Gloo's headers)");
  }
  if (backend == CommBackend::nccl && !nccl_available()) {
    throw ConfigError("this LibTorch has no NCCL backend (needs a CUDA LibTorch built with NCCL, and nccl.h)");
  }
  auto impl = std::make_unique<Impl>();
  impl->env = env;
  impl->backend = backend;
  if (!env.enabled()) return ProcessGroup(std::move(impl));

#if SOLA_HAVE_GLOO || SOLA_HAVE_NCCL
  try {
    ::c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<std::uint16_t>(env.master_port);
    store_options.isServer = env.rank == 0;
    store_options.numWorkers = static_cast<std::size_t>(env.world_size);
    store_options.waitWorkers = false;  // the backend's rendezvous waits for every rank, within `timeout`
    store_options.timeout = timeout;
    impl->store = c10::make_intrusive<::c10d::TCPStore>(env.master_addr, store_options);
#if SOLA_HAVE_GLOO
    if (backend == CommBackend::gloo) {
      auto options = ::c10d::ProcessGroupGloo::Options::create(timeout);
      if (!env.gloo_interface.empty()) {
        options->devices.push_back(::c10d::ProcessGroupGloo::createDeviceForInterface(env.gloo_interface));
      } else if (is_loopback(env.master_addr)) {
        options->devices.push_back(::c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      } else {
        options->devices.push_back(::c10d::ProcessGroupGloo::createDefaultDevice());
      }
      impl->gloo = c10::make_intrusive<::c10d::ProcessGroupGloo>(impl->store, env.rank, env.world_size, options);
    }
#endif
#if SOLA_HAVE_NCCL
    if (backend == CommBackend::nccl) {
      auto options = ::c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      impl->nccl = c10::make_intrusive<::c10d::ProcessGroupNCCL>(impl->store, env.rank, env.world_size, options);
    }
#endif
  } catch (const std::exception& e) {
    throw Error("cannot join the process group as " + impl->where() + " within " + duration_text(timeout) + ": " +
                describe(e) + " (are all " + std::to_string(env.world_size) + " ranks started, and is " +
                env.master_addr + ":" + std::to_string(env.master_port) + " reachable from each of them?)");
  }
#endif
  return ProcessGroup(std::move(impl));
}

int ProcessGroup::rank() const { return impl_->env.rank; }
int ProcessGroup::size() const { return impl_->env.world_size; }
CommBackend ProcessGroup::backend() const { return impl_->backend; }

void ProcessGroup::allreduce_sum(std::vector<torch::Tensor>& tensors) {
  const auto groups = pack_groups(tensors, "allreduce_sum");
  if (!impl_->env.enabled()) return;
  torch::NoGradGuard no_grad;
  for (const auto& idx : groups) {
    Packed packed = pack(tensors, idx);
    if (packed.buffer.numel() == 0) continue;
    std::vector<torch::Tensor> buffer{packed.buffer};
    impl_->allreduce(buffer, "allreduce_sum");
    unpack(packed, tensors, idx);
  }
}

void ProcessGroup::broadcast(std::vector<torch::Tensor>& tensors, int root) {
  if (root < 0 || root >= size()) {
    throw Error("distributed broadcast: root " + std::to_string(root) + " is outside [0, " + std::to_string(size()) + ")");
  }
  const auto groups = pack_groups(tensors, "broadcast");
  if (!impl_->env.enabled()) return;
  torch::NoGradGuard no_grad;
#if SOLA_HAVE_GLOO || SOLA_HAVE_NCCL
  ::c10d::BroadcastOptions opts;
  opts.rootRank = root;
  opts.rootTensor = 0;
  for (const auto& idx : groups) {
    Packed packed = pack(tensors, idx);
    if (packed.buffer.numel() == 0) continue;
    std::vector<torch::Tensor> buffer{packed.buffer};
    impl_->run("broadcast", [&](auto& pg) { return pg.broadcast(buffer, opts); });
    unpack(packed, tensors, idx);
  }
#endif
}

void ProcessGroup::barrier() {
  if (!impl_->env.enabled()) return;
#if SOLA_HAVE_GLOO || SOLA_HAVE_NCCL
  ::c10d::BarrierOptions opts;
  if (impl_->backend == CommBackend::nccl) opts.device_ids = {impl_->env.local_rank};
  impl_->run("barrier", [&](auto& pg) { return pg.barrier(opts); });
#endif
}

double ProcessGroup::allreduce_scalar_sum(double value) {
  if (!impl_->env.enabled()) return value;
  std::vector<torch::Tensor> buffer{
      torch::full({1}, value, torch::TensorOptions().dtype(torch::kFloat64).device(impl_->scalar_device()))};
  impl_->allreduce(buffer, "allreduce_scalar_sum");
  return buffer[0].item<double>();
}

void sum_gradients(ProcessGroup& group, torch::nn::Module& module) {
  std::vector<torch::Tensor> grads;
  int64_t elements = 0;
  for (const auto& p : module.parameters(/*recurse=*/true)) {
    if (p.grad().defined()) {
      grads.push_back(p.grad());
      elements += p.grad().numel();
    }
  }
  if (!group.impl_->env.enabled()) return;
  // Every rank must pack the same buffers; a rank whose backward left a different set of grads
  // undefined would otherwise hang or sum unrelated numbers. One max over (n, e, -n, -e) gives
  // every rank the same max and min, so all ranks throw together.
  const int64_t n = static_cast<int64_t>(grads.size());
  std::vector<torch::Tensor> check{
      torch::tensor(std::vector<int64_t>{n, elements, -n, -elements}, torch::kInt64).to(group.impl_->scalar_device())};
  group.impl_->allreduce(check, "sum_gradients (grad count check)", /*max=*/true);
  const auto c = check[0].cpu();
  const int64_t max_n = c[0].item<int64_t>(), max_e = c[1].item<int64_t>();
  const int64_t min_n = -c[2].item<int64_t>(), min_e = -c[3].item<int64_t>();
  if (max_n != min_n || max_e != min_e) {
    throw Error("sum_gradients: the ranks have different gradients: between " + std::to_string(min_n) + " and " +
                std::to_string(max_n) + " parameters with a grad, " + std::to_string(min_e) + " to " +
                std::to_string(max_e) + " elements (this is " + group.impl_->where() + " with " + std::to_string(n) +
                " and " + std::to_string(elements) + ")");
  }
  group.allreduce_sum(grads);
}

}  // namespace sola
