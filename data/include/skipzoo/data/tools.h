#pragma once
// Dataset tools behind `skipzoo data ...`: the synthetic shapes set, MNIST-format IDX import,
// Fashion-MNIST mosaics (a real-image segmentation set) and dataset statistics.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "skipzoo/data/layout.h"

namespace skipzoo::data {

// Called as work proceeds (from any thread, one call at a time).
using Progress = std::function<void(int64_t done, int64_t total)>;

// Shapes on textured, noisy backgrounds. Class c (1..classes) is a shape type (ellipse,
// rectangle, triangle, cycling) drawn in its own hue; 0 is background. Writes
// OUT/{train,val}/{images,masks}/NNNNN.png (masks: 8-bit class ids) and OUT/dataset.json.
struct ShapesOptions {
  std::string out;
  int64_t count = 100;
  int64_t min_size = 96, max_size = 640;  // each side drawn independently
  int64_t classes = 3;                    // foreground classes
  double val_fraction = 0.2;
  uint64_t seed = 0;
  int threads = 0;
  Progress progress;
};
void make_shapes(const ShapesOptions& options);
std::vector<std::string> shape_class_names(int64_t classes);  // "background", "ellipse", ...

// MNIST-format IDX files, gzip-compressed or plain.
struct IdxImages {
  int64_t count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols
};
IdxImages read_idx_images(const std::string& path);
std::vector<uint8_t> read_idx_labels(const std::string& path);
std::vector<std::string> fashion_mnist_class_names();  // folder-safe: "T-shirt_top", ...

// IDX images + labels -> OUT/<class name>/NNNNN.png (an ImageFolder). Without class names:
// Fashion-MNIST's if the images' path contains "fashion", else the label numbers.
struct ImportIdxOptions {
  std::string images, labels, out;
  std::vector<std::string> class_names;
  int64_t limit = 0;  // 0: all
  Progress progress;
};
void import_idx(const ImportIdxOptions& options);

// Scenes of Fashion-MNIST items pasted at random places and scales on a textured background.
// An item's pixels are those brighter than `threshold`; they get label 1 + item class.
struct MosaicOptions {
  std::string out;
  std::string images = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
  std::string labels = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz";
  int64_t count = 100;
  int64_t min_size = 128, max_size = 384;
  int64_t min_items = 2, max_items = 8;
  double min_scale = 1.0, max_scale = 3.0;  // item side = 28 * scale
  int threshold = 40;                       // item pixel: intensity > threshold (0..255)
  double val_fraction = 0.2;
  uint64_t seed = 0;
  int threads = 0;
  Progress progress;
};
void make_fashion_mosaic(const MosaicOptions& options);

// What `skipzoo data stats` reports.
struct DatasetStats {
  std::string task;  // "segmentation" or "classification"
  int64_t images = 0, channels = 0;
  std::map<std::pair<int, int>, int64_t> sizes;   // (width, height) -> images
  std::vector<double> mean, std;                  // per channel, [0, 1] units, over all pixels
  std::map<uint32_t, int64_t> mask_values;        // segmentation: raw value (or 0xRRGGBB) -> pixels
  bool colour_masks = false;
  std::map<std::string, int64_t> images_per_class;  // classification
  std::vector<std::string> skipped;                // bad files (with skip_bad)
};
struct StatsOptions {
  std::string mask_suffix;
  CheckOptions check;
  Progress progress;
};
DatasetStats dataset_stats(const std::string& root, const StatsOptions& options = {});
std::string format_stats(const DatasetStats& stats);  // a readable report
std::string stats_to_json(const DatasetStats& stats);

}  // namespace skipzoo::data
