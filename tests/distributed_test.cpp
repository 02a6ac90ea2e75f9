// Data-parallel support: environment parsing (torchrun, Slurm), and a real 2-rank Gloo group
// made of two threads of this process talking over 127.0.0.1 (TCPStore + ProcessGroupGloo).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "test_util.h"
#include "train/distributed.h"

namespace sola {
namespace {

using Vars = std::map<std::string, std::string>;
using std::chrono::milliseconds;
using std::chrono::seconds;

// ---- environment ------------------------------------------------------------------------------

TEST(DistributedEnv, NoVariablesIsOneProcess) {
  const DistributedEnv env = distributed_env_from_variables({});
  EXPECT_EQ(env.rank, 0);
  EXPECT_EQ(env.world_size, 1);
  EXPECT_EQ(env.local_rank, 0);
  EXPECT_EQ(env.master_addr, "127.0.0.1");
  EXPECT_EQ(env.master_port, 29500);
  EXPECT_TRUE(env.gloo_interface.empty());
  EXPECT_FALSE(env.enabled());
}

TEST(DistributedEnv, ReadsTorchrunVariables) {
  const DistributedEnv env = distributed_env_from_variables({{"RANK", "5"},
                                                             {"WORLD_SIZE", "8"},
                                                             {"LOCAL_RANK", "1"},
                                                             {"MASTER_ADDR", "node0.example"},
                                                             {"MASTER_PORT", "1234"},
                                                             {"GLOO_SOCKET_IFNAME", "eth1"}});
  EXPECT_EQ(env.rank, 5);
  EXPECT_EQ(env.world_size, 8);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.master_addr, "node0.example");
  EXPECT_EQ(env.master_port, 1234);
  EXPECT_EQ(env.gloo_interface, "eth1");
  EXPECT_TRUE(env.enabled());
}

TEST(DistributedEnv, TorchrunDefaults) {
  const DistributedEnv env = distributed_env_from_variables({{"RANK", "1"}, {"WORLD_SIZE", "2"}});
  EXPECT_EQ(env.rank, 1);
  EXPECT_EQ(env.local_rank, 1);  // LOCAL_RANK defaults to RANK (one machine)
  EXPECT_EQ(env.master_addr, "127.0.0.1");
  EXPECT_EQ(env.master_port, 29500);
}

TEST(DistributedEnv, ReadsSlurmVariables) {
  const DistributedEnv env = distributed_env_from_variables(
      {{"SLURM_PROCID", "3"}, {"SLURM_NTASKS", "4"}, {"SLURM_LOCALID", "1"}, {"MASTER_ADDR", "n7"}});
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.world_size, 4);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.master_addr, "n7");
  EXPECT_EQ(env.master_port, 29500);
}

TEST(DistributedEnv, TorchrunVariablesWinOverSlurm) {
  const DistributedEnv env = distributed_env_from_variables(
      {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"SLURM_PROCID", "3"}, {"SLURM_NTASKS", "4"}});
  EXPECT_EQ(env.rank, 0);
  EXPECT_EQ(env.world_size, 2);
}

TEST(DistributedEnv, SlurmNeedsMasterAddrOnlyForSeveralTasks) {
  const auto msg = test::error_message<ConfigError>(
      [] { distributed_env_from_variables({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}}); });
  EXPECT_NE(msg.find("MASTER_ADDR is not set"), std::string::npos) << msg;
  EXPECT_NE(msg.find("SLURM_NTASKS='2'"), std::string::npos) << msg;
  // A batch step of one task is a plain single process.
  EXPECT_FALSE(distributed_env_from_variables({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}}).enabled());
}

TEST(DistributedEnv, BadValuesNameTheVariableAndValue) {
  const std::vector<std::pair<Vars, std::vector<std::string>>> cases = {
      {{{"RANK", "abc"}, {"WORLD_SIZE", "2"}}, {"RANK='abc'", "not an integer"}},
      {{{"RANK", "1x"}, {"WORLD_SIZE", "2"}}, {"RANK='1x'", "not an integer"}},
      {{{"RANK", ""}, {"WORLD_SIZE", "2"}}, {"RANK=''", "not an integer"}},
      {{{"RANK", "2"}, {"WORLD_SIZE", "2"}}, {"RANK='2'", "[0, 2)"}},
      {{{"RANK", "-1"}, {"WORLD_SIZE", "2"}}, {"RANK='-1'", "[0, 2)"}},
      {{{"RANK", "0"}, {"WORLD_SIZE", "0"}}, {"WORLD_SIZE='0'", "must be in [1,"}},
      {{{"RANK", "0"}, {"WORLD_SIZE", "99999999999999999999"}}, {"WORLD_SIZE='99999999999999999999'"}},
      {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "2"}}, {"LOCAL_RANK='2'", "[0, 2)"}},
      {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}}, {"MASTER_PORT='70000'", "[1, 65535]"}},
      {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "0"}}, {"MASTER_PORT='0'", "[1, 65535]"}},
      {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "http"}}, {"MASTER_PORT='http'", "not an integer"}},
      {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", ""}}, {"MASTER_ADDR=''", "empty"}},
      {{{"RANK", "1"}}, {"RANK='1' is set but WORLD_SIZE is not"}},
      {{{"WORLD_SIZE", "2"}}, {"WORLD_SIZE='2' is set but RANK is not"}},
      {{{"SLURM_PROCID", "x"}, {"SLURM_NTASKS", "2"}, {"MASTER_ADDR", "n0"}}, {"SLURM_PROCID='x'"}},
      {{{"SLURM_PROCID", "4"}, {"SLURM_NTASKS", "4"}, {"MASTER_ADDR", "n0"}}, {"SLURM_PROCID='4'", "[0, 4)"}},
      {{{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}, {"SLURM_LOCALID", "-3"}, {"MASTER_ADDR", "n0"}},
       {"SLURM_LOCALID='-3'"}},
      {{{"SLURM_NTASKS", "4"}, {"MASTER_ADDR", "n0"}}, {"SLURM_PROCID is not"}},
      {{{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "four"}}, {"SLURM_NTASKS='four'"}},
  };
  for (const auto& [vars, expected] : cases) {
    const std::string msg = test::error_message<ConfigError>([&] { distributed_env_from_variables(vars); });
    for (const auto& part : expected) EXPECT_NE(msg.find(part), std::string::npos) << "message: " << msg;
  }
}

TEST(DistributedEnv, ReadsTheProcessEnvironment) {
  // Sets and restores the variables (tests run one at a time; no thread reads the environment).
  const std::vector<std::string> names = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"};
  std::map<std::string, std::optional<std::string>> saved;
  for (const auto& n : names) {
    const char* v = std::getenv(n.c_str());
    saved[n] = v ? std::optional<std::string>(v) : std::nullopt;
  }
  setenv("RANK", "2", 1);
  setenv("WORLD_SIZE", "3", 1);
  setenv("LOCAL_RANK", "0", 1);
  setenv("MASTER_ADDR", "10.0.0.1", 1);
  setenv("MASTER_PORT", "29999", 1);
  const DistributedEnv env = distributed_env_from_environment();
  for (const auto& [n, v] : saved) {
    if (v) setenv(n.c_str(), v->c_str(), 1);
    else unsetenv(n.c_str());
  }
  EXPECT_EQ(env.rank, 2);
  EXPECT_EQ(env.world_size, 3);
  EXPECT_EQ(env.local_rank, 0);
  EXPECT_EQ(env.master_addr, "10.0.0.1");
  EXPECT_EQ(env.master_port, 29999);
}

// ---- helpers ------------------------------------------------------------------------------------

/// A TCP port that was free a moment ago (bound to port 0 and released). Another process could
/// take it before the store binds it; on a test machine that is rare enough.
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  return ntohs(addr.sin_port);
}

/// The env of `rank` in a world of `world` on 127.0.0.1:port.
DistributedEnv local_env(int rank, int world, int port) {
  DistributedEnv env;
  env.rank = env.local_rank = rank;
  env.world_size = world;
  env.master_port = port;
  return env;
}

/// Runs body(group) for ranks 0 and 1 of a fresh 2-rank Gloo group, each on its own thread, and
/// rethrows the first exception a rank threw (after both finished).
void run_two_ranks(const std::function<void(ProcessGroup&)>& body, milliseconds timeout = seconds(30)) {
  const int port = free_port();
  std::exception_ptr errors[2];
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      try {
        ProcessGroup group = ProcessGroup::create(local_env(r, 2, port), timeout);
        body(group);
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

/// Elements with widely spread magnitudes, so that sums round: randn * exp(2 randn).
torch::Tensor spread(std::vector<int64_t> shape, at::Generator& gen, torch::ScalarType dtype = torch::kFloat32) {
  auto opts = torch::TensorOptions().dtype(dtype);
  return torch::randn(shape, gen, opts) * torch::exp(2 * torch::randn(shape, gen, opts));
}

/// True when `a` and `b` have the same dtype, shape and bytes.
bool same_bits(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const auto as_int = [](const torch::Tensor& t) {
    const auto c = t.contiguous();
    switch (c.element_size()) {
      case 8: return c.view(torch::kInt64);
      case 4: return c.view(torch::kInt32);
      case 2: return c.view(torch::kInt16);
      default: return c.view(torch::kUInt8);
    }
  };
  return torch::equal(as_int(a), as_int(b));
}

// ---- one process ---------------------------------------------------------------------------------

TEST(ProcessGroup, WorldOfOneNeedsNoNetworkAndLeavesTensorsAlone) {
  ProcessGroup group = ProcessGroup::create(DistributedEnv{});  // port 29500 is never opened
  EXPECT_EQ(group.rank(), 0);
  EXPECT_EQ(group.size(), 1);
  auto a = torch::arange(6, torch::kFloat32).reshape({2, 3});
  std::vector<torch::Tensor> ts{a, torch::ones({2}, torch::kInt64)};
  group.allreduce_sum(ts);
  group.broadcast(ts);
  group.barrier();
  EXPECT_TRUE(torch::equal(ts[0], torch::arange(6, torch::kFloat32).reshape({2, 3})));
  EXPECT_TRUE(torch::equal(ts[1], torch::ones({2}, torch::kInt64)));
  EXPECT_EQ(group.allreduce_scalar_sum(2.5), 2.5);

  torch::nn::Linear lin(3, 2);
  lin(torch::ones({1, 3})).sum().backward();
  const auto g = lin->weight.grad().clone();
  sum_gradients(group, *lin);
  EXPECT_TRUE(torch::equal(lin->weight.grad(), g));
}

TEST(ProcessGroup, RejectsBadArguments) {
  EXPECT_NE(test::error_message<ConfigError>([] { ProcessGroup::create(local_env(2, 2, 29500)); }).find("rank 2"),
            std::string::npos);
  auto bad_port = local_env(0, 2, 0);
  EXPECT_NE(test::error_message<ConfigError>([&] { ProcessGroup::create(bad_port); }).find("port 0"),
            std::string::npos);
  if (!ProcessGroup::nccl_available()) {
    const auto msg = test::error_message<ConfigError>(
        [] { ProcessGroup::create(local_env(0, 2, 29500), seconds(1), CommBackend::nccl); });
    EXPECT_NE(msg.find("no NCCL"), std::string::npos) << msg;
  }
  ProcessGroup group = ProcessGroup::create(DistributedEnv{});
  std::vector<torch::Tensor> ts{torch::ones({2}), torch::Tensor()};
  EXPECT_NE(test::error_message<Error>([&] { group.allreduce_sum(ts); }).find("tensor 1 is undefined"),
            std::string::npos);
  std::vector<torch::Tensor> ok{torch::ones({2})};
  EXPECT_NE(test::error_message<Error>([&] { group.broadcast(ok, 1); }).find("root 1"), std::string::npos);
}

TEST(ProcessGroup, GlooIsBuiltIn) {
  EXPECT_TRUE(ProcessGroup::gloo_available())
      << "LibTorch's Gloo backend is not usable: USE_C10D_GLOO is not defined (it comes with find_package(Torch)) "
         "or Gloo's headers are missing (Debian: apt install libgloo-dev)";
}

/// Skips a test that needs a real 2-rank group where Gloo is missing (GlooIsBuiltIn fails then).
#define SOLA_REQUIRE_GLOO() \
  if (!ProcessGroup::gloo_available()) GTEST_SKIP() << "no Gloo backend in this build (see GlooIsBuiltIn)"

// ---- two ranks -----------------------------------------------------------------------------------

/// Rank `rank`'s inputs: float tensors (one non-contiguous, one of 600k elements so the ring
/// allreduce splits it into several segments, one requiring grad), a double, an int64 and an
/// empty tensor, interleaved so that packing groups by dtype.
std::vector<torch::Tensor> allreduce_inputs(int rank) {
  auto gen = at::detail::createCPUGenerator(100 + rank);
  return {spread({3, 5}, gen).t(),  // non-contiguous view
          spread({7}, gen, torch::kFloat64),
          spread({600001}, gen),
          torch::arange(4, torch::kInt64) * (rank + 1) + 1000 * rank,
          spread({2, 2}, gen).requires_grad_(true),
          torch::zeros({0}),
          spread({1}, gen, torch::kFloat64)};
}

TEST(ProcessGroup, AllreduceSumEqualsLocalFloatAdditionBitForBit) {
  SOLA_REQUIRE_GLOO();
  const auto in0 = allreduce_inputs(0), in1 = allreduce_inputs(1);
  std::vector<torch::Tensor> expected;
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < in0.size(); ++i) expected.push_back(in0[i] + in1[i]);  // what one process computes
  }
  std::vector<torch::Tensor> results[2];
  torch::Tensor base[2];  // the storage behind rank r's non-contiguous input
  run_two_ranks([&](ProcessGroup& group) {
    const int r = group.rank();
    auto ts = allreduce_inputs(r);
    base[r] = ts[0];
    group.allreduce_sum(ts);
    results[r] = ts;
  });
  for (int r = 0; r < 2; ++r) {
    ASSERT_EQ(results[r].size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_TRUE(same_bits(results[r][i], expected[i])) << "rank " << r << ", tensor " << i;
      EXPECT_TRUE(same_bits(results[r][i], results[1 - r][i])) << "ranks differ, tensor " << i;
    }
    EXPECT_TRUE(same_bits(base[r], expected[0])) << "the caller's non-contiguous tensor was not updated";
    EXPECT_TRUE(results[r][4].requires_grad());
  }
}

TEST(ProcessGroup, BroadcastCopiesTheRootsTensors) {
  SOLA_REQUIRE_GLOO();
  for (int root : {0, 1}) {
    std::vector<torch::Tensor> results[2];
    run_two_ranks([&](ProcessGroup& group) {
      const int r = group.rank();
      std::vector<torch::Tensor> ts{torch::full({2, 3}, 10.0f * r + 1).t(), torch::full({3}, int64_t(r + 7)),
                                    torch::full({4}, 0.5 + r)};
      group.broadcast(ts, root);
      results[r] = ts;
    });
    for (int r = 0; r < 2; ++r) {
      EXPECT_TRUE(torch::equal(results[r][0], torch::full({3, 2}, 10.0f * root + 1))) << "root " << root;
      EXPECT_TRUE(torch::equal(results[r][1], torch::full({3}, int64_t(root + 7)))) << "root " << root;
      EXPECT_TRUE(torch::equal(results[r][2], torch::full({4}, 0.5 + root))) << "root " << root;
    }
  }
}

TEST(ProcessGroup, BarrierWaitsForTheOtherRankAndScalarSum) {
  SOLA_REQUIRE_GLOO();
  std::atomic<bool> arrived[2] = {false, false};
  bool saw_other[2] = {false, false};
  double sums[2] = {0, 0};
  run_two_ranks([&](ProcessGroup& group) {
    const int r = group.rank();
    if (r == 1) std::this_thread::sleep_for(milliseconds(200));  // rank 0 would pass a no-op barrier first
    arrived[r] = true;
    group.barrier();
    saw_other[r] = arrived[1 - r];
    sums[r] = group.allreduce_scalar_sum(r == 0 ? 0.25 : 1e10);
  });
  for (int r = 0; r < 2; ++r) {
    EXPECT_TRUE(saw_other[r]) << "rank " << r << " left the barrier before the other arrived";
    EXPECT_EQ(sums[r], 0.25 + 1e10) << "rank " << r;  // exact in double, not in float
  }
}

/// A module with a used and an unused layer (whose parameters get no grad).
struct TwoLayers : torch::nn::Module {
  torch::nn::Linear used{nullptr}, unused{nullptr};
  TwoLayers() {
    used = register_module("used", torch::nn::Linear(4, 3));
    unused = register_module("unused", torch::nn::Linear(2, 2));
    torch::NoGradGuard no_grad;
    for (auto& p : parameters()) p.copy_(torch::sin(torch::arange(p.numel(), torch::kFloat32) * 1.7f).view(p.sizes()));
  }
  /// Loss on micro-batch `index` (fixed data).
  torch::Tensor loss(int index) {
    auto gen = at::detail::createCPUGenerator(7 + index);
    const auto x = spread({5, 4}, gen);
    return torch::tanh(used(x)).pow(2).mean();
  }
};

TEST(ProcessGroup, SumGradientsEqualsGradientAccumulationBitForBit) {
  SOLA_REQUIRE_GLOO();
  // One process, two micro-batches accumulated into .grad.
  TwoLayers single;
  single.loss(0).backward();
  single.loss(1).backward();
  std::map<std::string, torch::Tensor> grads[2];
  run_two_ranks([&](ProcessGroup& group) {
    TwoLayers model;
    model.loss(group.rank()).backward();
    sum_gradients(group, model);
    for (const auto& p : model.named_parameters()) {
      grads[group.rank()][p.key()] = p.value().grad();
    }
  });
  for (int r = 0; r < 2; ++r) {
    for (const auto& p : single.named_parameters()) {
      const auto& g = grads[r].at(p.key());
      if (p.key().rfind("unused.", 0) == 0) {
        EXPECT_FALSE(g.defined()) << p.key();
        continue;
      }
      ASSERT_TRUE(g.defined()) << p.key();
      EXPECT_TRUE(same_bits(g, p.value().grad())) << "rank " << r << ", " << p.key();
    }
  }
}

TEST(ProcessGroup, SumGradientsDetectsRanksWithDifferentGrads) {
  SOLA_REQUIRE_GLOO();
  std::string messages[2];
  run_two_ranks([&](ProcessGroup& group) {
    TwoLayers model;
    model.loss(0).backward();
    if (group.rank() == 1) model.unused(torch::ones({1, 2})).sum().backward();  // two more grads
    messages[group.rank()] = test::error_message<Error>([&] { sum_gradients(group, model); });
  });
  for (const auto& msg : messages) {
    EXPECT_NE(msg.find("different gradients"), std::string::npos) << msg;
    EXPECT_NE(msg.find("between 2 and 4 parameters"), std::string::npos) << msg;
  }
}

TEST(ProcessGroup, APeerThatLeftIsAnErrorNamingTheRank) {
  SOLA_REQUIRE_GLOO();
  const int port = free_port();
  std::atomic<bool> formed{false}, left{false};
  std::string message;
  std::thread rank1([&] {
    try {
      ProcessGroup group = ProcessGroup::create(local_env(1, 2, port), seconds(10));
      // Leave only once rank 0 has its group too: a peer leaving during the rendezvous is another
      // error (that of create), and on a loaded machine rank 1 could get there first.
      const auto deadline = std::chrono::steady_clock::now() + seconds(10);
      while (!formed && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(milliseconds(5));
    } catch (...) {
    }
    left = true;  // rank 1's group is gone: its sockets are closed
  });
  try {
    ProcessGroup group = ProcessGroup::create(local_env(0, 2, port), seconds(10));
    formed = true;
    while (!left) std::this_thread::sleep_for(milliseconds(5));
    std::vector<torch::Tensor> ts{torch::ones({1000})};
    message = test::error_message<Error>([&] { group.allreduce_sum(ts); });
  } catch (const std::exception& e) {
    message = std::string("create failed: ") + e.what();
  }
  rank1.join();
  EXPECT_NE(message.find("allreduce_sum failed on rank 0 of 2 (gloo, master 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << message;
}

TEST(ProcessGroup, RendezvousTimeoutIsAnErrorNamingRankAndMaster) {
  SOLA_REQUIRE_GLOO();
  const int port = free_port();  // rank 1 never comes
  const std::string msg =
      test::error_message<Error>([&] { ProcessGroup::create(local_env(0, 2, port), milliseconds(1500)); });
  EXPECT_NE(msg.find("cannot join the process group as rank 0 of 2 (gloo, master 127.0.0.1:" + std::to_string(port) +
                     ") within 1500 ms"),
            std::string::npos)
      << msg;
}

}  // namespace
}  // namespace sola
