#pragma once
// Sliding-window inference over whole images of any size, nnU-Net style: overlapping tiles,
// each tile's logits weighted by a Gaussian importance map, summed, divided by the summed weights.
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace skipzoo::data {

struct TileOptions {
  int64_t tile = 256;        // square tiles
  double overlap = 0.5;      // step = tile * (1 - overlap)
  bool gaussian = true;      // false: every pixel of a tile weighs 1
  double sigma_scale = 0.125;  // Gaussian sigma = tile * sigma_scale (nnU-Net: 1/8)
  bool flip_tta = false;     // average the 4 flip combinations (none, H, V, both)
  int64_t batch = 4;         // tiles per call of the model
  double pad_value = 0.0;    // images smaller than a tile are padded with this, then cropped back
};

// Tile origins along one axis: n = ceil((size - tile) / step) + 1 tiles spread evenly so the
// first starts at 0 and the last ends at size (a single 0 if size <= tile).
std::vector<int64_t> tile_starts(int64_t size, int64_t tile, double overlap);

// [tile, tile] float weights: exp(-d^2 / 2 sigma^2) around the tile's centre, scaled to max 1,
// zeros (underflow) replaced by the smallest non-zero weight.
torch::Tensor gaussian_importance(int64_t tile, double sigma_scale = 0.125);

// image: [C, H, W]; logits_fn maps tiles [n, C, tile, tile] to logits [n, K, tile, tile].
// Returns the blended logits [K, H, W] (float32). Runs without autograd.
torch::Tensor sliding_window(const torch::Tensor& image,
                             const std::function<torch::Tensor(const torch::Tensor& tiles)>& logits_fn,
                             const TileOptions& options = {});

}  // namespace skipzoo::data
