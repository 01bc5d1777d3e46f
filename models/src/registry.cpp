#include <skipzoo/models/blocks.h>
#include <skipzoo/models/layers.h>
#include <skipzoo/models/mlp.h>
#include <skipzoo/models/registry.h>
#include <skipzoo/models/resnet.h>
#include <skipzoo/models/unet.h>
#include <skipzoo/models/unet_resnet.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <stdexcept>

#include "options_json.h"

namespace skipzoo::models {

namespace {

using detail::OptionReader;

int64_t resolve(int64_t& value, int64_t fallback, const std::string& model, const char* what) {
  if (value < 0) value = fallback;
  if (value < 1) throw std::invalid_argument("model '" + model + "': " + what + " must be >= 1");
  return value;
}

void no_classes(const ModelConfig& c) {
  if (c.classes >= 0) throw std::invalid_argument("model '" + c.name + "' is a block: it takes no --classes");
}

// ---- ResNets ----------------------------------------------------------------------------

ModelEntry resnet_entry(const std::string& name) {
  const ResNetOptions base = resnet_options(name);
  const bool cifar = base.stem() == Stem::Cifar;
  std::string description = (base.preact() ? "pre-activation " : "") + std::string(cifar ? "CIFAR-style " : "") +
                            (base.block() == BlockType::Basic ? "basic" : "bottleneck") + " ResNet";
  if (!cifar) description += " (torchvision weights and keys)";
  return {name, "classification", description, true, [name, base, cifar](ModelConfig& c) {
            auto o = base;
            o.num_classes(resolve(c.classes, base.num_classes(), name, "classes"));
            o.in_channels(resolve(c.in_channels, base.in_channels(), name, "in_channels"));
            OptionReader r(name, c.options);
            o.zero_init_residual(r.get("zero_init_residual", base.zero_init_residual()));
            o.norm(parse_norm(r.get<std::string>("norm", norm_name(base.norm()))));
            if (!base.preact()) o.shortcut(parse_shortcut(r.get<std::string>("shortcut", shortcut_name(base.shortcut()))));
            if (!cifar) {
              o.replace_stride_with_dilation(
                  r.get("replace_stride_with_dilation", std::vector<bool>(base.layers().size() - 1, false)));
            }
            c.options = r.finish();
            return torch::nn::AnyModule(ResNet(o));
          }};
}

// ---- U-Nets -----------------------------------------------------------------------------

ModelEntry unet_entry() {
  return {"unet", "segmentation", "U-Net, any input size (pads to 2^depth, crops back)", true, [](ModelConfig& c) {
            UNetOptions o;  // its defaults are the registry's
            o.classes(resolve(c.classes, o.classes(), c.name, "classes"));
            o.in_channels(resolve(c.in_channels, o.in_channels(), c.name, "in_channels"));
            OptionReader r(c.name, c.options);
            o.depth(r.get<int64_t>("depth", o.depth()));
            o.base_width(r.get<int64_t>("base_width", o.base_width()));
            o.upsampling(parse_upsampling(r.get<std::string>("upsampling", upsampling_name(o.upsampling()))));
            o.norm(parse_norm(r.get<std::string>("norm", norm_name(o.norm()))));
            c.options = r.finish();
            return torch::nn::AnyModule(UNet(o));
          }};
}

ModelEntry unet_resnet_entry(const std::string& encoder) {
  const std::string name = "unet_" + encoder;
  return {name, "segmentation", "U-Net with a torchvision " + encoder + " encoder", true, [encoder](ModelConfig& c) {
            UNetResNetOptions o;
            o.encoder(encoder);
            o.classes(resolve(c.classes, o.classes(), c.name, "classes"));
            o.in_channels(resolve(c.in_channels, o.in_channels(), c.name, "in_channels"));
            OptionReader r(c.name, c.options);
            o.decoder_widths(r.get("decoder_widths", o.decoder_widths()));
            o.norm(parse_norm(r.get<std::string>("norm", norm_name(o.norm()))));
            c.options = r.finish();
            return torch::nn::AnyModule(UNetResNet(o));
          }};
}

// ---- MLP --------------------------------------------------------------------------------

ModelEntry mlp_entry() {
  return {"mlp", "regression", "fully connected ReLU network, optional norm before each ReLU", false,
          [](ModelConfig& c) {
            MLPOptions o;
            o.out_features(resolve(c.classes, o.out_features(), c.name, "classes (outputs)"));
            o.in_features(resolve(c.in_channels, o.in_features(), c.name, "in_channels (inputs)"));
            OptionReader r(c.name, c.options);
            o.width(r.get<int64_t>("width", o.width()));
            o.depth(r.get<int64_t>("depth", o.depth()));
            // "batchnorm": true is shorthand for "norm": "batch".
            const bool bn = r.get("batchnorm", o.norm() == Norm::Batch);
            o.norm(parse_norm(r.get<std::string>("norm", bn ? "batch" : norm_name(o.norm()))));
            r.set_resolved("batchnorm", o.norm() != Norm::None);
            c.options = r.finish();
            return torch::nn::AnyModule(MLP(o));
          }};
}

// ---- blocks (for analyses: parameter counts, variance, paths) ---------------------------

template <typename Block>
ModelEntry block_entry(const std::string& name, const std::string& description, int64_t in, int64_t planes) {
  return {name, "features", description, true, [in, planes](ModelConfig& c) {
            no_classes(c);
            OptionReader r(c.name, c.options);
            const BlockOptions d(in, planes);  // the defaults
            auto o = BlockOptions(resolve(c.in_channels, in, c.name, "in_channels"), r.get<int64_t>("planes", planes))
                         .stride(r.get<int64_t>("stride", d.stride()))
                         .groups(r.get<int64_t>("groups", d.groups()))
                         .base_width(r.get<int64_t>("base_width", d.base_width()))
                         .dilation(r.get<int64_t>("dilation", d.dilation()))
                         .norm(parse_norm(r.get<std::string>("norm", norm_name(d.norm()))))
                         .shortcut(parse_shortcut(r.get<std::string>("shortcut", shortcut_name(d.shortcut()))));
            c.options = r.finish();
            return torch::nn::AnyModule(Block(o));
          }};
}

ModelEntry preact_unit_entry() {
  return {"preact_unit", "features", "x + conv3x3(ReLU(BN(x))): the chapter's simplest residual block", true,
          [](ModelConfig& c) {
            no_classes(c);
            OptionReader r(c.name, c.options);
            const auto norm = parse_norm(r.get<std::string>("norm", "batch"));
            c.options = r.finish();
            return torch::nn::AnyModule(PreActUnit(resolve(c.in_channels, 512, c.name, "in_channels"), norm));
          }};
}

struct Registry {
  std::mutex mutex;
  std::map<std::string, ModelEntry> entries;

  Registry() {
    for (const auto& name : resnet_names()) add(resnet_entry(name));
    add(unet_entry());
    for (const char* encoder : {"resnet18", "resnet34", "resnet50"}) add(unet_resnet_entry(encoder));
    add(mlp_entry());
    add(block_entry<BasicBlock>("basic_block", "torchvision BasicBlock", 64, 64));
    add(block_entry<Bottleneck>("bottleneck", "torchvision Bottleneck (v1.5)", 256, 64));
    add(block_entry<PreActBasicBlock>("preact_basic_block", "pre-activation basic block", 64, 64));
    add(block_entry<PreActBottleneck>("preact_bottleneck", "pre-activation bottleneck", 512, 128));
    add(preact_unit_entry());
  }
  void add(ModelEntry e) { entries[e.name] = std::move(e); }
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

void register_model(ModelEntry entry) {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.add(std::move(entry));
}

const ModelEntry& find_model(const std::string& name) {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.entries.find(name);
  if (it != r.entries.end()) return it->second;
  std::string known;
  for (const auto& kv : r.entries) known += (known.empty() ? "" : ", ") + kv.first;
  throw std::invalid_argument("unknown model '" + name + "' (known: " + known + ")");
}

std::vector<std::string> model_names() {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<std::string> names;
  for (const auto& kv : r.entries) names.push_back(kv.first);
  return names;
}

Model create_model(const ModelConfig& config, c10::optional<uint64_t> seed) {
  const ModelEntry& entry = find_model(config.name);
  Model model;
  model.config = config;
  model.task = entry.task;
  if (seed) torch::manual_seed(*seed);
  model.net = entry.create(model.config);
  return model;
}

int64_t count_parameters(const torch::nn::Module& module, bool trainable_only) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) {
    if (!trainable_only || p.requires_grad()) n += p.numel();
  }
  return n;
}

int64_t input_multiple(const Model& model) {
  const auto& m = model.module();
  if (const auto* unet = dynamic_cast<const UNetImpl*>(&m)) return int64_t{1} << unet->options.depth();
  if (dynamic_cast<const UNetResNetImpl*>(&m)) return 32;
  return 1;
}

}  // namespace skipzoo::models
