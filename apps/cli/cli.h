#pragma once
// The `skipzoo` command line: each cmd_*.cpp adds its subcommands and says what to run.
#include <CLI/CLI.hpp>

#include <functional>
#include <stdexcept>
#include <string>

namespace skipzoo::app {

// Registers the action to run when `command` is the (deepest) subcommand the user chose.
// Actions report failures by throwing; main prints "skipzoo: error: ..." and exits 1 (2 for a
// UsageError).
void on_run(CLI::App* command, std::function<void()> action);

// A mistake on the command line (a flag's value, a missing or conflicting flag, a path that does
// not exist): exit status 2. Problems inside the data are data::DataError (exit status 1).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown to end the program with a given exit status after a clean, reported stop.
struct ExitStatus {
  int code;
};

void add_models_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_predict_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_info_command(CLI::App& app);
void add_experiment_command(CLI::App& app);  // the `experiment` group
void add_data_command(CLI::App& app);
void add_bench_command(CLI::App& app);  // creates the `bench` group
void add_export_command(CLI::App& app);
// The `bench` subcommands (cmd_bench_*.cpp), added to the group by add_bench_command.
void add_bench_train_command(CLI::App& bench_group);
void add_bench_infer_command(CLI::App& bench_group);
void add_bench_peak_command(CLI::App& bench_group);
void add_bench_loader_command(CLI::App& bench_group);
void add_bench_chart_command(CLI::App& bench_group);

}  // namespace skipzoo::app
