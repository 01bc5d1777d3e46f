#pragma once
// The export parity cases, shared by the C++ tests (tests/cpp/test_export.cpp) and the Python
// ones (through `skipzoo_xcheck export-case`): every registered model with >= 3 inputs, plus
// option variants that reach other twin code paths.
#include <skipzoo/models.h>

#include <ostream>
#include <string>
#include <vector>

namespace skipzoo::testing {

struct ExportCase {
  std::string id;  // the model name, or name/variant
  models::ModelConfig config;
  std::vector<std::vector<int64_t>> inputs;  // full input shapes
};

// Non-trivial BatchNorm statistics and affine parameters (as tests/python/conftest.py does),
// so that eval-mode parity means something. Works on any norm layer with these names.
inline void randomize_norm_stats(torch::nn::Module& root, uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  for (const auto& m : root.modules()) {
    auto buffers = m->named_buffers(/*recurse=*/false);
    auto params = m->named_parameters(/*recurse=*/false);
    auto* mean = buffers.find("running_mean");
    auto* var = buffers.find("running_var");
    if (mean == nullptr || var == nullptr) continue;
    mean->copy_(torch::randn(mean->sizes()) * 0.1);
    var->copy_(torch::rand(var->sizes()) * 0.5 + 0.75);
    if (auto* w = params.find("weight")) w->copy_(torch::rand(w->sizes()) * 0.5 + 0.75);
    if (auto* b = params.find("bias")) b->copy_(torch::randn(b->sizes()) * 0.1);
  }
}

// gtest names a failing case by its id.
inline void PrintTo(const ExportCase& c, std::ostream* os) { *os << c.id; }

namespace detail {

inline std::vector<std::vector<int64_t>> images(int64_t batch, int64_t channels,
                                                 const std::vector<std::pair<int64_t, int64_t>>& sizes) {
  std::vector<std::vector<int64_t>> shapes;
  for (const auto& [h, w] : sizes) shapes.push_back({batch, channels, h, w});
  return shapes;
}

// The default case of a registered model: small inputs, and small channel counts for blocks.
inline ExportCase default_case(const std::string& name) {
  const auto& entry = models::find_model(name);
  ExportCase c{name, {name}, {}};
  if (!entry.image_input) {  // the MLP: (N, in_features)
    c.config = {name, 3, 5, R"({"depth": 3, "width": 16})"};
    c.inputs = {{1, 5}, {4, 5}, {7, 5}};
  } else if (entry.task == "segmentation") {  // U-Nets: odd, tiny, and multiple-of-32 sizes
    c.config.in_channels = 3;
    c.inputs = images(1, 3, {{37, 53}, {1, 1}, {5, 3}, {64, 64}});
  } else if (entry.task == "classification") {
    c.config.in_channels = 3;
    c.inputs = images(1, 3, {{32, 32}, {45, 61}, {64, 40}});
  } else if (name == "preact_unit") {
    c.config.in_channels = 8;
    c.inputs = images(2, 8, {{9, 9}, {16, 16}, {7, 12}});
  } else {  // residual blocks: stride 2 gives them a projection shortcut
    c.config = {name, -1, 16, R"({"planes": 8, "stride": 2})"};
    c.inputs = images(2, 16, {{9, 9}, {16, 16}, {7, 12}});
  }
  return c;
}

}  // namespace detail

inline std::vector<ExportCase> export_cases() {
  using detail::images;
  std::vector<ExportCase> cases;
  for (const auto& name : models::model_names()) cases.push_back(detail::default_case(name));
  const auto cls = images(1, 3, {{32, 32}, {45, 61}, {64, 40}});
  cases.push_back({"resnet50/dilated-7-classes",
                   {"resnet50", 7, 3, R"({"replace_stride_with_dilation": [false, true, true]})"}, cls});
  cases.push_back({"resnet18/no-norm-shortcut-A", {"resnet18", 5, 3, R"({"norm": "none", "shortcut": "A"})"}, cls});
  cases.push_back({"resnet20/projection-shortcut", {"resnet20", 4, 1, R"({"shortcut": "B"})"}, images(2, 1, {{32, 32}, {17, 23}, {8, 8}})});
  cases.push_back({"preact_resnet18/one-channel", {"preact_resnet18", 10, 1}, images(2, 1, {{32, 32}, {17, 23}, {8, 8}})});
  cases.push_back({"unet/transpose-depth2-no-norm",
                   {"unet", 3, 2, R"({"depth": 2, "base_width": 8, "upsampling": "transpose", "norm": "none"})"},
                   images(2, 2, {{37, 53}, {1, 1}, {6, 10}})});
  cases.push_back({"unet_resnet18/one-channel", {"unet_resnet18", 4, 1, R"({"decoder_widths": [64, 32, 16, 16, 8]})"}, images(1, 1, {{37, 53}, {1, 1}, {33, 64}})});
  cases.push_back({"mlp/batchnorm", {"mlp", 2, 6, R"({"depth": 4, "width": 12, "norm": "batch"})"}, {{1, 6}, {3, 6}, {9, 6}}});
  cases.push_back({"basic_block/shortcut-A", {"basic_block", -1, 8, R"({"planes": 16, "stride": 2, "shortcut": "A"})"}, images(2, 8, {{9, 9}, {16, 16}, {7, 12}})});
  cases.push_back({"bottleneck/grouped-dilated", {"bottleneck", -1, 32, R"({"planes": 8, "groups": 4, "base_width": 16, "dilation": 2})"}, images(2, 32, {{9, 9}, {16, 16}, {7, 12}})});
  // "manual": ManualBatchNorm (hand-derived backward) with its own twin.
  cases.push_back({"resnet20/manual-norm", {"resnet20", 10, 3, R"({"norm": "manual"})"}, images(2, 3, {{32, 32}, {17, 23}, {8, 8}})});
  cases.push_back({"mlp/manual-norm", {"mlp", 2, 6, R"({"depth": 3, "width": 12, "norm": "manual"})"}, {{1, 6}, {3, 6}, {9, 6}}});
  cases.push_back({"preact_bottleneck/identity", {"preact_bottleneck", -1, 32, R"({"planes": 8})"}, images(2, 32, {{9, 9}, {16, 16}, {7, 12}})});
  return cases;
}

inline const ExportCase& find_export_case(const std::vector<ExportCase>& cases, const std::string& id) {
  for (const auto& c : cases) {
    if (c.id == id) return c;
  }
  throw std::invalid_argument("unknown export case '" + id + "'");
}

}  // namespace skipzoo::testing
