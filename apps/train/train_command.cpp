// `skipzoo train seg|cls`: both apps are configurations of the one training engine.
#include "cli/cli.h"

namespace skipzoo::app {

void add_train_seg_command(CLI::App& train);
void add_train_cls_command(CLI::App& train);

void add_train_command(CLI::App& app) {
  auto* train = app.add_subcommand("train", "train a model (seg: segmentation, cls: classification)");
  train->require_subcommand(1);
  add_train_seg_command(*train);
  add_train_cls_command(*train);
}

}  // namespace skipzoo::app
