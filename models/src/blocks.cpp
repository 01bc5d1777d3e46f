#include <skipzoo/models/batch_norm_relu.h>
#include <skipzoo/models/blocks.h>
#include <skipzoo/models/layers.h>

#include <climits>
#include <stdexcept>

namespace skipzoo::models {

Shortcut parse_shortcut(const std::string& name) {
  if (name == "B" || name == "projection") return Shortcut::Projection;
  if (name == "A" || name == "pad") return Shortcut::Pad;
  throw std::invalid_argument("unknown shortcut '" + name + "' (expected \"A\"/\"pad\" or \"B\"/\"projection\")");
}

std::string shortcut_name(Shortcut shortcut) { return shortcut == Shortcut::Pad ? "A" : "B"; }

// ---- option A shortcut ------------------------------------------------------------------

PadShortcutImpl::PadShortcutImpl(const PadShortcutOptions& options_) : options(options_) {
  TORCH_CHECK(options.out_channels() >= options.in_channels(), "PadShortcut cannot reduce channels (",
              options.in_channels(), " -> ", options.out_channels(), ")");
}

torch::Tensor PadShortcutImpl::forward(const torch::Tensor& x) {
  const int64_t extra = options.out_channels() - options.in_channels(), front = extra / 2;
  auto sub = x.slice(2, 0, c10::nullopt, options.stride()).slice(3, 0, c10::nullopt, options.stride());
  return torch::constant_pad_nd(sub, {0, 0, 0, 0, front, extra - front}, 0);
}

torch::jit::Module PadShortcutImpl::script_twin() const {
  const int64_t extra = options.out_channels() - options.in_channels(), front = extra / 2;
  const auto s = std::to_string(options.stride());
  auto twin = twin_skeleton(*this, "PadShortcut");
  twin.define("def forward(self, x):\n    return torch.constant_pad_nd(x[:, :, ::" + s + ", ::" + s + "], " +
              script_list({0, 0, 0, 0, front, extra - front}) + ", 0.0)\n");
  return twin;
}

// x[:, :, ::s, ::s] as a Slice with constant bounds and steps, then Pad on the channels: no shape
// arithmetic, so OpenCV runs it at any size. Ends are INT_MAX (clamped by ONNX): OpenCV reads
// int64 constants as int32.
std::string PadShortcutImpl::onnx_twin(OnnxGraph& g, const std::string& input, const std::string& prefix) const {
  const int64_t extra = options.out_channels() - options.in_channels(), front = extra / 2;
  std::string y = input;
  if (options.stride() != 1) {
    const auto n = onnx_name(prefix, "Slice");
    const int64_t s = options.stride();
    y = g.add("Slice", {y, g.ints(n + ".starts", {0, 0}), g.ints(n + ".ends", {INT_MAX, INT_MAX}),
                        g.ints(n + ".axes", {2, 3}), g.ints(n + ".steps", {s, s})}, {}, n);
  }
  if (extra > 0) {
    const auto n = onnx_name(prefix, "Pad");
    y = g.add("Pad", {y, g.ints(n + ".pads", {0, front, 0, 0, 0, extra - front, 0, 0})},
              {OnnxAttribute::text("mode", "constant")}, n);
  }
  return y;
}

namespace {

// torchvision's rule: a shortcut is needed when the stride or the channel count changes.
torch::nn::AnyModule make_shortcut(const BlockOptions& o, int64_t out_channels, bool preact) {
  if (o.stride() == 1 && o.in_planes() == out_channels) return {};
  if (o.shortcut() == Shortcut::Pad) return torch::nn::AnyModule(PadShortcut(o.in_planes(), out_channels, o.stride()));
  Projection seq(conv1x1(o.in_planes(), out_channels, o.stride()));
  // Pre-activation blocks project the already normalised input, so no norm follows.
  if (!preact) seq->push_back(make_norm2d(o.norm(), out_channels));
  return torch::nn::AnyModule(seq);
}

void register_optional(torch::nn::Module& m, const std::string& name, const torch::nn::AnyModule& child) {
  if (!child.is_empty()) m.register_module(name, child.ptr());
}

std::string shortcut_line(const torch::nn::AnyModule& downsample, const std::string& from) {
  return downsample.is_empty() ? "    identity = " + from + "\n"
                               : "    identity = self.downsample.forward(" + from + ")\n";
}

// The ONNX twin of the child `name` (a conv, a norm layer or the shortcut).
std::string child(OnnxGraph& g, const torch::nn::Module& m, const std::string& x, const std::string& prefix,
                  const std::string& name) {
  return to_onnx(g, m, x, prefix + name + ".");
}

std::string onnx_shortcut(OnnxGraph& g, const torch::nn::AnyModule& downsample, const std::string& from,
                          const std::string& prefix) {
  return downsample.is_empty() ? from : child(g, *downsample.ptr(), from, prefix, "downsample");
}

std::string onnx_add(OnnxGraph& g, const std::string& a, const std::string& b, const std::string& prefix) {
  return g.add("Add", {a, b}, {}, onnx_name(prefix, "Add"));
}

// A post-activation block's tail: relu(norm(branch) + shortcut(x)). A projection's norm joins
// the block's own in one node (norm_relu's two-norm form).
torch::Tensor block_tail(torch::nn::AnyModule& norm, const torch::Tensor& branch, torch::nn::AnyModule& downsample,
                         const torch::Tensor& x) {
  if (downsample.is_empty()) return norm_relu(norm, branch, x);
  auto* projection = dynamic_cast<ProjectionImpl*>(downsample.ptr().get());
  if (projection != nullptr && projection->size() == 2) {  // [1x1 conv, norm]
    auto& conv = *projection->begin();
    auto& shortcut_norm = *(projection->begin() + 1);
    return norm_relu(norm, branch, shortcut_norm, conv.forward(x));
  }
  return norm_relu(norm, branch, downsample.forward(x));
}

void zero_weight(torch::nn::Conv2d& conv) {
  torch::NoGradGuard no_grad;
  conv->weight.zero_();
}

}  // namespace

// ---- BasicBlock -------------------------------------------------------------------------

BasicBlockImpl::BasicBlockImpl(const BlockOptions& options_) : options(options_) { reset(); }

void BasicBlockImpl::reset() {
  TORCH_CHECK(options.groups() == 1 && options.base_width() == 64,
              "BasicBlock only supports groups=1 and base_width=64");
  TORCH_CHECK(options.dilation() == 1, "BasicBlock does not support dilation > 1");
  const int64_t out = out_channels();
  conv1 = register_module("conv1", conv3x3(options.in_planes(), out, options.stride()));
  bn1 = make_norm2d(options.norm(), out);
  register_module("bn1", bn1.ptr());
  conv2 = register_module("conv2", conv3x3(out, out));
  bn2 = make_norm2d(options.norm(), out);
  register_module("bn2", bn2.ptr());
  downsample = make_shortcut(options, out, false);
  register_optional(*this, "downsample", downsample);
  init_he_fan_out(*this);
}

torch::Tensor BasicBlockImpl::forward(torch::Tensor x) {
  auto out = norm_relu(bn1, conv1->forward(x));
  return block_tail(bn2, conv2->forward(out), downsample, x);
}

torch::jit::Module BasicBlockImpl::script_twin() const {
  auto twin = twin_skeleton(*this, "BasicBlock");
  twin.define(
      "def forward(self, x):\n"
      "    out = torch.relu(self.bn1.forward(self.conv1.forward(x)))\n"
      "    out = self.bn2.forward(self.conv2.forward(out))\n" +
      shortcut_line(downsample, "x") + "    return torch.relu(out + identity)\n");
  return twin;
}

std::string BasicBlockImpl::onnx_twin(OnnxGraph& g, const std::string& x, const std::string& prefix) const {
  auto out = onnx_relu(g, child(g, *bn1.ptr(), child(g, *conv1, x, prefix, "conv1"), prefix, "bn1"), prefix);
  out = child(g, *bn2.ptr(), child(g, *conv2, out, prefix, "conv2"), prefix, "bn2");
  return onnx_relu(g, onnx_add(g, out, onnx_shortcut(g, downsample, x, prefix), prefix), prefix);
}

// Without a norm layer (Identity) there is no scale to zero: zero the branch's last conv.
void BasicBlockImpl::zero_init_residual() {
  if (!zero_norm_scale(*bn2.ptr())) zero_weight(conv2);
}

// ---- Bottleneck -------------------------------------------------------------------------

BottleneckImpl::BottleneckImpl(const BlockOptions& options_) : options(options_) { reset(); }

void BottleneckImpl::reset() {
  const auto& o = options;
  const int64_t width = static_cast<int64_t>(o.planes() * (o.base_width() / 64.0)) * o.groups();
  const int64_t out = out_channels();
  conv1 = register_module("conv1", conv1x1(o.in_planes(), width));
  bn1 = make_norm2d(o.norm(), width);
  register_module("bn1", bn1.ptr());
  conv2 = register_module("conv2", conv3x3(width, width, o.stride(), o.groups(), o.dilation()));
  bn2 = make_norm2d(o.norm(), width);
  register_module("bn2", bn2.ptr());
  conv3 = register_module("conv3", conv1x1(width, out));
  bn3 = make_norm2d(o.norm(), out);
  register_module("bn3", bn3.ptr());
  downsample = make_shortcut(o, out, false);
  register_optional(*this, "downsample", downsample);
  init_he_fan_out(*this);
}

torch::Tensor BottleneckImpl::forward(torch::Tensor x) {
  auto out = norm_relu(bn1, conv1->forward(x));
  out = norm_relu(bn2, conv2->forward(out));
  return block_tail(bn3, conv3->forward(out), downsample, x);
}

torch::jit::Module BottleneckImpl::script_twin() const {
  auto twin = twin_skeleton(*this, "Bottleneck");
  twin.define(
      "def forward(self, x):\n"
      "    out = torch.relu(self.bn1.forward(self.conv1.forward(x)))\n"
      "    out = torch.relu(self.bn2.forward(self.conv2.forward(out)))\n"
      "    out = self.bn3.forward(self.conv3.forward(out))\n" +
      shortcut_line(downsample, "x") + "    return torch.relu(out + identity)\n");
  return twin;
}

std::string BottleneckImpl::onnx_twin(OnnxGraph& g, const std::string& x, const std::string& prefix) const {
  auto out = onnx_relu(g, child(g, *bn1.ptr(), child(g, *conv1, x, prefix, "conv1"), prefix, "bn1"), prefix);
  out = onnx_relu(g, child(g, *bn2.ptr(), child(g, *conv2, out, prefix, "conv2"), prefix, "bn2"), prefix);
  out = child(g, *bn3.ptr(), child(g, *conv3, out, prefix, "conv3"), prefix, "bn3");
  return onnx_relu(g, onnx_add(g, out, onnx_shortcut(g, downsample, x, prefix), prefix), prefix);
}

void BottleneckImpl::zero_init_residual() {
  if (!zero_norm_scale(*bn3.ptr())) zero_weight(conv3);
}

// ---- PreActBasicBlock -------------------------------------------------------------------

PreActBasicBlockImpl::PreActBasicBlockImpl(const BlockOptions& options_) : options(options_) { reset(); }

void PreActBasicBlockImpl::reset() {
  TORCH_CHECK(options.groups() == 1 && options.base_width() == 64,
              "PreActBasicBlock only supports groups=1 and base_width=64");
  const int64_t out = out_channels();
  bn1 = make_norm2d(options.norm(), options.in_planes());
  register_module("bn1", bn1.ptr());
  conv1 = register_module("conv1", conv3x3(options.in_planes(), out, options.stride(), 1, options.dilation()));
  bn2 = make_norm2d(options.norm(), out);
  register_module("bn2", bn2.ptr());
  conv2 = register_module("conv2", conv3x3(out, out, 1, 1, options.dilation()));
  downsample = make_shortcut(options, out, true);
  register_optional(*this, "downsample", downsample);
  init_he_fan_out(*this);
}

torch::Tensor PreActBasicBlockImpl::forward(torch::Tensor x) {
  auto pre = norm_relu(bn1, x);
  // He et al. 2016: a projection shortcut sees the pre-activated input; the identity sees x.
  auto identity = downsample.is_empty() ? x : downsample.forward(pre);
  auto out = conv1->forward(pre);
  out = conv2->forward(norm_relu(bn2, out));
  return out += identity;
}

torch::jit::Module PreActBasicBlockImpl::script_twin() const {
  auto twin = twin_skeleton(*this, "PreActBasicBlock");
  twin.define(
      "def forward(self, x):\n"
      "    pre = torch.relu(self.bn1.forward(x))\n" +
      shortcut_line(downsample, downsample.is_empty() ? "x" : "pre") +
      "    out = self.conv1.forward(pre)\n"
      "    out = self.conv2.forward(torch.relu(self.bn2.forward(out)))\n"
      "    return out + identity\n");
  return twin;
}

std::string PreActBasicBlockImpl::onnx_twin(OnnxGraph& g, const std::string& x, const std::string& prefix) const {
  const auto pre = onnx_relu(g, child(g, *bn1.ptr(), x, prefix, "bn1"), prefix);
  const auto identity = onnx_shortcut(g, downsample, downsample.is_empty() ? x : pre, prefix);
  auto out = child(g, *conv1, pre, prefix, "conv1");
  out = child(g, *conv2, onnx_relu(g, child(g, *bn2.ptr(), out, prefix, "bn2"), prefix), prefix, "conv2");
  return onnx_add(g, out, identity, prefix);
}

void PreActBasicBlockImpl::zero_init_residual() { zero_weight(conv2); }

// ---- PreActBottleneck -------------------------------------------------------------------

PreActBottleneckImpl::PreActBottleneckImpl(const BlockOptions& options_) : options(options_) { reset(); }

void PreActBottleneckImpl::reset() {
  const auto& o = options;
  const int64_t width = static_cast<int64_t>(o.planes() * (o.base_width() / 64.0)) * o.groups();
  const int64_t out = out_channels();
  bn1 = make_norm2d(o.norm(), o.in_planes());
  register_module("bn1", bn1.ptr());
  conv1 = register_module("conv1", conv1x1(o.in_planes(), width));
  bn2 = make_norm2d(o.norm(), width);
  register_module("bn2", bn2.ptr());
  conv2 = register_module("conv2", conv3x3(width, width, o.stride(), o.groups(), o.dilation()));
  bn3 = make_norm2d(o.norm(), width);
  register_module("bn3", bn3.ptr());
  conv3 = register_module("conv3", conv1x1(width, out));
  downsample = make_shortcut(o, out, true);
  register_optional(*this, "downsample", downsample);
  init_he_fan_out(*this);
}

torch::Tensor PreActBottleneckImpl::forward(torch::Tensor x) {
  auto pre = norm_relu(bn1, x);
  auto identity = downsample.is_empty() ? x : downsample.forward(pre);
  auto out = conv1->forward(pre);
  out = conv2->forward(norm_relu(bn2, out));
  out = conv3->forward(norm_relu(bn3, out));
  return out += identity;
}

torch::jit::Module PreActBottleneckImpl::script_twin() const {
  auto twin = twin_skeleton(*this, "PreActBottleneck");
  twin.define(
      "def forward(self, x):\n"
      "    pre = torch.relu(self.bn1.forward(x))\n" +
      shortcut_line(downsample, downsample.is_empty() ? "x" : "pre") +
      "    out = self.conv1.forward(pre)\n"
      "    out = self.conv2.forward(torch.relu(self.bn2.forward(out)))\n"
      "    out = self.conv3.forward(torch.relu(self.bn3.forward(out)))\n"
      "    return out + identity\n");
  return twin;
}

std::string PreActBottleneckImpl::onnx_twin(OnnxGraph& g, const std::string& x, const std::string& prefix) const {
  const auto pre = onnx_relu(g, child(g, *bn1.ptr(), x, prefix, "bn1"), prefix);
  const auto identity = onnx_shortcut(g, downsample, downsample.is_empty() ? x : pre, prefix);
  auto out = child(g, *conv1, pre, prefix, "conv1");
  out = child(g, *conv2, onnx_relu(g, child(g, *bn2.ptr(), out, prefix, "bn2"), prefix), prefix, "conv2");
  out = child(g, *conv3, onnx_relu(g, child(g, *bn3.ptr(), out, prefix, "bn3"), prefix), prefix, "conv3");
  return onnx_add(g, out, identity, prefix);
}

void PreActBottleneckImpl::zero_init_residual() { zero_weight(conv3); }

// ---- PreActUnit -------------------------------------------------------------------------

PreActUnitImpl::PreActUnitImpl(const PreActUnitOptions& options_) : options(options_) { reset(); }

void PreActUnitImpl::reset() {
  bn1 = make_norm2d(options.norm(), options.channels());
  register_module("bn1", bn1.ptr());
  conv1 = register_module("conv1", conv3x3(options.channels(), options.channels()));
  init_he_fan_out(*this);
}

torch::Tensor PreActUnitImpl::forward(torch::Tensor x) {
  return x + conv1->forward(norm_relu(bn1, x));
}

torch::jit::Module PreActUnitImpl::script_twin() const {
  auto twin = twin_skeleton(*this, "PreActUnit");
  twin.define("def forward(self, x):\n    return x + self.conv1.forward(torch.relu(self.bn1.forward(x)))\n");
  return twin;
}

std::string PreActUnitImpl::onnx_twin(OnnxGraph& g, const std::string& x, const std::string& prefix) const {
  const auto pre = onnx_relu(g, child(g, *bn1.ptr(), x, prefix, "bn1"), prefix);
  return onnx_add(g, x, child(g, *conv1, pre, prefix, "conv1"), prefix);
}

void PreActUnitImpl::zero_init_residual() { zero_weight(conv1); }


// ---- pretty_print ---------------------------------------------------------------------------

namespace {

void print_block(std::ostream& stream, const char* name, const BlockOptions& o) {
  stream << "skipzoo::models::" << name << "(in_planes=" << o.in_planes() << ", planes=" << o.planes()
         << ", stride=" << o.stride();
  if (o.groups() != 1) stream << ", groups=" << o.groups();
  if (o.base_width() != 64) stream << ", base_width=" << o.base_width();
  if (o.dilation() != 1) stream << ", dilation=" << o.dilation();
  stream << ", norm=" << norm_name(o.norm()) << ", shortcut=" << shortcut_name(o.shortcut()) << ")";
}

}  // namespace

void PadShortcutImpl::pretty_print(std::ostream& stream) const {
  stream << "skipzoo::models::PadShortcut(in_channels=" << options.in_channels()
         << ", out_channels=" << options.out_channels() << ", stride=" << options.stride() << ")";
}
void BasicBlockImpl::pretty_print(std::ostream& stream) const { print_block(stream, "BasicBlock", options); }
void BottleneckImpl::pretty_print(std::ostream& stream) const { print_block(stream, "Bottleneck", options); }
void PreActBasicBlockImpl::pretty_print(std::ostream& stream) const {
  print_block(stream, "PreActBasicBlock", options);
}
void PreActBottleneckImpl::pretty_print(std::ostream& stream) const {
  print_block(stream, "PreActBottleneck", options);
}
void PreActUnitImpl::pretty_print(std::ostream& stream) const {
  stream << "skipzoo::models::PreActUnit(channels=" << options.channels() << ", norm=" << norm_name(options.norm())
         << ")";
}

}  // namespace skipzoo::models
