#include <skipzoo/models/script.h>

#include <atomic>
#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "layer_options.h"

namespace skipzoo::models {

std::string script_list(const std::vector<int64_t>& values) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < values.size(); ++i) out << (i ? ", " : "") << values[i];
  out << ']';
  return out.str();
}

std::string script_bool(bool value) { return value ? "True" : "False"; }

std::string script_float(double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", value);
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // TorchScript needs a float literal
  return s;
}

namespace {

// Every twin gets a class type of its own, named the way TorchScript names the types of scripted
// Python modules, so Python's original_name stays e.g. "BasicBlock". Twins that shared a plain
// name but differed in structure made LibTorch 1.13's alias analysis exhaust memory in define()
// (the encoder and decoder of unet_resnet18 together).
c10::QualifiedName unique_class_name(const std::string& class_name) {
  static std::atomic<uint64_t> counter{0};
  return c10::QualifiedName("__torch__.skipzoo.___torch_mangle_" + std::to_string(counter++) + "." + class_name);
}

}  // namespace

torch::jit::Module twin_skeleton(const torch::nn::Module& m, const std::string& class_name) {
  torch::jit::Module twin(unique_class_name(class_name));
  auto share = [](const torch::Tensor& t) { return t.detach().requires_grad_(t.requires_grad()); };
  for (const auto& p : m.named_parameters(/*recurse=*/false)) twin.register_parameter(p.key(), share(p.value()), false);
  for (const auto& b : m.named_buffers(/*recurse=*/false)) twin.register_buffer(b.key(), b.value().detach());
  for (const auto& child : m.named_children()) twin.register_module(child.key(), to_torchscript(*child.value()));
  twin.register_attribute("training", c10::BoolType::get(), m.is_training());
  return twin;
}

namespace {

using detail::get;
using detail::get_if;
using detail::vec;

// Only explicit zero padding is used by the zoo; other modes would need other ops.
template <typename Options>
std::vector<int64_t> explicit_padding(const Options& o) {
  TORCH_CHECK(get_if<torch::ExpandingArray<2>>(&o.padding()) != nullptr,
              "script twin: only explicit conv padding is supported");
  TORCH_CHECK(get_if<torch::enumtype::kZeros>(&o.padding_mode()) != nullptr,
              "script twin: only zero padding_mode is supported");
  return vec(get<torch::ExpandingArray<2>>(o.padding()));
}

torch::jit::Module conv2d_twin(const torch::nn::Conv2dImpl& conv) {
  const auto& o = conv.options;
  auto twin = twin_skeleton(conv, "Conv2d");
  const std::string bias = conv.bias.defined() ? "self.bias" : "None";
  twin.define("def forward(self, x):\n    return torch.conv2d(x, self.weight, " + bias + ", " +
              script_list(vec(o.stride())) + ", " + script_list(explicit_padding(o)) + ", " +
              script_list(vec(o.dilation())) + ", " + std::to_string(o.groups()) + ")\n");
  return twin;
}

torch::jit::Module conv_transpose2d_twin(const torch::nn::ConvTranspose2dImpl& conv) {
  const auto& o = conv.options;
  auto twin = twin_skeleton(conv, "ConvTranspose2d");
  const std::string bias = conv.bias.defined() ? "self.bias" : "None";
  twin.define("def forward(self, x):\n    return torch.conv_transpose2d(x, self.weight, " + bias + ", " +
              script_list(vec(o.stride())) + ", " + script_list(explicit_padding(o)) + ", " +
              script_list(vec(o.output_padding())) + ", " + std::to_string(o.groups()) + ", " +
              script_list(vec(o.dilation())) + ")\n");
  return twin;
}

// BatchNorm with affine weights and running statistics, as the zoo uses it.
template <typename BN>
torch::jit::Module torch_batch_norm_twin(const BN& bn, const std::string& class_name) {
  const auto& o = bn.options;
  TORCH_CHECK(o.affine() && o.track_running_stats(), "script twin: ", class_name,
              " needs affine=true and track_running_stats=true");
  TORCH_CHECK(o.momentum().has_value(), "script twin: ", class_name, " with cumulative momentum is not supported");
  return batch_norm_twin(bn, class_name, *o.momentum(), o.eps());
}

torch::jit::Module sequential_twin(const torch::nn::SequentialImpl& seq) {
  auto twin = twin_skeleton(seq, "Sequential");
  std::string src = "def forward(self, x):\n";
  for (const auto& child : seq.named_children()) src += "    x = getattr(self, '" + child.key() + "').forward(x)\n";
  twin.define(src + "    return x\n");
  return twin;
}

torch::jit::Module simple_twin(const torch::nn::Module& m, const std::string& class_name, const std::string& body) {
  auto twin = twin_skeleton(m, class_name);
  twin.define("def forward(self, x):\n    return " + body + "\n");
  return twin;
}

}  // namespace

torch::jit::Module batch_norm_twin(const torch::nn::Module& bn, const std::string& class_name, double momentum,
                                   double eps) {
  auto twin = twin_skeleton(bn, class_name);
  twin.define(
      "def forward(self, x):\n"
      "    if self.training:\n"
      "        self.num_batches_tracked.add_(1)\n"
      "    return torch.batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var, self.training, " +
      script_float(momentum) + ", " + script_float(eps) + ", False)\n");
  return twin;
}

torch::jit::Module to_torchscript(const torch::nn::Module& module) {
  if (const auto* s = dynamic_cast<const Scriptable*>(&module)) return s->script_twin();
  if (const auto* m = dynamic_cast<const torch::nn::Conv2dImpl*>(&module)) return conv2d_twin(*m);
  if (const auto* m = dynamic_cast<const torch::nn::ConvTranspose2dImpl*>(&module)) return conv_transpose2d_twin(*m);
  if (const auto* m = dynamic_cast<const torch::nn::BatchNorm2dImpl*>(&module)) return torch_batch_norm_twin(*m, "BatchNorm2d");
  if (const auto* m = dynamic_cast<const torch::nn::BatchNorm1dImpl*>(&module)) return torch_batch_norm_twin(*m, "BatchNorm1d");
  if (const auto* m = dynamic_cast<const torch::nn::LinearImpl*>(&module)) {
    return simple_twin(*m, "Linear", std::string("torch.linear(x, self.weight, ") +
                                         (m->bias.defined() ? "self.bias" : "None") + ")");
  }
  if (const auto* m = dynamic_cast<const torch::nn::SequentialImpl*>(&module)) return sequential_twin(*m);
  if (const auto* m = dynamic_cast<const torch::nn::ReLUImpl*>(&module)) return simple_twin(*m, "ReLU", "torch.relu(x)");
  if (const auto* m = dynamic_cast<const torch::nn::IdentityImpl*>(&module)) return simple_twin(*m, "Identity", "x");
  if (const auto* m = dynamic_cast<const torch::nn::ModuleListImpl*>(&module)) return twin_skeleton(*m, "ModuleList");
  throw std::invalid_argument("no TorchScript twin for module type '" + module.name() + "'");
}

}  // namespace skipzoo::models
