#include <skipzoo/models/manual_batch_norm.h>
#include <skipzoo/models/norm.h>

#include <stdexcept>

namespace skipzoo::models {

Norm parse_norm(const std::string& name) {
  if (name == "batch" || name == "bn") return Norm::Batch;
  if (name == "none") return Norm::None;
  if (name == "manual") return Norm::Manual;
  throw std::invalid_argument("unknown norm '" + name + "' (expected \"batch\", \"none\" or \"manual\")");
}

std::string norm_name(Norm norm) {
  switch (norm) {
    case Norm::Batch: return "batch";
    case Norm::None: return "none";
    case Norm::Manual: return "manual";
  }
  return "?";
}

torch::nn::AnyModule make_norm2d(Norm norm, int64_t channels) {
  switch (norm) {
    case Norm::Batch: return torch::nn::AnyModule(torch::nn::BatchNorm2d(channels));
    case Norm::None: return torch::nn::AnyModule(torch::nn::Identity());
    case Norm::Manual: return torch::nn::AnyModule(ManualBatchNorm2d(channels));
  }
  throw std::logic_error("make_norm2d: unhandled norm");
}

torch::nn::AnyModule make_norm1d(Norm norm, int64_t features) {
  switch (norm) {
    case Norm::Batch: return torch::nn::AnyModule(torch::nn::BatchNorm1d(features));
    case Norm::None: return torch::nn::AnyModule(torch::nn::Identity());
    case Norm::Manual: return torch::nn::AnyModule(ManualBatchNorm1d(features));
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
