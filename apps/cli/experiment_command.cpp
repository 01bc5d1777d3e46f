// `skipzoo experiment ...`: small experiments that demonstrate results of the chapter.
// scale-invariance (problem 11.7): L2 regularisation shrinks the conv weights of a BN network
// while its outputs stay the same; the same network without BN changes with them.
#include <skipzoo/models/analysis.h>
#include <skipzoo/models/registry.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>

#include "cli/cli.h"
#include "cli/model_flags.h"
#include "plot/plot.h"

namespace skipzoo::app {

namespace {

struct ScaleArgs {
  std::string model = "resnet20", plot;
  models::ScaleInvarianceOptions options;
  int64_t batch = 8;
  uint64_t seed = 0;
  bool json = false;
};

std::string short_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::vector<models::ScaleInvarianceStep> run_with_norm(const ScaleArgs& a, const std::string& norm) {
  auto model = create_model_from_flags({a.model, -1, -1, R"({"norm":")" + norm + R"("})"}, a.seed);
  auto shape = models::default_input_shape(model);
  shape.insert(shape.begin(), a.batch);
  torch::manual_seed(a.seed);
  return models::scale_invariance(model.net, torch::randn(shape), a.options);
}

void plot(const ScaleArgs& a, const std::vector<models::ScaleInvarianceStep>& bn,
          const std::vector<models::ScaleInvarianceStep>& none) {
  Series norm, with_bn, without;
  norm.name = "conv weight norm (both networks)";
  with_bn.name = "output change with BN";
  without.name = "output change, no norm";
  with_bn.right_axis = without.right_axis = true;
  for (size_t i = 0; i < bn.size(); ++i) {
    for (auto* s : {&norm, &with_bn, &without}) s->x.push_back(static_cast<double>(bn[i].step));
    norm.y.push_back(bn[i].conv_weight_norm);
    with_bn.y.push_back(bn[i].output_change);
    without.y.push_back(none[i].output_change);
  }
  ChartOptions o;
  o.title = a.model + ": L2 on the conv weights (lr " + short_number(a.options.lr) + ", weight decay " +
            short_number(a.options.weight_decay) + ")";
  o.x_label = "SGD step on weight_decay/2 * sum ||W||^2";
  o.y_label = "L2 norm of all conv weights";
  o.y2_label = "||y - y0|| / ||y0|| (log)";
  o.log_y2 = true;
  save_png(a.plot, line_chart({norm, with_bn, without}, o));
}

void run_scale_invariance(const ScaleArgs& a) {
  const auto bn = run_with_norm(a, "batch"), none = run_with_norm(a, "none");
  const double factor = 1 - a.options.lr * a.options.weight_decay;
  if (a.json) {
    auto rows = nlohmann::json::array();
    for (size_t i = 0; i < bn.size(); ++i) {
      rows.push_back({{"step", bn[i].step}, {"conv_weight_norm", bn[i].conv_weight_norm},
                      {"output_change_bn", bn[i].output_change}, {"output_change_no_norm", none[i].output_change},
                      {"conv_weight_norm_no_norm", none[i].conv_weight_norm}});
    }
    std::cout << nlohmann::json{{"model", a.model}, {"steps", rows}}.dump(2) << "\n";
  } else {
    std::printf("%s: SGD on weight_decay/2 * sum ||W||^2 over the conv weights; each step scales them by %.4f\n",
                a.model.c_str(), factor);
    std::printf("%5s  %16s  %16s  %22s  %22s\n", "step", "conv weight norm", "norm0 * factor^t", "output change (BN)",
                "output change (none)");
    for (size_t i = 0; i < bn.size(); ++i) {
      std::printf("%5lld  %16.6f  %16.6f  %22.3e  %22.3e\n", static_cast<long long>(bn[i].step),
                  bn[i].conv_weight_norm, bn[0].conv_weight_norm * std::pow(factor, static_cast<double>(bn[i].step)),
                  bn[i].output_change, none[i].output_change);
    }
  }
  if (!a.plot.empty()) {
    plot(a, bn, none);
    if (!a.json) std::printf("plot: %s\n", a.plot.c_str());
  }
}

}  // namespace

void add_experiment_command(CLI::App& app) {
  auto* group = app.add_subcommand("experiment", "small experiments that demonstrate the chapter's results");
  group->require_subcommand(1);
  auto* cmd = group->add_subcommand(
      "scale-invariance",
      "problem 11.7: L2 on the conv weights of a BN network shrinks them while its outputs stay unchanged");
  auto a = std::make_shared<ScaleArgs>();
  cmd->add_option("--model", a->model, "a zoo model with Conv2d layers and a \"norm\" option")->capture_default_str();
  cmd->add_option("--steps", a->options.steps, "SGD steps")->capture_default_str()->check(CLI::Range(0, 100000));
  cmd->add_option("--lr", a->options.lr, "learning rate")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--weight-decay", a->options.weight_decay, "L2 coefficient")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--batch", a->batch, "inputs in the fixed N(0,1) batch")->capture_default_str()->check(
      CLI::Range(int64_t{2}, int64_t{4096}));
  cmd->add_option("--seed", a->seed, "seed of the initialisation and the inputs")->capture_default_str();
  cmd->add_option("--plot", a->plot, "write a PNG plot here (default: none)");
  cmd->add_flag("--json", a->json, "print one JSON object instead of a table");
  on_run(cmd, [a] { run_scale_invariance(*a); });
}

}  // namespace skipzoo::app
