// The process side of data-parallel runs: how a rank ends when something fails, and `--nproc`,
// which starts the ranks of a one-machine run itself.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "cli/cli.h"
#include "engine/distributed.h"

namespace skipzoo::app {

namespace {

// One line to stderr in one write(): the ranks and the launcher share the terminal, and a line
// written piece by piece (as std::cerr does) is interleaved with theirs.
void say(const std::string& line) {
  std::cerr.flush();
  const std::string text = line + "\n";
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(STDERR_FILENO, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// A port no one listens on now (the kernel's pick); rank 0 binds it a moment later.
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof a;
  const bool ok = fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &size) == 0;
  if (fd >= 0) close(fd);
  if (!ok) throw std::runtime_error("--nproc: no free TCP port on 127.0.0.1 for the ranks' store");
  return ntohs(a.sin_port);
}

// For the signal handler: sized before it is installed, an entry set as each rank starts.
std::vector<pid_t> g_children;
std::vector<std::atomic<int>> g_running;  // lock-free: safe in a signal handler

extern "C" void forward_signal(int sig) {
  for (size_t r = 0; r < g_children.size(); ++r) {
    if (g_running[r] && g_children[r] > 0) kill(g_children[r], sig);
  }
}

}  // namespace

void run_rank(Distributed& group, const std::function<void()>& work) {
  int code = 0;
  std::string message;
  bool usage = false;
  try {
    work();
    return;
  } catch (const ExitStatus& status) {
    code = status.code;
  } catch (const UsageError& e) {
    code = 2;
    usage = true;  // every rank finds the same mistake: no other rank is to blame
    message = e.what();
  } catch (const c10::Error& e) {
    code = 1;
    message = e.what_without_backtrace();
  } catch (const std::exception& e) {
    code = 1;
    message = e.what();
  }
  if (!message.empty()) {
    // After a failed collective, the cause is another rank: name it first when it can be told.
    std::string lost = usage ? "" : group.lost_ranks();
    if (lost.empty() && message.find("Timed out") != std::string::npos) {
      lost = "another rank did not answer within --dist-timeout";
    }
    group.record_error(message);
    say("skipzoo: error: rank " + std::to_string(group.rank()) + " of " + std::to_string(group.world_size()) + ": " +
        (lost.empty() ? message : lost + ", so this rank stops (" + message + ")"));
  }
  std::cout.flush();
  std::cerr.flush();
  std::_Exit(code);  // not through the process group's destructor, which may wait for lost peers
}

int launch_local_ranks(int nproc, const std::vector<std::string>& args, bool threads_given, double grace_s) {
  const int port = free_port();
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::string> argv_text = {"/proc/self/exe"};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  // N ranks on C cores: C / N intra-op threads each (torchrun sets OMP_NUM_THREADS=1 likewise).
  if (!threads_given) argv_text.insert(argv_text.end(), {"--threads", std::to_string(std::max(1, cores / nproc))});
  std::vector<char*> argv;
  for (auto& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Each rank's environment, made before forking (the child only calls async-signal-safe functions).
  const std::vector<std::string> ours = {"RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
                                         "MASTER_PORT", "TORCHELASTIC_USE_AGENT_STORE"};
  std::vector<std::string> inherited;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const auto name = entry.substr(0, entry.find('='));
    if (std::find(ours.begin(), ours.end(), name) == ours.end()) inherited.push_back(entry);
  }
  std::vector<std::vector<std::string>> env_text(static_cast<size_t>(nproc), inherited);
  std::vector<std::vector<char*>> envp(static_cast<size_t>(nproc));
  for (int rank = 0; rank < nproc; ++rank) {
    auto& e = env_text[static_cast<size_t>(rank)];
    for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
             {"RANK", std::to_string(rank)}, {"LOCAL_RANK", std::to_string(rank)}, {"WORLD_SIZE", std::to_string(nproc)},
             {"LOCAL_WORLD_SIZE", std::to_string(nproc)}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", std::to_string(port)}}) {
      e.push_back(name + "=" + value);
    }
    for (auto& entry : e) envp[static_cast<size_t>(rank)].push_back(entry.data());
    envp[static_cast<size_t>(rank)].push_back(nullptr);
  }
  std::cout.flush();

  g_children.assign(static_cast<size_t>(nproc), 0);
  g_running = std::vector<std::atomic<int>>(static_cast<size_t>(nproc));
  struct sigaction forward {};
  forward.sa_handler = forward_signal;
  sigaction(SIGINT, &forward, nullptr);
  sigaction(SIGTERM, &forward, nullptr);
  const pid_t launcher = getpid();
  for (int rank = 0; rank < nproc; ++rank) {
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("--nproc: cannot start rank " + std::to_string(rank));
    if (pid == 0) {
      setpgid(0, 0);                     // Ctrl-C reaches the ranks once, through this launcher
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // and they stop if the launcher dies,
      if (getppid() != launcher) _exit(1);  // even if it died just before
      execve(argv[0], argv.data(), envp[static_cast<size_t>(rank)].data());
      _exit(127);
    }
    g_children[static_cast<size_t>(rank)] = pid;
    g_running[static_cast<size_t>(rank)] = 1;
  }

  // Ranks left after one failed stop by themselves within the timeout (the lost rank is named
  // in their message); one that does not (hung, or stopped) is killed after that.
  int result = 0;
  auto failed_at = std::chrono::steady_clock::time_point::max();
  bool killed = false;
  for (size_t left = g_children.size(); left > 0;) {
    int status = 0;
    const bool failing = failed_at != std::chrono::steady_clock::time_point::max();
    const pid_t pid = waitpid(-1, &status, failing ? WNOHANG : 0);
    if (pid == 0 || (pid < 0 && errno == EINTR)) {
      if (failing && !killed && std::chrono::steady_clock::now() - failed_at > std::chrono::duration<double>(grace_s)) {
        for (size_t r = 0; r < g_children.size(); ++r) {
          if (!g_running[r]) continue;
          std::ostringstream line;
          line << "skipzoo: rank " << r << " (pid " << g_children[r] << ") did not stop within " << grace_s
               << " s of the failure: killing it";
          say(line.str());
          kill(g_children[r], SIGKILL);
        }
        killed = true;
      }
      if (pid == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (pid < 0) break;
    --left;
    const auto rank = static_cast<size_t>(std::find(g_children.begin(), g_children.end(), pid) - g_children.begin());
    if (rank < g_running.size()) g_running[rank] = 0;
    int code = 0;
    if (WIFSIGNALED(status)) {
      // Killed by Ctrl-C or SIGTERM: interrupted; by anything else: a runtime failure.
      code = WTERMSIG(status) == SIGINT || WTERMSIG(status) == SIGTERM ? 130 : 1;
      if (!killed) {
        say("skipzoo: rank " + std::to_string(rank) + " (pid " + std::to_string(pid) + ") was killed by signal " +
            std::to_string(WTERMSIG(status)));
      }
    } else if (WIFEXITED(status)) {
      code = WEXITSTATUS(status);
    }
    if (code != 0 && result == 0) {
      result = code;
      failed_at = std::chrono::steady_clock::now();
    }
  }
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  return result;
}

}  // namespace skipzoo::app
