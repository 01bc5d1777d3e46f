// Problem 11.7: L2 regularisation of the weights before a BatchNorm shrinks them without
// changing what the network computes.
#include <skipzoo/models/analysis.h>

#include <cmath>
#include <stdexcept>

namespace skipzoo::models {

std::vector<ScaleInvarianceStep> scale_invariance(torch::nn::AnyModule& net, const torch::Tensor& input,
                                                  const ScaleInvarianceOptions& options) {
  if (options.steps < 0 || options.lr <= 0 || options.weight_decay < 0) {
    throw std::invalid_argument("scale_invariance: steps must be >= 0, lr > 0 and weight_decay >= 0");
  }
  torch::nn::Module& root = *net.ptr();
  std::vector<torch::Tensor> weights;
  for (auto& module : root.modules(/*include_self=*/true)) {
    if (auto* conv = module->as<torch::nn::Conv2d>()) weights.push_back(conv->weight);
  }
  if (weights.empty()) throw std::invalid_argument("scale_invariance: the model has no Conv2d layers");

  // Training mode: BN normalises with the statistics of the batch, which scale with W.
  ScopedMode training(root, /*training=*/true, /*restore_buffers=*/true);
  auto outputs = [&] {
    torch::NoGradGuard no_grad;
    return net.forward(input).to(torch::kDouble);
  };
  auto norm = [&] {
    torch::NoGradGuard no_grad;
    double sum = 0;
    for (const auto& w : weights) sum += w.to(torch::kDouble).square().sum().item<double>();
    return std::sqrt(sum);
  };

  const auto y0 = outputs();
  const double y0_norm = y0.norm().item<double>();
  if (y0_norm == 0) throw std::invalid_argument("scale_invariance: the model's outputs are all zero");
  std::vector<ScaleInvarianceStep> rows{{0, norm(), 0.0}};
  torch::optim::SGD sgd(weights, torch::optim::SGDOptions(options.lr));
  for (int64_t step = 1; step <= options.steps; ++step) {
    sgd.zero_grad();
    auto penalty = torch::zeros({}, weights.front().options());
    for (const auto& w : weights) penalty = penalty + w.square().sum();
    (0.5 * options.weight_decay * penalty).backward();
    sgd.step();
    rows.push_back({step, norm(), (outputs() - y0).norm().item<double>() / y0_norm});
  }
  for (auto& w : weights) w.mutable_grad() = torch::Tensor();  // leave no gradients behind
  return rows;
}

}  // namespace skipzoo::models
