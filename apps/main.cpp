#include <torch/torch.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <thread>

#include "cli/cli.h"
#include "engine/cpu_block_cache.h"

namespace skipzoo::app {

namespace {
std::map<const CLI::App*, std::function<void()>>& actions() {
  static std::map<const CLI::App*, std::function<void()>> a;
  return a;
}
}  // namespace

void on_run(CLI::App* command, std::function<void()> action) { actions()[command] = std::move(action); }

}  // namespace skipzoo::app

int main(int argc, char** argv) {
  using namespace skipzoo::app;
  CLI::App app{"skipzoo " SKIPZOO_VERSION ": residual networks and U-Nets in C++ (LibTorch)"};
  app.footer("Exit status: 0 success, 1 a runtime or data error (a bad file, a full disk, a diverged run), 2 a "
             "usage error (a bad flag or value), 130 interrupted (Ctrl-C or SIGTERM; training saves last.ckpt first).");
  app.set_version_flag("--version", SKIPZOO_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global options such as --threads may follow the subcommand
  // OMP_NUM_THREADS when set (torchrun sets it to 1 for each of several ranks), else every core.
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (const char* omp = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(omp);
    if (n >= 1 && n <= 1024) threads = n;
  }
  app.add_option("--threads", threads, "intra-op threads for LibTorch (default: $OMP_NUM_THREADS, else all cores)")
      ->default_val(threads)
      ->check(CLI::Range(1, 1024));

  add_models_command(app);
  add_train_command(app);
  add_predict_command(app);
  add_eval_command(app);
  add_info_command(app);
  add_experiment_command(app);
  add_data_command(app);
  add_bench_command(app);
  add_export_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with status 0; every other parse error is a usage error,
    // reported as every other error is.
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    std::cerr << "skipzoo: error: " << e.what() << "\n(--help lists the flags and their defaults)\n";
    return 2;
  }
  // LibTorch here defaults to one thread: half speed on two cores.
  at::set_num_threads(threads);

  const CLI::App* chosen = &app;
  while (!chosen->get_subcommands().empty()) chosen = chosen->get_subcommands().front();
  auto it = actions().find(chosen);
  if (it == actions().end()) {
    std::cout << chosen->help();
    return 2;
  }
  try {
    install_cpu_block_cache(default_cpu_block_cache_budget());
    it->second();
  } catch (const ExitStatus& status) {
    return status.code;
  } catch (const UsageError& e) {
    std::cerr << "skipzoo: error: " << e.what() << "\n";
    return 2;
  } catch (const c10::Error& e) {
    // LibTorch's own checks: the message without its C++ backtrace, which means nothing to a user.
    std::cerr << "skipzoo: error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "skipzoo: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
