// `skipzoo models [--params]`: the registry's names, tasks and sizes.
#include <skipzoo/models/registry.h>

#include <iomanip>
#include <iostream>

#include "cli/cli.h"

namespace skipzoo::app {

void add_models_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("models", "list the registered models");
  auto params = std::make_shared<bool>(false);
  cmd->add_flag("--params", *params, "also count each model's parameters at its default size (slower)");
  on_run(cmd, [params] {
    for (const auto& name : models::model_names()) {
      const auto& entry = models::find_model(name);
      std::cout << std::left << std::setw(20) << name << std::setw(16) << entry.task;
      if (*params) {
        const auto n = models::count_parameters(models::create_model({name}).module());
        std::cout << std::right << std::setw(13) << n << "  ";
      }
      std::cout << entry.description << "\n";
    }
  });
}

}  // namespace skipzoo::app
