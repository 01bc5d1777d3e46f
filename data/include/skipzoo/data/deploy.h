#pragma once
/// @file
/// The deployment record: what a trained model needs besides its network to be used the way it
/// was trained. It is the application half of an export's skipzoo.json (docs/export.md lists the
/// keys); training writes it once, and predict, eval and every export format read it. Its
/// defaults are defined here and nowhere else.
#include <c10/util/Optional.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "skipzoo/data/classify.h"
#include "skipzoo/data/image.h"
#include "skipzoo/data/mask.h"

namespace skipzoo::data {

/// A size in pixels: square (height == width) or height x width. JSON: `256` or `[height, width]`.
struct Extent {
  int64_t height = 0;  ///< pixels; 0: not set
  int64_t width = 0;   ///< pixels; 0: not set
  /// Whether the size is set (both sides > 0).
  bool set() const { return height > 0 && width > 0; }
  /// The larger side: what a square window (the tiler's tiles) needs to cover this extent.
  int64_t side() const { return std::max(height, width); }
};

/// The sliding-window tile used when a record names none: the patch side, but at least 512 px.
/// A U-Net sees more context in a larger tile, and with fewer, larger tiles less of the image is
/// computed twice: on a 512 x 512 image one 512 tile costs 2.5x less than the 49 overlapping
/// 128 tiles at overlap 0.5 (docs/benchmarks.md). `patch` <= 0 gives 512.
int64_t default_tile(int64_t patch);

/// The application fields of skipzoo.json (docs/export.md).
struct DeployInfo {
  /// One name per class; empty: "class_0", "class_1", ... (see names()).
  std::vector<std::string> class_names;
  /// Input normalisation after pixels are scaled to [0, 1] (see Normalization).
  Normalization normalization;
  /// The training patch (segmentation) or crop (classification); unset: unknown.
  Extent patch;
  /// Segmentation: the sliding-window tile; unset: default_tile(patch) (see tile_side()).
  Extent tile;
  /// Segmentation: the sliding-window overlap, a fraction in [0, 1) (nnU-Net's 0.5).
  double overlap = 0.5;
  /// Segmentation: how raw mask values map to class ids; none: the value is the class id.
  c10::optional<MaskMapping> mask_mapping;
  /// Classification: the evaluation view; none: the whole image (see eval_transform()).
  c10::optional<EvalTransform> eval_view;
  /// The channel policy the model was trained with: "auto", "gray" or "rgb" (`--channels`).
  std::string channels = "auto";
  /// Other fields (e.g. "layout", written by `export --optimize`), a JSON object kept as given.
  std::string extra_json = "{}";

  /// class_names, or "class_0" ... "class_{classes-1}" when there are none.
  std::vector<std::string> names(int64_t classes) const;
  /// The tile side in pixels: tile's larger side, else default_tile(patch's larger side).
  int64_t tile_side() const;
  /// mask_mapping, or MaskMapping::identity(classes) when there is none.
  MaskMapping mapping(int64_t classes) const;
  /// eval_view, or the whole image when there is none (crop = the patch side or 224, resize =
  /// crop * 8 / 7, as torchvision's 224 / 256).
  EvalTransform eval_transform() const;

  /// Checks the record against a model with `classes` outputs and `in_channels` input channels
  /// (0: unknown): one name per class, one normalisation value per channel (or one for all, or
  /// none) with every std > 0, sizes > 0, overlap in [0, 1), a mask mapping of `classes` classes,
  /// a known channel policy. Throws std::invalid_argument naming the field and the reason.
  void validate(int64_t classes, int64_t in_channels) const;

  /// The record as a JSON object (only the fields that are set; extra_json's keys included).
  std::string to_json() const;
  /// Reads a JSON object: the keys of docs/export.md, with skipzoo's own export keys (format,
  /// format_version, skipzoo_version, torch_version, model, task, optimized) skipped, so a whole
  /// skipzoo.json can be passed; any other key goes to extra_json. Throws std::invalid_argument
  /// naming the key when the text is not a JSON object or a known field has the wrong type.
  static DeployInfo from_json(const std::string& json);
};

}  // namespace skipzoo::data
