#include <skipzoo/models/mlp.h>

namespace skipzoo::models {

MLPImpl::MLPImpl(const MLPOptions& options_) : options(options_) { reset(); }

void MLPImpl::reset() {
  const auto& o = options;
  TORCH_CHECK(o.depth() >= 0 && o.width() >= 1, "MLP: depth must be >= 0 and width >= 1");
  layers = torch::nn::Sequential();
  int64_t in = o.in_features();
  for (int64_t i = 0; i < o.depth(); ++i) {
    auto linear = torch::nn::Linear(in, o.width());
    torch::NoGradGuard no_grad;  // He init, as the chapter assumes for ReLU networks
    torch::nn::init::kaiming_normal_(linear->weight, 0, torch::kFanIn, torch::kReLU);
    linear->bias.zero_();
    layers->push_back(linear);
    if (o.norm() != Norm::None) layers->push_back(make_norm1d(o.norm(), o.width()));
    layers->push_back(torch::nn::ReLU());
    in = o.width();
  }
  layers->push_back(torch::nn::Linear(in, o.out_features()));
  register_module("layers", layers);
}

torch::Tensor MLPImpl::forward(torch::Tensor x) { return layers->forward(x); }

torch::jit::Module MLPImpl::script_twin() const {
  auto twin = twin_skeleton(*this, "MLP");
  twin.define("def forward(self, x):\n    return self.layers.forward(x)\n");
  return twin;
}

std::string MLPImpl::onnx_twin(OnnxGraph& g, const std::string& input, const std::string& prefix) const {
  return to_onnx(g, *layers, input, prefix + "layers.");
}


void MLPImpl::pretty_print(std::ostream& stream) const {
  stream << "skipzoo::models::MLP(in_features=" << options.in_features() << ", out_features=" << options.out_features()
         << ", width=" << options.width() << ", depth=" << options.depth() << ", norm=" << norm_name(options.norm())
         << ")";
}

}  // namespace skipzoo::models
