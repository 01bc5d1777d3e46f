#include <skipzoo/models/layers.h>
#include <skipzoo/models/manual_batch_norm.h>

namespace skipzoo::models {

torch::nn::Conv2d conv3x3(int64_t in, int64_t out, int64_t stride, int64_t groups, int64_t dilation, bool bias) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3)
                               .stride(stride)
                               .padding(dilation)
                               .groups(groups)
                               .dilation(dilation)
                               .bias(bias));
}

torch::nn::Conv2d conv1x1(int64_t in, int64_t out, int64_t stride, bool bias) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1).stride(stride).bias(bias));
}

namespace {
void init_layer(torch::nn::Module& module) {
  if (auto* conv = module.as<torch::nn::Conv2d>()) {
    torch::nn::init::kaiming_normal_(conv->weight, 0, torch::kFanOut, torch::kReLU);
    if (conv->bias.defined()) conv->bias.zero_();
  } else if (module.as<torch::nn::BatchNorm2d>() || module.as<torch::nn::BatchNorm1d>() || is_manual_batch_norm(module)) {
    auto params = module.named_parameters(/*recurse=*/false);
    params["weight"].fill_(1);
    params["bias"].zero_();
  }
}
}  // namespace

void init_he_fan_out(torch::nn::Module& root) {
  torch::NoGradGuard no_grad;
  init_layer(root);  // by reference: modules(include_self) needs a root already in a shared_ptr
  for (auto& module : root.modules(/*include_self=*/false)) init_layer(*module);
}

}  // namespace skipzoo::models
