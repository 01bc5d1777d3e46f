#include <skipzoo/models/batch_norm_relu.h>
#include <skipzoo/models/layers.h>
#include <skipzoo/models/resnet.h>

#include <map>
#include <stdexcept>

namespace skipzoo::models {

namespace {

torch::nn::AnyModule make_block(const ResNetOptions& o, const BlockOptions& b) {
  if (o.block() == BlockType::Basic) {
    if (o.preact()) return torch::nn::AnyModule(PreActBasicBlock(b));
    return torch::nn::AnyModule(BasicBlock(b));
  }
  if (o.preact()) return torch::nn::AnyModule(PreActBottleneck(b));
  return torch::nn::AnyModule(Bottleneck(b));
}

int64_t expansion(BlockType block) { return block == BlockType::Basic ? 1 : 4; }

}  // namespace

ResNetImpl::ResNetImpl(const ResNetOptions& options_) : options(options_) { reset(); }

void ResNetImpl::reset() {
  const auto& o = options;
  TORCH_CHECK(!o.layers().empty() && o.layers().size() == o.widths().size(),
              "ResNet: layers and widths need the same, non-zero length");
  auto dilate = o.replace_stride_with_dilation();
  if (dilate.empty()) dilate.assign(o.layers().size() - 1, false);
  TORCH_CHECK(dilate.size() == o.layers().size() - 1, "ResNet: replace_stride_with_dilation needs ",
              o.layers().size() - 1, " flags, got ", dilate.size());

  const int64_t stem_width = o.widths()[0];
  if (o.stem() == Stem::ImageNet) {
    conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in_channels(), stem_width, 7)
                                                           .stride(2).padding(3).bias(false)));
  } else {
    conv1 = register_module("conv1", conv3x3(o.in_channels(), stem_width));
  }
  if (stem_norm()) {
    bn1 = make_norm2d(o.norm(), stem_width);
    register_module("bn1", bn1.ptr());
  }

  stages.clear();
  int64_t in_planes = stem_width, dilation = 1;
  for (size_t i = 0; i < o.layers().size(); ++i) {
    int64_t stride = i == 0 ? 1 : 2;
    const int64_t previous_dilation = dilation;
    if (i > 0 && dilate[i - 1]) {
      dilation *= stride;
      stride = 1;
    }
    torch::nn::Sequential stage;
    for (int64_t j = 0; j < o.layers()[i]; ++j) {
      auto b = BlockOptions(in_planes, o.widths()[i])
                   .stride(j == 0 ? stride : 1)
                   .groups(o.groups())
                   .base_width(o.width_per_group())
                   .dilation(j == 0 ? previous_dilation : dilation)
                   .norm(o.norm())
                   .shortcut(o.shortcut());
      stage->push_back(make_block(o, b));
      in_planes = o.widths()[i] * expansion(o.block());
    }
    stages.push_back(register_module("layer" + std::to_string(i + 1), stage));
  }
  if (o.preact()) {
    bn_final = make_norm2d(o.norm(), in_planes);
    register_module("bn_final", bn_final.ptr());
  }
  if (o.num_classes() > 0) fc = register_module("fc", torch::nn::Linear(in_planes, o.num_classes()));

  // The blocks He-initialised themselves; the stem and a pre-activation ResNet's final norm are
  // left (the fc keeps LibTorch's default init, as in torchvision).
  init_he_fan_out(*conv1);
  if (stem_norm()) init_he_fan_out(*bn1.ptr());
  if (o.preact()) init_he_fan_out(*bn_final.ptr());
  if (o.zero_init_residual()) {
    for (auto& module : modules(/*include_self=*/false)) {
      if (auto* block = dynamic_cast<ResidualBlock*>(module.get())) block->zero_init_residual();
    }
  }
}

torch::Tensor ResNetImpl::stem(torch::Tensor x) {
  x = conv1->forward(x);
  return stem_norm() ? norm_relu(bn1, x) : x;
}

std::vector<torch::Tensor> ResNetImpl::features(torch::Tensor x) {
  std::vector<torch::Tensor> out{stem(x)};
  x = out[0];
  if (options.stem() == Stem::ImageNet) x = torch::max_pool2d(x, {3, 3}, {2, 2}, {1, 1});
  for (auto& stage : stages) out.push_back(x = stage->forward(x));
  return out;
}

torch::Tensor ResNetImpl::head(torch::Tensor x) {
  if (options.preact()) x = norm_relu(bn_final, x);
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  return fc ? fc->forward(x) : x;
}

torch::Tensor ResNetImpl::forward(torch::Tensor x) { return head(features(std::move(x)).back()); }

torch::jit::Module ResNetImpl::script_twin() const {
  auto twin = twin_skeleton(*this, "ResNet");
  std::string src =
      "def features(self, x):\n"
      "    x = self.conv1.forward(x)\n";
  if (stem_norm()) src += "    x = torch.relu(self.bn1.forward(x))\n";
  src += "    out = [x]\n";
  if (options.stem() == Stem::ImageNet) src += "    x = torch.max_pool2d(x, [3, 3], [2, 2], [1, 1], [1, 1], False)\n";
  for (size_t i = 0; i < stages.size(); ++i) {
    src += "    x = self.layer" + std::to_string(i + 1) + ".forward(x)\n    out.append(x)\n";
  }
  src += "    return out\n\n";
  src += "def forward(self, x):\n    x = self.features(x)[-1]\n";
  if (options.preact()) src += "    x = torch.relu(self.bn_final.forward(x))\n";
  src += "    x = torch.flatten(torch.adaptive_avg_pool2d(x, [1, 1]), 1)\n";
  src += fc ? "    return self.fc.forward(x)\n" : "    return x\n";
  twin.define(src);
  return twin;
}

std::vector<std::string> ResNetImpl::onnx_features(OnnxGraph& g, const std::string& input,
                                                   const std::string& prefix) const {
  std::string x = to_onnx(g, *conv1, input, prefix + "conv1.");
  if (stem_norm()) x = onnx_relu(g, to_onnx(g, *bn1.ptr(), x, prefix + "bn1."), prefix);
  std::vector<std::string> out{x};
  if (options.stem() == Stem::ImageNet) {
    // LibTorch pads max pooling with -inf, as ONNX does.
    x = g.add("MaxPool", {x},
              {OnnxAttribute::integers("kernel_shape", {3, 3}), OnnxAttribute::integers("strides", {2, 2}),
               OnnxAttribute::integers("pads", {1, 1, 1, 1})},
              onnx_name(prefix, "MaxPool"));
  }
  for (size_t i = 0; i < stages.size(); ++i) {
    out.push_back(x = to_onnx(g, *stages[i], x, prefix + "layer" + std::to_string(i + 1) + "."));
  }
  return out;
}

std::string ResNetImpl::onnx_twin(OnnxGraph& g, const std::string& input, const std::string& prefix) const {
  std::string x = onnx_features(g, input, prefix).back();
  if (options.preact()) x = onnx_relu(g, to_onnx(g, *bn_final.ptr(), x, prefix + "bn_final."), prefix);
  x = g.add("GlobalAveragePool", {x}, {}, onnx_name(prefix, "GlobalAveragePool"));
  x = g.add("Flatten", {x}, {OnnxAttribute::integer("axis", 1)}, onnx_name(prefix, "Flatten"));
  return fc ? to_onnx(g, *fc, x, prefix + "fc.") : x;
}

int64_t ResNetImpl::num_blocks() const {
  int64_t k = 0;
  for (auto n : options.layers()) k += n;
  return k;
}

int64_t ResNetImpl::stem_channels() const { return options.widths()[0]; }

std::vector<int64_t> ResNetImpl::stage_channels() const {
  std::vector<int64_t> c;
  for (auto w : options.widths()) c.push_back(w * expansion(options.block()));
  return c;
}

// ---- named configurations ---------------------------------------------------------------

namespace {

ResNetOptions imagenet(BlockType block, std::vector<int64_t> layers, int64_t groups = 1, int64_t width = 64) {
  return ResNetOptions().block(block).layers(std::move(layers)).groups(groups).width_per_group(width);
}

// He et al. 2015 §4.2: 6n+2 layers, widths 16-32-64, option A shortcuts, 10 classes.
ResNetOptions cifar(int64_t depth) {
  const int64_t n = (depth - 2) / 6;
  return ResNetOptions()
      .layers({n, n, n})
      .widths({16, 32, 64})
      .stem(Stem::Cifar)
      .shortcut(Shortcut::Pad)
      .num_classes(10);
}

ResNetOptions preact_cifar(BlockType block, std::vector<int64_t> layers, std::vector<int64_t> widths) {
  return ResNetOptions()
      .block(block)
      .preact(true)
      .layers(std::move(layers))
      .widths(std::move(widths))
      .stem(Stem::Cifar)
      .num_classes(10);
}

const std::map<std::string, ResNetOptions>& table() {
  using B = BlockType;
  static const std::map<std::string, ResNetOptions> t = {
      {"resnet18", imagenet(B::Basic, {2, 2, 2, 2})},
      {"resnet34", imagenet(B::Basic, {3, 4, 6, 3})},
      {"resnet50", imagenet(B::Bottleneck, {3, 4, 6, 3})},
      {"resnet101", imagenet(B::Bottleneck, {3, 4, 23, 3})},
      {"resnet152", imagenet(B::Bottleneck, {3, 8, 36, 3})},
      {"resnext50_32x4d", imagenet(B::Bottleneck, {3, 4, 6, 3}, 32, 4)},
      {"resnext101_32x8d", imagenet(B::Bottleneck, {3, 4, 23, 3}, 32, 8)},
      {"resnext101_64x4d", imagenet(B::Bottleneck, {3, 4, 23, 3}, 64, 4)},
      {"wide_resnet50_2", imagenet(B::Bottleneck, {3, 4, 6, 3}, 1, 128)},
      {"wide_resnet101_2", imagenet(B::Bottleneck, {3, 4, 23, 3}, 1, 128)},
      {"resnet20", cifar(20)},
      {"resnet32", cifar(32)},
      {"resnet44", cifar(44)},
      {"resnet56", cifar(56)},
      {"resnet110", cifar(110)},
      {"preact_resnet18", preact_cifar(B::Basic, {2, 2, 2, 2}, {64, 128, 256, 512})},
      {"preact_resnet34", preact_cifar(B::Basic, {3, 4, 6, 3}, {64, 128, 256, 512})},
      {"preact_resnet110", preact_cifar(B::Basic, {18, 18, 18}, {16, 32, 64})},
      {"preact_resnet164", preact_cifar(B::Bottleneck, {18, 18, 18}, {16, 32, 64})},
  };
  return t;
}

}  // namespace

ResNetOptions resnet_options(const std::string& name) {
  auto it = table().find(name);
  if (it == table().end()) throw std::invalid_argument("unknown ResNet '" + name + "'");
  return it->second;
}

std::vector<std::string> resnet_names() {
  std::vector<std::string> names;
  for (const auto& kv : table()) names.push_back(kv.first);
  return names;
}


void ResNetImpl::pretty_print(std::ostream& stream) const {
  const auto list = [](const std::vector<int64_t>& v) {
    std::string s;
    for (auto x : v) s += (s.empty() ? "" : ", ") + std::to_string(x);
    return "[" + s + "]";
  };
  const auto& o = options;
  stream << "skipzoo::models::ResNet(block=" << (o.block() == BlockType::Basic ? "basic" : "bottleneck")
         << (o.preact() ? ", preact" : "") << ", layers=" << list(o.layers()) << ", widths=" << list(o.widths())
         << ", stem=" << (o.stem() == Stem::Cifar ? "cifar" : "imagenet") << ", in_channels=" << o.in_channels()
         << ", num_classes=" << o.num_classes();
  if (o.groups() != 1 || o.width_per_group() != 64) {
    stream << ", groups=" << o.groups() << ", width_per_group=" << o.width_per_group();
  }
  stream << ", norm=" << norm_name(o.norm()) << ", shortcut=" << shortcut_name(o.shortcut()) << ")";
}

}  // namespace skipzoo::models
