// The per-layer table of `skipzoo info`: an at::RecordFunction observer watches one forward
// pass and attributes each op to the module whose parameter or buffer it reads.
#include <ATen/record_function.h>
#include <skipzoo/models/analysis.h>
#include <skipzoo/models/resnet.h>

#include <cstring>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace skipzoo::models {

namespace {

struct Observation {
  std::vector<LayerInfo>* layers = nullptr;
  std::unordered_map<const void*, size_t> owner;     // data_ptr of a parameter/buffer -> layer
  std::unordered_set<const void*> seen_storages;     // counted, or not activations at all
  std::vector<c10::Storage> activations;             // kept alive so addresses stay unique
  int depth = 0;          // ops in progress: only depth-1 ops come from the model's own code
  bool in_layer = false;  // an attributed op is in progress: its inner ops are its own
};

// One observation per thread at most; the callbacks are plain function pointers.
thread_local Observation* current = nullptr;

struct OpContext : at::ObserverContext {
  bool top = false;
  int64_t layer = -1;
  int64_t macs_per_output = 0;  // convolution, linear: C_in/groups * kernel, or in_features
  int64_t macs = 0;             // transposed convolution: known from the input
};

bool is_one_of(const char* name, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (std::strcmp(name, n) == 0) return true;
  }
  return false;
}

// MACs of the ops that LibTorch's conv and linear layers call (arguments as in ATen's schemas;
// LibTorch's Linear calls addmm or matmul on weight.t() rather than aten::linear).
void count_macs(const char* name, c10::ArrayRef<const c10::IValue> in, OpContext& ctx) {
  if (in.size() < 2 || !in[0].isTensor() || !in[1].isTensor()) return;
  const auto& a = in[0].toTensor();
  const auto& b = in[1].toTensor();
  if (std::strcmp(name, "aten::addmm") == 0 && in.size() > 2 && in[2].isTensor()) {
    const auto& m2 = in[2].toTensor();  // self + mat1 @ mat2: b is mat1
    if (b.dim() == 2 && m2.dim() == 2) ctx.macs = b.size(0) * b.size(1) * m2.size(1);
    return;
  }
  if (b.dim() < 2) return;
  if (std::strcmp(name, "aten::mm") == 0 || std::strcmp(name, "aten::matmul") == 0) {
    ctx.macs_per_output = a.size(-1);
    return;
  }
  if (std::strcmp(name, "aten::linear") == 0) {
    ctx.macs_per_output = b.size(1);
    return;
  }
  const int64_t per_output_channel = b.numel() / b.size(0);  // b is the conv weight
  const bool convolution = is_one_of(name, {"aten::convolution", "aten::_convolution"});
  const bool transposed = is_one_of(name, {"aten::conv_transpose1d", "aten::conv_transpose2d",
                                           "aten::conv_transpose3d"}) ||
                          (convolution && in.size() > 6 && in[6].isBool() && in[6].toBool());
  if (transposed) {
    ctx.macs = a.numel() * per_output_channel;  // each input value meets C_out/groups * kernel weights
  } else if (convolution || is_one_of(name, {"aten::conv1d", "aten::conv2d", "aten::conv3d"})) {
    ctx.macs_per_output = per_output_channel;
  }
}

std::unique_ptr<at::ObserverContext> on_op_start(const at::RecordFunction& fn) {
  Observation* obs = current;
  if (obs == nullptr) return nullptr;
  auto ctx = std::make_unique<OpContext>();
  ctx->top = ++obs->depth == 1;
  if (obs->in_layer) return ctx;
  const auto inputs = fn.inputs();
  for (const auto& v : inputs) {
    if (!v.isTensor()) continue;
    const auto& t = v.toTensor();
    if (!t.defined() || t.data_ptr() == nullptr) continue;
    auto it = obs->owner.find(t.data_ptr());
    if (it == obs->owner.end()) continue;
    ctx->layer = static_cast<int64_t>(it->second);
    obs->in_layer = true;
    count_macs(fn.name(), inputs, *ctx);
    break;
  }
  return ctx;
}

void on_op_end(const at::RecordFunction& fn, at::ObserverContext* raw) {
  Observation* obs = current;
  auto* ctx = static_cast<OpContext*>(raw);
  if (obs == nullptr || ctx == nullptr) return;
  --obs->depth;
  const auto& outputs = fn.outputs();
  if (ctx->layer >= 0) {
    obs->in_layer = false;
    auto& layer = (*obs->layers)[static_cast<size_t>(ctx->layer)];
    layer.macs += ctx->macs;
    if (!outputs.empty() && outputs[0].isTensor()) {
      const auto& y = outputs[0].toTensor();
      layer.output_shape = y.sizes().vec();
      layer.macs += ctx->macs_per_output * y.numel();
    }
  }
  if (!ctx->top) return;
  for (const auto& v : outputs) {
    if (!v.isTensor() || !v.toTensor().defined() || !v.toTensor().has_storage()) continue;
    const auto& storage = v.toTensor().storage();
    if (obs->seen_storages.insert(storage.unsafeGetStorageImpl()).second) obs->activations.push_back(storage);
  }
}

// Installs the observer for the current thread for one scope.
class ObserverScope {
 public:
  explicit ObserverScope(Observation& obs) {
    TORCH_CHECK(current == nullptr, "summarize: already observing a forward pass on this thread");
    current = &obs;
    handle_ = at::addThreadLocalCallback(at::RecordFunctionCallback(on_op_start, on_op_end)
                                             .needsInputs(true)
                                             .needsOutputs(true)
                                             .scopes({at::RecordScope::FUNCTION}));
  }
  ~ObserverScope() {
    at::removeCallback(handle_);
    current = nullptr;
  }
  ObserverScope(const ObserverScope&) = delete;
  ObserverScope& operator=(const ObserverScope&) = delete;

 private:
  at::CallbackHandle handle_;
};

}  // namespace

std::string shape_text(const std::vector<int64_t>& shape) {
  if (shape.empty()) return "-";
  std::string s;
  for (auto d : shape) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

std::string short_type_name(const torch::nn::Module& module) {
  std::string name = module.name();
  name = name.substr(0, name.find('<'));  // template arguments
  const auto colon = name.rfind("::");
  if (colon != std::string::npos) name = name.substr(colon + 2);
  const std::string suffix = "Impl";
  if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    name.resize(name.size() - suffix.size());
  }
  return name;
}

ModelSummary summarize(torch::nn::AnyModule& net, const std::vector<int64_t>& input_shape) {
  torch::nn::Module& root = *net.ptr();
  ModelSummary summary;
  summary.input_shape = input_shape;
  Observation obs;
  obs.layers = &summary.layers;

  for (const auto& item : root.named_modules()) {
    const auto& m = *item.value();
    const auto params = m.named_parameters(/*recurse=*/false);
    const auto buffers = m.named_buffers(/*recurse=*/false);
    if (params.is_empty() && buffers.is_empty()) continue;
    LayerInfo layer;
    layer.name = item.key().empty() ? "(root)" : item.key();
    layer.type = short_type_name(m);
    const size_t index = summary.layers.size();
    for (const auto& p : params) {
      layer.params += p.value().numel();
      if (p.value().requires_grad()) layer.trainable_params += p.value().numel();
      summary.param_bytes += static_cast<int64_t>(p.value().nbytes());
    }
    for (const auto& b : buffers) {
      layer.buffer_values += b.value().numel();
      summary.buffer_bytes += static_cast<int64_t>(b.value().nbytes());
    }
    for (const auto* list : {&params, &buffers}) {
      for (const auto& t : *list) {
        if (t.value().data_ptr() != nullptr) obs.owner.emplace(t.value().data_ptr(), index);
        if (t.value().has_storage()) obs.seen_storages.insert(t.value().storage().unsafeGetStorageImpl());
      }
    }
    summary.params += layer.params;
    summary.trainable_params += layer.trainable_params;
    summary.buffer_values += layer.buffer_values;
    summary.layers.push_back(std::move(layer));
  }

  ScopedMode eval(root, /*training=*/false, /*restore_buffers=*/false);
  torch::NoGradGuard no_grad;
  const auto params = root.parameters();
  const auto input = torch::zeros(input_shape, params.empty() ? torch::kFloat : params.front().scalar_type());
  obs.seen_storages.insert(input.storage().unsafeGetStorageImpl());
  torch::Tensor output;
  try {
    ObserverScope scope(obs);
    output = net.forward(input);
  } catch (const c10::Error& e) {
    throw std::invalid_argument("the model cannot run on an input of shape " + shape_text(input_shape) + ": " +
                                e.what_without_backtrace());
  }
  summary.output_shape = output.sizes().vec();
  for (const auto& layer : summary.layers) summary.macs += layer.macs;
  for (const auto& s : obs.activations) summary.activation_bytes += static_cast<int64_t>(s.nbytes());
  return summary;
}

std::vector<int64_t> default_input_shape(const Model& model) {
  const int64_t c = model.config.in_channels;
  if (!find_model(model.config.name).image_input) return {c};
  const auto* resnet = dynamic_cast<const ResNetImpl*>(model.ptr().get());
  const bool small = model.task == "features" || (resnet != nullptr && resnet->options.stem() == Stem::Cifar);
  const int64_t size = small ? 32 : 224;
  return {c, size, size};
}

}  // namespace skipzoo::models
