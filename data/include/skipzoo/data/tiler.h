#pragma once
/// @file
/// Sliding-window inference over whole images of any size, nnU-Net style (Isensee et al. 2021,
/// "nnU-Net: a self-configuring method for deep learning-based biomedical image segmentation",
/// Nature Methods 18): overlapping tiles, each tile's logits weighted by a Gaussian importance
/// map, summed, divided by the summed weights.
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace skipzoo::data {

/// Options of sliding_window().
struct TileOptions {
  int64_t tile = 256;        ///< side of the square tiles, pixels (>= 1)
  double overlap = 0.5;      ///< in [0, 1): step = tile * (1 - overlap) (at least 1 pixel)
  bool gaussian = true;      ///< false: every pixel of a tile weighs 1
  double sigma_scale = 0.125;  ///< Gaussian sigma = tile * sigma_scale (nnU-Net: 1/8)
  bool flip_tta = false;     ///< average the 4 flip combinations (none, W, H, both): 4x the model calls
  int64_t batch = 4;         ///< tiles per call of the model (>= 1)
  double pad_value = 0.0;    ///< images smaller than a tile are padded (centred) with this, then cropped back
  /// 0: every tile is tile x tile (what a fixed-shape model, e.g. a static ONNX graph, needs).
  /// m >= 1: along an axis where the image is smaller than the tile, the tile shrinks to the
  /// image's side rounded up to a multiple of m (at most `tile`), so a small image is not padded
  /// to a large tile: a 96 x 700 image with tile 512 and m = 16 runs 96 x 512 tiles (5.3x fewer
  /// pixels). Pass the model's input multiple (models::input_multiple: 2^depth for a U-Net).
  int64_t multiple = 0;
};

/// Tile origins along one axis: n = ceil((size - tile) / step) + 1 tiles spread evenly so the
/// first starts at 0 and the last ends at size (a single 0 if size <= tile). Throws
/// std::invalid_argument for tile < 1 or overlap outside [0, 1).
std::vector<int64_t> tile_starts(int64_t size, int64_t tile, double overlap);

/// [tile, tile] float weights: exp(-d^2 / 2 sigma^2) around the tile's centre, scaled to max 1,
/// zeros (underflow) replaced by the smallest non-zero weight.
torch::Tensor gaussian_importance(int64_t tile, double sigma_scale = 0.125);

/// [height, width] float weights: the outer product of the two axes' Gaussians (sigma = side *
/// sigma_scale on each axis), scaled to max 1, zeros replaced as above; equals
/// gaussian_importance(tile) when height == width == tile.
torch::Tensor gaussian_importance(int64_t height, int64_t width, double sigma_scale);

/// The tile [height, width] sliding_window() runs on an image of h x w pixels (see
/// TileOptions::multiple). Throws std::invalid_argument for tile < 1 or multiple < 0.
std::pair<int64_t, int64_t> tile_shape(int64_t h, int64_t w, const TileOptions& options);

/// image: [C, H, W]; logits_fn maps tiles [n, C, th, tw] to logits [n, K, th, tw], where
/// [th, tw] = tile_shape(H, W, options).
/// Returns the blended logits [K, H, W] (float32). Runs without autograd. Throws
/// std::invalid_argument for an image that is not 3-D, batch < 1, a bad tile or overlap (see
/// tile_starts), or logits of another shape.
torch::Tensor sliding_window(const torch::Tensor& image,
                             const std::function<torch::Tensor(const torch::Tensor& tiles)>& logits_fn,
                             const TileOptions& options = {});

}  // namespace skipzoo::data
