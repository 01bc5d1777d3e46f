#include <skipzoo/models/layers.h>
#include <skipzoo/models/unet_resnet.h>

#include <algorithm>

namespace skipzoo::models {

namespace {
constexpr int64_t kMultiple = 32;  // the encoder's total stride
}

UNetResNetImpl::UNetResNetImpl(const UNetResNetOptions& options_) : options(options_) { reset(); }

void UNetResNetImpl::reset() {
  const auto& o = options;
  TORCH_CHECK(o.encoder() == "resnet18" || o.encoder() == "resnet34" || o.encoder() == "resnet50",
              "UNetResNet: encoder must be resnet18, resnet34 or resnet50, got '", o.encoder(), "'");
  TORCH_CHECK(o.decoder_widths().size() == 5, "UNetResNet: decoder_widths needs 5 entries");
  encoder = register_module(
      "encoder", ResNet(resnet_options(o.encoder()).num_classes(0).in_channels(o.in_channels()).norm(o.norm())));

  // Skips from the deepest-but-one stage up to the stem: strides 16, 8, 4, 2; none at stride 1.
  std::vector<int64_t> skips = encoder->stage_channels();
  skips.pop_back();
  std::reverse(skips.begin(), skips.end());
  skips.push_back(encoder->stem_channels());
  skips.push_back(0);

  decoder = register_module("decoder", torch::nn::ModuleList());
  int64_t in = encoder->stage_channels().back();
  for (size_t i = 0; i < 5; ++i) {
    decoder->push_back(UpBlock(in, skips[i], o.decoder_widths()[i], Upsampling::Bilinear, o.norm()));
    in = o.decoder_widths()[i];
  }
  head = register_module("head", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, o.classes(), 1)));
}

torch::Tensor UNetResNetImpl::forward(torch::Tensor x) {
  const int64_t h = x.size(2), w = x.size(3);
  auto f = encoder->features(pad_to_multiple(x, kMultiple));  // stem, layer1..layer4
  x = f[4];
  for (size_t i = 0; i < 5; ++i) {
    auto skip = i < 3 ? f[3 - i] : (i == 3 ? f[0] : torch::Tensor());
    x = decoder[i]->as<UpBlock>()->forward(x, skip);
  }
  return head->forward(x).slice(2, 0, h).slice(3, 0, w);
}

torch::jit::Module UNetResNetImpl::script_twin() const {
  auto twin = twin_skeleton(*this, "UNetResNet");
  std::string src = "def forward(self, x):\n" + script_pad_to_multiple(kMultiple) +
                    "    f = self.encoder.features(x)\n"
                    "    x = f[4]\n"
                    "    x = getattr(self.decoder, '0').forward(x, f[3])\n"
                    "    x = getattr(self.decoder, '1').forward(x, f[2])\n"
                    "    x = getattr(self.decoder, '2').forward(x, f[1])\n"
                    "    x = getattr(self.decoder, '3').forward(x, f[0])\n"
                    "    x = getattr(self.decoder, '4').forward(x)\n"
                    "    x = self.head.forward(x)\n";
  twin.define(src + script_crop_return("x"));
  return twin;
}

std::string UNetResNetImpl::onnx_twin(OnnxGraph& g, const std::string& input, const std::string& prefix) const {
  const auto padded = onnx_pad_to_multiple(g, input, kMultiple, prefix, "UNetResNet");
  const auto f = encoder->onnx_features(g, padded.tensor, prefix + "encoder.");  // stem, layer1..layer4
  std::string x = f[4];
  for (size_t i = 0; i < 5; ++i) {
    const std::string skip = i < 3 ? f[3 - i] : (i == 3 ? f[0] : "");
    x = decoder->ptr(i)->as<UpBlockImpl>()->onnx_up(g, x, skip, prefix + "decoder." + std::to_string(i) + ".");
  }
  return onnx_crop(g, to_onnx(g, *head, x, prefix + "head."), padded, prefix);
}


void UNetResNetImpl::pretty_print(std::ostream& stream) const {
  stream << "skipzoo::models::UNetResNet(encoder=" << options.encoder() << ", in_channels=" << options.in_channels()
         << ", classes=" << options.classes() << ", norm=" << norm_name(options.norm()) << ")";
}

}  // namespace skipzoo::models
