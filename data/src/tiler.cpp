// Sliding-window blending of tile logits.
#include "skipzoo/data/tiler.h"

#include <cmath>
#include <stdexcept>

namespace skipzoo::data {

std::vector<int64_t> tile_starts(int64_t size, int64_t tile, double overlap) {
  if (tile < 1) throw std::invalid_argument("tile size must be >= 1");
  if (!(overlap >= 0 && overlap < 1)) throw std::invalid_argument("tile overlap must be in [0, 1)");
  if (size <= tile) return {0};
  const double step = std::max(1.0, static_cast<double>(tile) * (1.0 - overlap));
  const auto n = static_cast<int64_t>(std::ceil(static_cast<double>(size - tile) / step)) + 1;
  const double actual = static_cast<double>(size - tile) / static_cast<double>(n - 1);
  std::vector<int64_t> starts;
  for (int64_t i = 0; i < n; ++i) starts.push_back(static_cast<int64_t>(std::llround(actual * static_cast<double>(i))));
  return starts;
}

namespace {
// exp(-d^2 / 2 sigma^2) around (side - 1) / 2, double; the centre keeps the map symmetric, so
// flips leave it unchanged.
torch::Tensor gaussian_axis(int64_t side, double sigma_scale) {
  const double sigma = std::max(1e-6, static_cast<double>(side) * sigma_scale);
  auto d = torch::arange(side, torch::kDouble) - (static_cast<double>(side) - 1.0) / 2.0;
  return torch::exp(-d.square() / (2 * sigma * sigma));
}

torch::Tensor run_model(const torch::Tensor& tiles, const std::function<torch::Tensor(const torch::Tensor&)>& fn,
                        bool flip_tta) {
  auto check = [&](const torch::Tensor& y) {
    if (y.dim() != 4 || y.size(0) != tiles.size(0) || y.size(2) != tiles.size(2) || y.size(3) != tiles.size(3))
      throw std::invalid_argument("sliding_window: the model must map [n, C, h, w] tiles to [n, K, h, w] logits");
    return y.to(torch::kFloat);
  };
  auto sum = check(fn(tiles));
  if (!flip_tta) return sum;
  for (const std::vector<int64_t>& dims : {std::vector<int64_t>{3}, {2}, {2, 3}})
    sum += check(fn(tiles.flip(dims))).flip(dims);  // undo the flip on the logits
  return sum / 4.0;
}
}  // namespace

torch::Tensor gaussian_importance(int64_t tile, double sigma_scale) { return gaussian_importance(tile, tile, sigma_scale); }

torch::Tensor gaussian_importance(int64_t height, int64_t width, double sigma_scale) {
  auto map = torch::outer(gaussian_axis(height, sigma_scale), gaussian_axis(width, sigma_scale));
  map = (map / map.max()).to(torch::kFloat);
  const auto positive = map.gt(0);
  if (!positive.all().item<bool>()) map = torch::where(positive, map, map.masked_select(positive).min());
  return map;
}

std::pair<int64_t, int64_t> tile_shape(int64_t h, int64_t w, const TileOptions& options) {
  const int64_t t = options.tile, m = options.multiple;
  if (t < 1) throw std::invalid_argument("tile size must be >= 1");
  if (m < 0) throw std::invalid_argument("tile multiple must be >= 0");
  auto side = [&](int64_t size) { return m == 0 || size >= t ? t : std::min(t, (std::max<int64_t>(size, 1) + m - 1) / m * m); };
  return {side(h), side(w)};
}

torch::Tensor sliding_window(const torch::Tensor& image,
                             const std::function<torch::Tensor(const torch::Tensor&)>& logits_fn,
                             const TileOptions& options) {
  if (image.dim() != 3) throw std::invalid_argument("sliding_window: the image must be [C, H, W]");
  if (options.batch < 1) throw std::invalid_argument("sliding_window: batch must be >= 1");
  torch::NoGradGuard no_grad;  // (callers may add c10::InferenceMode around the call for speed)
  const int64_t h = image.size(1), w = image.size(2);
  const auto [th, tw] = tile_shape(h, w, options);
  // Pad images smaller than a tile, centred, then crop the result back.
  const int64_t ph = std::max<int64_t>(0, th - h), pw = std::max<int64_t>(0, tw - w);
  const int64_t top = ph / 2, left = pw / 2;
  auto padded = (ph || pw) ? torch::constant_pad_nd(image, {left, pw - left, top, ph - top}, options.pad_value) : image;
  const int64_t H = padded.size(1), W = padded.size(2);
  const auto ys = tile_starts(H, th, options.overlap), xs = tile_starts(W, tw, options.overlap);
  const auto weight = options.gaussian ? gaussian_importance(th, tw, options.sigma_scale).to(image.device())
                                       : torch::ones({th, tw}, image.options().dtype(torch::kFloat));

  std::vector<std::pair<int64_t, int64_t>> origins;
  for (int64_t y : ys)
    for (int64_t x : xs) origins.emplace_back(y, x);
  torch::Tensor sum, weights = torch::zeros({H, W}, weight.options());
  for (size_t first = 0; first < origins.size(); first += static_cast<size_t>(options.batch)) {
    const size_t last = std::min(origins.size(), first + static_cast<size_t>(options.batch));
    std::vector<torch::Tensor> tiles;
    for (size_t i = first; i < last; ++i)
      tiles.push_back(padded.slice(1, origins[i].first, origins[i].first + th).slice(2, origins[i].second, origins[i].second + tw));
    const auto logits = run_model(torch::stack(tiles), logits_fn, options.flip_tta);
    if (!sum.defined()) sum = torch::zeros({logits.size(1), H, W}, logits.options());
    for (size_t i = first; i < last; ++i) {
      const auto [y, x] = origins[i];
      sum.slice(1, y, y + th).slice(2, x, x + tw).add_(logits[static_cast<int64_t>(i - first)] * weight);
      weights.slice(0, y, y + th).slice(1, x, x + tw).add_(weight);
    }
  }
  auto out = sum / weights;
  return out.slice(1, top, top + h).slice(2, left, left + w).contiguous();
}

}  // namespace skipzoo::data
