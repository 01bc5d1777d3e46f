#include <skipzoo/models/norm.h>

#include <stdexcept>

namespace skipzoo::models {

Norm parse_norm(const std::string& name) {
  if (name == "batch" || name == "bn") return Norm::Batch;
  if (name == "none") return Norm::None;
  throw std::invalid_argument("unknown norm '" + name + "' (expected \"batch\" or \"none\")");
}

std::string norm_name(Norm norm) {
  switch (norm) {
    case Norm::Batch: return "batch";
    case Norm::None: return "none";
  }
  return "?";
}

torch::nn::AnyModule make_norm2d(Norm norm, int64_t channels) {
  switch (norm) {
    case Norm::Batch: return torch::nn::AnyModule(torch::nn::BatchNorm2d(channels));
    case Norm::None: return torch::nn::AnyModule(torch::nn::Identity());
  }
  throw std::logic_error("make_norm2d: unhandled norm");
}

torch::nn::AnyModule make_norm1d(Norm norm, int64_t features) {
  switch (norm) {
    case Norm::Batch: return torch::nn::AnyModule(torch::nn::BatchNorm1d(features));
    case Norm::None: return torch::nn::AnyModule(torch::nn::Identity());
  }
  throw std::logic_error("make_norm1d: unhandled norm");
}

bool zero_norm_scale(torch::nn::Module& norm) {
  auto params = norm.named_parameters(/*recurse=*/false);
  auto* weight = params.find("weight");
  if (weight == nullptr) return false;
  torch::NoGradGuard no_grad;
  weight->zero_();
  return true;
}

}  // namespace skipzoo::models
