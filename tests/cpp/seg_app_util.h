#pragma once
// What the segmentation app tests share: a small shapes set and a tiny training configuration.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <string>
#include <thread>

#include "test_util.h"

namespace skipzoo::test {

// A small shapes set (2 classes + background, 40-80 px images), made once per test process.
inline const std::string& shapes_set() {
  static TempDir dir;
  static const std::string root = [] {
    const auto r = run_cli("data make-shapes --out " + dir.file("shapes") + " --count 24 --min-size 40 --max-size 80 "
                           "--classes 2 --seed 3");
    EXPECT_EQ(r.code, 0) << r.output;
    return dir.file("shapes");
  }();
  return root;
}

inline const std::string kTiny =
    "--threads 1 --workers 1 --patch 48 --batch 8 --options '{\"depth\":2,\"base_width\":8}'";

inline std::string train_seg(const std::string& out, const std::string& extra) {
  return "train seg --data " + shapes_set() + " --out " + out + " " + kTiny + " " + extra;
}

// Runs `shell_command` (which should `exec` skipzoo, so the signal reaches it), waits until
// `log` contains `marker`, sends SIGINT and returns the exit status (-1 on a timeout or a crash).
inline int interrupt_after(const std::string& shell_command, const std::string& log, const std::string& marker,
                           int timeout_s) {
  pid_t pid = 0;
  const char* argv[] = {"/bin/sh", "-c", shell_command.c_str(), nullptr};
  if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (read_bytes(log).find(marker) == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "no '" << marker << "' in time:\n" << read_bytes(log);
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGINT);
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

}  // namespace skipzoo::test
