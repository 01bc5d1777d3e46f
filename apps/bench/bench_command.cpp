// `skipzoo bench ...`: benchmarks (never tests), one subcommand per file (cmd_bench_*.cpp).
// bench/compare_pytorch.py runs them next to the same workloads in PyTorch.
#include "cli/cli.h"

namespace skipzoo::app {

void add_bench_command(CLI::App& app) {
  auto* group = app.add_subcommand("bench", "benchmarks: training step, inference, conv peak, data loader");
  group->require_subcommand(1);
  add_bench_train_command(*group);
  add_bench_infer_command(*group);
  add_bench_peak_command(*group);
  add_bench_loader_command(*group);
  add_bench_chart_command(*group);
}

}  // namespace skipzoo::app
