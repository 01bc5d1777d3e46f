#include "engine/stop.h"

#include <unistd.h>

#include <atomic>
#include <csignal>

namespace skipzoo::app {

namespace {
std::atomic<bool> g_stop{false};

extern "C" void on_signal(int signal) {
  if (g_stop.exchange(true)) _exit(128 + signal);  // the second signal: give up immediately
  constexpr char msg[] = "\nskipzoo: stopping after this step (signal again to abort)...\n";
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
}
}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

bool stop_requested() { return g_stop.load(); }
void request_stop() { g_stop.store(true); }
void clear_stop_request() { g_stop.store(false); }

}  // namespace skipzoo::app
