#include <skipzoo/models/batch_norm_relu.h>
#include <skipzoo/models/layers.h>
#include <skipzoo/models/unet.h>
#include <skipzoo/models/upsample_cat.h>

#include <stdexcept>

namespace skipzoo::models {

Upsampling parse_upsampling(const std::string& name) {
  if (name == "bilinear") return Upsampling::Bilinear;
  if (name == "transpose") return Upsampling::Transpose;
  throw std::invalid_argument("unknown upsampling '" + name + "' (expected \"bilinear\" or \"transpose\")");
}

std::string upsampling_name(Upsampling mode) { return mode == Upsampling::Bilinear ? "bilinear" : "transpose"; }

torch::Tensor pad_to_multiple(const torch::Tensor& x, int64_t multiple) {
  const int64_t h = x.size(2), w = x.size(3);
  const int64_t ph = (multiple - h % multiple) % multiple, pw = (multiple - w % multiple) % multiple;
  if (ph == 0 && pw == 0) return x;
  return torch::constant_pad_nd(x, {0, pw, 0, ph}, 0);
}

std::string script_pad_to_multiple(int64_t multiple) {
  const auto m = std::to_string(multiple);
  return "    h = x.size(2)\n"
         "    w = x.size(3)\n"
         "    x = torch.constant_pad_nd(x, [0, (" + m + " - w % " + m + ") % " + m + ", 0, (" + m + " - h % " + m +
         ") % " + m + "], 0.0)\n";
}

std::string script_crop_return(const std::string& var) { return "    return " + var + "[:, :, :h, :w]\n"; }

// Dynamic shapes: pads = [0, 0, 0, 0, 0, 0, ceil(h/m)*m - h, ceil(w/m)*m - w] computed from
// Shape(x); integer Div truncates, which is the floor for these positive sizes.
OnnxPadded onnx_pad_to_multiple(OnnxGraph& g, const std::string& input, int64_t multiple, const std::string& prefix,
                                const std::string& type) {
  const auto& shapes = g.shapes();
  if (shapes.mode == OnnxShapeMode::Static && (shapes.height % multiple != 0 || shapes.width % multiple != 0)) {
    onnx_unsupported(prefix, type,
                     "static:" + std::to_string(shapes.height) + "x" + std::to_string(shapes.width) +
                         " shapes need H and W to be multiples of " + std::to_string(multiple) +
                         " (the graph does no padding); choose such a size, or `dynamic` shapes, which pad "
                         "inside the graph and need ONNX Runtime");
  }
  if (shapes.mode != OnnxShapeMode::Dynamic) return {input, ""};
  const auto n = [&](const std::string& op) { return onnx_name(prefix, "pad/" + op); };
  const auto shape = g.add("Shape", {input}, {}, n("Shape"));
  const auto hw = g.add("Slice", {shape, g.ints(n("hw.starts"), {2}), g.ints(n("hw.ends"), {4})}, {}, n("hw"));
  const auto m = g.ints(n("multiple"), {multiple});
  auto padded = g.add("Add", {hw, g.ints(n("multiple_minus_1"), {multiple - 1})}, {}, n("Add"));
  padded = g.add("Mul", {g.add("Div", {padded, m}, {}, n("Div")), m}, {}, n("Mul"));
  const auto missing = g.add("Sub", {padded, hw}, {}, n("Sub"));
  const auto pads = g.add("Concat", {g.ints(n("zeros"), {0, 0, 0, 0, 0, 0}), missing},
                          {OnnxAttribute::integer("axis", 0)}, n("pads"));
  const auto x = g.add("Pad", {input, pads}, {OnnxAttribute::text("mode", "constant")}, n("Pad"));
  return {x, hw};
}

std::string onnx_crop(OnnxGraph& g, const std::string& x, const OnnxPadded& padded, const std::string& prefix) {
  if (padded.size.empty()) return x;
  const auto n = onnx_name(prefix, "crop");
  return g.add("Slice", {x, g.ints(n + ".starts", {0, 0}), padded.size, g.ints(n + ".axes", {2, 3})}, {}, n);
}

// ---- ConvBlock --------------------------------------------------------------------------

ConvBlockImpl::ConvBlockImpl(const ConvBlockOptions& options_) : options(options_) { reset(); }

void ConvBlockImpl::reset() {
  const bool bias = options.norm() == Norm::None;
  conv1 = register_module("conv1", conv3x3(options.in_channels(), options.out_channels(), 1, 1, 1, bias));
  bn1 = make_norm2d(options.norm(), options.out_channels());
  register_module("bn1", bn1.ptr());
  conv2 = register_module("conv2", conv3x3(options.out_channels(), options.out_channels(), 1, 1, 1, bias));
  bn2 = make_norm2d(options.norm(), options.out_channels());
  register_module("bn2", bn2.ptr());
  init_he_fan_out(*this);
}

torch::Tensor ConvBlockImpl::forward(torch::Tensor x) {
  return norm_relu(bn2, conv2->forward(norm_relu(bn1, conv1->forward(x))));
}

torch::jit::Module ConvBlockImpl::script_twin() const {
  auto twin = twin_skeleton(*this, "ConvBlock");
  twin.define(
      "def forward(self, x):\n"
      "    x = torch.relu(self.bn1.forward(self.conv1.forward(x)))\n"
      "    return torch.relu(self.bn2.forward(self.conv2.forward(x)))\n");
  return twin;
}

std::string ConvBlockImpl::onnx_twin(OnnxGraph& g, const std::string& input, const std::string& prefix) const {
  auto x = to_onnx(g, *bn1.ptr(), to_onnx(g, *conv1, input, prefix + "conv1."), prefix + "bn1.");
  x = to_onnx(g, *bn2.ptr(), to_onnx(g, *conv2, onnx_relu(g, x, prefix), prefix + "conv2."), prefix + "bn2.");
  return onnx_relu(g, x, prefix);
}

// ---- UpBlock ----------------------------------------------------------------------------

UpBlockImpl::UpBlockImpl(const UpBlockOptions& options_) : options(options_) { reset(); }

void UpBlockImpl::reset() {
  int64_t up_channels = options.in_channels();
  if (options.upsampling() == Upsampling::Transpose) {
    up_channels = options.in_channels() / 2;
    up = register_module("up", torch::nn::ConvTranspose2d(
                                   torch::nn::ConvTranspose2dOptions(options.in_channels(), up_channels, 2).stride(2)));
  }
  const auto block = ConvBlockOptions(up_channels + options.skip_channels(), options.out_channels()).norm(options.norm());
  conv = register_module("conv", ConvBlock(block));
}

torch::Tensor UpBlockImpl::forward(torch::Tensor x, torch::Tensor skip) {
  if (options.upsampling() == Upsampling::Bilinear) return conv->forward(upsample_cat(x, skip));
  x = up->forward(x);
  return conv->forward(skip.defined() ? torch::cat({x, skip}, 1) : x);
}

torch::jit::Module UpBlockImpl::script_twin() const {
  auto twin = twin_skeleton(*this, "UpBlock");
  std::string src = options.skip_channels() > 0 ? "def forward(self, x, skip):\n" : "def forward(self, x):\n";
  src += options.upsampling() == Upsampling::Transpose
             ? "    x = self.up.forward(x)\n"
             : "    x = torch.upsample_bilinear2d(x, [x.size(2) * 2, x.size(3) * 2], False, None, None)\n";
  if (options.skip_channels() > 0) src += "    x = torch.cat([x, skip], 1)\n";
  twin.define(src + "    return self.conv.forward(x)\n");
  return twin;
}

std::string UpBlockImpl::onnx_twin(OnnxGraph& g, const std::string& input, const std::string& prefix) const {
  if (options.skip_channels() > 0) {
    onnx_unsupported(prefix, "UpBlock", "needs its skip input: export the U-Net that holds it");
  }
  return onnx_up(g, input, "", prefix);
}

// Bilinear x2 as Resize with constant scales, so no shape arithmetic: pytorch_half_pixel is
// align_corners=False (OpenCV maps it to its "opencv_linear" mode).
std::string UpBlockImpl::onnx_up(OnnxGraph& g, const std::string& input, const std::string& skip,
                                 const std::string& prefix) const {
  std::string x = input;
  if (options.upsampling() == Upsampling::Transpose) {
    x = to_onnx(g, *up, x, prefix + "up.");
  } else {
    const auto n = onnx_name(prefix, "Resize");
    x = g.add("Resize", {x, "", g.floats(n + ".scales", {1, 1, 2, 2})},
              {OnnxAttribute::text("mode", "linear"),
               OnnxAttribute::text("coordinate_transformation_mode", "pytorch_half_pixel")},
              n);
  }
  if (!skip.empty()) x = g.add("Concat", {x, skip}, {OnnxAttribute::integer("axis", 1)}, onnx_name(prefix, "Concat"));
  return to_onnx(g, *conv, x, prefix + "conv.");
}

// ---- UNet -------------------------------------------------------------------------------

UNetImpl::UNetImpl(const UNetOptions& options_) : options(options_) { reset(); }

void UNetImpl::reset() {
  const auto& o = options;
  TORCH_CHECK(o.depth() >= 1 && o.depth() <= 8, "UNet: depth must be in 1..8, got ", o.depth());
  TORCH_CHECK(o.base_width() >= 2, "UNet: base_width must be >= 2, got ", o.base_width());
  down = register_module("down", torch::nn::ModuleList());
  up = register_module("up", torch::nn::ModuleList());
  int64_t width = o.base_width();
  down->push_back(ConvBlock(o.in_channels(), width, o.norm()));
  for (int64_t level = 1; level <= o.depth(); ++level, width *= 2) {
    down->push_back(ConvBlock(width, width * 2, o.norm()));
  }
  for (int64_t level = o.depth(); level >= 1; --level, width /= 2) {
    up->push_back(UpBlock(width, width / 2, width / 2, o.upsampling(), o.norm()));
  }
  // The blocks He-initialised themselves. The head is a per-pixel linear classifier, not a conv
  // feeding a ReLU: it keeps LibTorch's default init (uniform in +-1/sqrt(fan_in), as
  // torchvision's ResNet keeps it for its fc). He fan-out init would give it std
  // sqrt(2 / classes): logits of std ~4 at the start, a saturated softmax, and a slow first
  // minute of training.
  head = register_module("head", torch::nn::Conv2d(torch::nn::Conv2dOptions(width, o.classes(), 1)));
}

torch::Tensor UNetImpl::forward(torch::Tensor x) {
  const int64_t h = x.size(2), w = x.size(3);
  x = pad_to_multiple(x, int64_t{1} << options.depth());
  std::vector<torch::Tensor> skips;
  for (size_t i = 0; i < down->size(); ++i) {
    if (i > 0) x = torch::max_pool2d(x, {2, 2}, {2, 2});
    x = down[i]->as<ConvBlock>()->forward(x);
    skips.push_back(x);
  }
  for (size_t i = 0; i < up->size(); ++i) x = up[i]->as<UpBlock>()->forward(x, skips[skips.size() - 2 - i]);
  return head->forward(x).slice(2, 0, h).slice(3, 0, w);
}

torch::jit::Module UNetImpl::script_twin() const {
  auto twin = twin_skeleton(*this, "UNet");
  const int64_t depth = options.depth();
  std::string src = "def forward(self, x):\n" + script_pad_to_multiple(int64_t{1} << depth);
  for (int64_t i = 0; i <= depth; ++i) {
    const auto s = std::to_string(i);
    if (i > 0) src += "    x = torch.max_pool2d(x, [2, 2], [2, 2], [0, 0], [1, 1], False)\n";
    src += "    x = getattr(self.down, '" + s + "').forward(x)\n    s" + s + " = x\n";
  }
  for (int64_t i = 0; i < depth; ++i) {
    src += "    x = getattr(self.up, '" + std::to_string(i) + "').forward(x, s" + std::to_string(depth - 1 - i) + ")\n";
  }
  twin.define(src + "    x = self.head.forward(x)\n" + script_crop_return("x"));
  return twin;
}

std::string UNetImpl::onnx_twin(OnnxGraph& g, const std::string& input, const std::string& prefix) const {
  const int64_t depth = options.depth();
  const auto padded = onnx_pad_to_multiple(g, input, int64_t{1} << depth, prefix, "UNet");
  std::string x = padded.tensor;
  std::vector<std::string> skips;
  for (int64_t i = 0; i <= depth; ++i) {
    if (i > 0) {
      x = g.add("MaxPool", {x}, {OnnxAttribute::integers("kernel_shape", {2, 2}), OnnxAttribute::integers("strides", {2, 2})},
                onnx_name(prefix, "MaxPool"));
    }
    x = to_onnx(g, *down->ptr(i), x, prefix + "down." + std::to_string(i) + ".");
    skips.push_back(x);
  }
  for (int64_t i = 0; i < depth; ++i) {
    x = up->ptr(i)->as<UpBlockImpl>()->onnx_up(g, x, skips[depth - 1 - i], prefix + "up." + std::to_string(i) + ".");
  }
  return onnx_crop(g, to_onnx(g, *head, x, prefix + "head."), padded, prefix);
}


void ConvBlockImpl::pretty_print(std::ostream& stream) const {
  stream << "skipzoo::models::ConvBlock(in_channels=" << options.in_channels() << ", out_channels="
         << options.out_channels() << ", norm=" << norm_name(options.norm()) << ")";
}

void UpBlockImpl::pretty_print(std::ostream& stream) const {
  stream << "skipzoo::models::UpBlock(in_channels=" << options.in_channels() << ", skip_channels="
         << options.skip_channels() << ", out_channels=" << options.out_channels() << ", upsampling=" << upsampling_name(options.upsampling()) << ", norm=" << norm_name(options.norm()) << ")";
}

void UNetImpl::pretty_print(std::ostream& stream) const {
  stream << "skipzoo::models::UNet(in_channels=" << options.in_channels() << ", classes=" << options.classes()
         << ", depth=" << options.depth() << ", base_width=" << options.base_width()
         << ", upsampling=" << upsampling_name(options.upsampling()) << ", norm=" << norm_name(options.norm()) << ")";
}

}  // namespace skipzoo::models
