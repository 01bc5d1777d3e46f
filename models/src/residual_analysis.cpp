// Residual blocks as the chapter analyses them: how many paths the network unravels into, and
// how the variance of the signal grows from block to block at initialisation.
#include <skipzoo/models/analysis.h>
#include <skipzoo/models/blocks.h>

#include <cmath>
#include <functional>
#include <map>
#include <stdexcept>

namespace skipzoo::models {

namespace {

// A non-negative integer of any size, in base 10^9 limbs (least significant first): just
// enough arithmetic for C(K, l+1) = C(K, l) * (K - l) / (l + 1), which divides exactly.
class Decimal {
 public:
  explicit Decimal(uint32_t value) : limbs_{value} {}

  void multiply(uint32_t factor) {
    uint64_t carry = 0;
    for (auto& limb : limbs_) {
      const uint64_t v = uint64_t{limb} * factor + carry;
      limb = static_cast<uint32_t>(v % kBase);
      carry = v / kBase;
    }
    for (; carry > 0; carry /= kBase) limbs_.push_back(static_cast<uint32_t>(carry % kBase));
  }

  void divide_exactly(uint32_t divisor) {
    uint64_t remainder = 0;
    for (auto it = limbs_.rbegin(); it != limbs_.rend(); ++it) {
      const uint64_t v = remainder * kBase + *it;
      *it = static_cast<uint32_t>(v / divisor);
      remainder = v % divisor;
    }
    TORCH_INTERNAL_ASSERT(remainder == 0, "Decimal: inexact division");
    while (limbs_.size() > 1 && limbs_.back() == 0) limbs_.pop_back();
  }

  std::string str() const {
    std::string s = std::to_string(limbs_.back());
    for (auto it = limbs_.rbegin() + 1; it != limbs_.rend(); ++it) {
      const std::string part = std::to_string(*it);
      s += std::string(9 - part.size(), '0') + part;
    }
    return s;
  }

 private:
  static constexpr uint64_t kBase = 1'000'000'000;
  std::vector<uint32_t> limbs_;
};

// Takes the place of a residual block inside a Sequential and reports what goes through it.
using BlockRecorder = std::function<void(const torch::nn::Module& block, const torch::Tensor& x,
                                         double input_variance, const torch::Tensor& y)>;

double variance(const torch::Tensor& t) { return t.to(torch::kDouble).var(/*unbiased=*/false).item<double>(); }

class ProbeImpl : public torch::nn::Module {
 public:
  ProbeImpl(torch::nn::AnyModule block, const BlockRecorder* record) : block_(std::move(block)), record_(record) {}
  torch::Tensor forward(torch::Tensor x) {
    const double input_variance = variance(x);  // before the block runs: it may reuse memory
    auto y = block_.forward(x);
    (*record_)(*block_.ptr(), x, input_variance, y);
    return y;
  }

 private:
  torch::nn::AnyModule block_;
  const BlockRecorder* record_;
};

// Swaps a probe in for every residual block held by a Sequential, and back on exit.
class ProbeSwap {
 public:
  ProbeSwap(torch::nn::Module& root, const BlockRecorder& record) {
    for (auto& module : root.modules(/*include_self=*/true)) {
      auto* seq = dynamic_cast<torch::nn::SequentialImpl*>(module.get());
      if (seq == nullptr) continue;
      for (auto& slot : *seq) {
        if (dynamic_cast<ResidualBlock*>(slot.ptr().get()) == nullptr) continue;
        swapped_.emplace_back(&slot, slot);
        slot = torch::nn::AnyModule(std::make_shared<ProbeImpl>(slot, &record));
      }
    }
  }
  ~ProbeSwap() {
    for (auto& [slot, original] : swapped_) *slot = original;
  }
  ProbeSwap(const ProbeSwap&) = delete;
  ProbeSwap& operator=(const ProbeSwap&) = delete;
  size_t size() const { return swapped_.size(); }

 private:
  std::vector<std::pair<torch::nn::AnyModule*, torch::nn::AnyModule>> swapped_;
};

}  // namespace

int64_t count_residual_blocks(const torch::nn::Module& module) {
  int64_t k = dynamic_cast<const ResidualBlock*>(&module) != nullptr ? 1 : 0;
  for (const auto& child : module.children()) k += count_residual_blocks(*child);
  return k;
}

PathDistribution residual_paths(int64_t blocks) {
  constexpr int64_t kMaxBlocks = 10'000;  // C(10000, 5000) has 3,009 digits: still instant
  if (blocks < 0 || blocks > kMaxBlocks) {
    throw std::invalid_argument("residual_paths: the number of blocks must be in [0, " + std::to_string(kMaxBlocks) +
                                "], got " + std::to_string(blocks));
  }
  PathDistribution d;
  d.blocks = blocks;
  Decimal binomial(1), total(1);
  const double log_total = static_cast<double>(blocks) * std::log(2.0);
  for (int64_t l = 0; l <= blocks; ++l) {
    d.paths.push_back(binomial.str());
    const double log_binomial = std::lgamma(blocks + 1.0) - std::lgamma(l + 1.0) - std::lgamma(blocks - l + 1.0);
    d.share.push_back(std::exp(log_binomial - log_total));
    d.mean_length += static_cast<double>(l) * d.share.back();
    binomial.multiply(static_cast<uint32_t>(blocks - l));
    binomial.divide_exactly(static_cast<uint32_t>(l + 1));
    if (l < blocks) total.multiply(2);
  }
  d.total = total.str();
  return d;
}

std::vector<BlockVariance> block_variances(torch::nn::AnyModule& net, const torch::Tensor& input) {
  torch::nn::Module& root = *net.ptr();
  std::vector<BlockVariance> rows;
  std::map<const torch::nn::Module*, std::string> names;
  for (const auto& item : root.named_modules()) names[item.value().get()] = item.key().empty() ? "(root)" : item.key();
  const BlockRecorder record = [&](const torch::nn::Module& block, const torch::Tensor& x, double input_variance,
                                   const torch::Tensor& y) {
    rows.push_back({names[&block], short_type_name(block), x.sizes().vec(), y.sizes().vec(), input_variance,
                    variance(y)});
  };

  ScopedMode training(root, /*training=*/true, /*restore_buffers=*/true);
  torch::NoGradGuard no_grad;
  if (dynamic_cast<ResidualBlock*>(&root) != nullptr) {
    const double input_variance = variance(input);
    record(root, input, input_variance, net.forward(input));
    return rows;
  }
  ProbeSwap probes(root, record);
  if (probes.size() == 0) {
    throw std::invalid_argument("the model has no residual blocks (in Sequential containers) to measure");
  }
  net.forward(input);
  return rows;
}

}  // namespace skipzoo::models
