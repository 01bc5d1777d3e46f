// Data-parallel launch settings: the variables of torchrun, Slurm and Open MPI, read through a
// fake environment (the process-level checks, with real ranks, are in
// tests/python/test_distributed_cli.py).
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "engine/distributed.h"

using skipzoo::app::launch_env;
using skipzoo::app::LaunchEnv;

namespace {
LaunchEnv env_of(const std::map<std::string, std::string>& vars) {
  return launch_env([&vars](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}
}  // namespace

TEST(DistributedLaunch, AloneWithoutVariables) {
  const auto env = env_of({});
  EXPECT_FALSE(env.distributed());
  EXPECT_EQ(env.rank, 0);
  EXPECT_EQ(env.world_size, 1);
  EXPECT_EQ(env.launcher, "");
}

TEST(DistributedLaunch, TorchrunsVariablesAndItsAgentStore) {
  const auto env = env_of({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "10.0.0.7"},
                           {"MASTER_PORT", "29511"}, {"TORCHELASTIC_RUN_ID", "x"},
                           {"TORCHELASTIC_USE_AGENT_STORE", "True"}, {"TORCHELASTIC_RESTART_COUNT", "2"}});
  EXPECT_TRUE(env.distributed());
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.world_size, 4);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.master_addr, "10.0.0.7");
  EXPECT_EQ(env.master_port, 29511);
  EXPECT_EQ(env.restart, 2);
  EXPECT_TRUE(env.agent_store);
  EXPECT_EQ(env.launcher, "torchrun");
  EXPECT_EQ(env_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}}).launcher, "env");
  EXPECT_FALSE(env_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}}).agent_store);
}

TEST(DistributedLaunch, SlurmsVariablesAndItsOneNodeList) {
  auto env = env_of({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"SLURM_STEP_NUM_TASKS", "8"},
                     {"SLURM_LOCALID", "1"}, {"SLURM_JOB_NODELIST", "node7"}});
  EXPECT_EQ(env.launcher, "slurm");
  EXPECT_EQ(env.rank, 5);
  EXPECT_EQ(env.world_size, 8);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.master_addr, "node7");
  // A compressed list is not expanded here: MASTER_ADDR names the master.
  env = env_of({{"SLURM_PROCID", "0"}, {"SLURM_STEP_NUM_TASKS", "2"}, {"SLURM_JOB_NODELIST", "node[1-2]"},
                {"MASTER_ADDR", "node1"}});
  EXPECT_EQ(env.master_addr, "node1");
  // An sbatch script's own shell (SLURM_NTASKS, but no step) is not a rank of a run.
  EXPECT_FALSE(env_of({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}}).distributed());
  // torchrun's variables win over Slurm's (torchrun inside an allocation).
  env = env_of({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"SLURM_PROCID", "0"}, {"SLURM_STEP_NUM_TASKS", "1"}});
  EXPECT_EQ(env.launcher, "env");
  EXPECT_EQ(env.rank, 1);
}

TEST(DistributedLaunch, OpenMpisVariables) {
  const auto env = env_of({{"OMPI_COMM_WORLD_RANK", "2"}, {"OMPI_COMM_WORLD_SIZE", "3"},
                           {"OMPI_COMM_WORLD_LOCAL_RANK", "0"}, {"MASTER_ADDR", "head"}});
  EXPECT_EQ(env.launcher, "openmpi");
  EXPECT_EQ(env.rank, 2);
  EXPECT_EQ(env.world_size, 3);
  EXPECT_EQ(env.master_addr, "head");
  EXPECT_EQ(env.master_port, 29500);
}

TEST(DistributedLaunch, BadValuesNameTheVariable) {
  const auto message = [](const std::map<std::string, std::string>& vars) {
    try {
      env_of(vars);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({{"RANK", "2"}, {"WORLD_SIZE", "2"}}).find("RANK='2'"), std::string::npos);
  EXPECT_NE(message({{"RANK", "0"}, {"WORLD_SIZE", "two"}}).find("WORLD_SIZE='two'"), std::string::npos);
  EXPECT_NE(message({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}}).find("MASTER_PORT"),
            std::string::npos);
  EXPECT_NE(message({{"SLURM_PROCID", "-1"}, {"SLURM_STEP_NUM_TASKS", "2"}}).find("SLURM_PROCID"), std::string::npos);
}
