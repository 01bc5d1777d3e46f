#pragma once
/// @file
/// Dataset tools behind `skipzoo data ...`: the synthetic shapes and cells sets, MNIST-format IDX
/// import, Fashion-MNIST mosaics (a real-image segmentation set) and dataset statistics. The
/// generators write OUT/{train,val}/{images,masks}/NNNNN.png and OUT/dataset.json; each image
/// has its own Rng from (seed, index), so the output does not depend on the thread count. They
/// throw std::invalid_argument for options out of range and DataError for files or folders that
/// cannot be read or written.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "skipzoo/data/layout.h"

namespace skipzoo::data {

/// Called as work proceeds with the items done and the total (from any thread, one call at a time).
using Progress = std::function<void(int64_t done, int64_t total)>;

/// Shapes on textured, noisy backgrounds. Class c (1..classes) is a shape type (ellipse,
/// rectangle, triangle, cycling) drawn in its own hue; 0 is background. Writes
/// OUT/{train,val}/{images,masks}/NNNNN.png (masks: 8-bit class ids) and OUT/dataset.json.
struct ShapesOptions {
  std::string out;                        ///< output folder (created)
  int64_t count = 100;                    ///< images, >= 1
  int64_t min_size = 96, max_size = 640;  ///< image side range, pixels (2 <= min <= max); each side drawn independently
  int64_t classes = 3;                    ///< foreground classes, 1..60
  double val_fraction = 0.2;              ///< share of images in val/, [0, 1)
  uint64_t seed = 0;                      ///< the set is a function of the options and the seed
  int threads = 0;                        ///< 0: all cores
  Progress progress;                      ///< optional
};
/// Writes the shapes set. Throws std::invalid_argument for options out of range, DataError when
/// the output cannot be written.
void make_shapes(const ShapesOptions& options);
/// The names of classes 0..classes: "background", "ellipse", "rectangle", "triangle",
/// "ellipse_2", ...
std::vector<std::string> shape_class_names(int64_t classes);

/// A microscopy-like set in the manner of serial-section EM of neural tissue (the ISBI 2012
/// membrane challenge, Arganda-Carreras et al. 2015, "Crowdsourcing the creation of image
/// segmentation algorithms for connectomics", Frontiers in Neuroanatomy; the data of Ronneberger
/// et al. 2015's U-Net): gray size x size images of bright cells (Voronoi regions with warped,
/// curved walls) separated by thin dark membranes 1.5-5 px wide, with dark organelles inside the
/// cells that are not membranes, uneven illumination, blur and noise. Masks are stored as that set
/// stores them: 0 = membrane, 255 = cell. Writes OUT/{train,val}/{images,masks}/NNNNN.png and
/// dataset.json.
struct CellsOptions {
  std::string out;            ///< output folder (created)
  int64_t count = 30;         ///< images, >= 1
  int64_t size = 512;         ///< image side, px (>= 32)
  double cell_size = 48;      ///< mean cell diameter, px, 8..size (each image scales it by 0.8..1.25)
  double val_fraction = 1.0 / 6.0;  ///< share of images in val/, [0, 1)
  uint64_t seed = 0;          ///< the set is a function of the options and the seed
  int threads = 0;            ///< 0: all cores
  Progress progress;          ///< optional
};
/// Writes the cells set. Throws std::invalid_argument for sizes out of range, DataError when the
/// output cannot be written.
void make_cells(const CellsOptions& options);

/// MNIST-format IDX files (the MNIST database's format, LeCun et al. 1998; also Fashion-MNIST's),
/// gzip-compressed or plain.
struct IdxImages {
  int64_t count = 0, rows = 0, cols = 0;  ///< images and their size, pixels
  std::vector<uint8_t> pixels;  ///< count * rows * cols gray values, image after image, row-major
};
/// Reads an IDX file of 8-bit images (3 dimensions). Throws DataError for a missing or unreadable
/// file, corrupt gzip data, a wrong magic number or dimension count, truncated data or empty images.
IdxImages read_idx_images(const std::string& path);
/// Reads an IDX file of 8-bit labels (1 dimension). Throws DataError as read_idx_images() does.
std::vector<uint8_t> read_idx_labels(const std::string& path);
/// Fashion-MNIST's 10 class names (Xiao et al. 2017), folder-safe: "T-shirt_top", "Trouser", ...
std::vector<std::string> fashion_mnist_class_names();

/// IDX images + labels -> OUT/<class name>/NNNNN.png (an ImageFolder). Without class names:
/// Fashion-MNIST's if the images' path contains "fashion", else the label numbers.
struct ImportIdxOptions {
  std::string images, labels, out;       ///< IDX image file, IDX label file, output folder
  std::vector<std::string> class_names;  ///< folder name of each label; empty: see above
  int64_t limit = 0;  ///< import the first `limit` images; 0: all
  Progress progress;  ///< optional; called every 1000 images and at the end
};
/// Writes the ImageFolder. Throws std::invalid_argument without an output folder or for a class
/// name that cannot be a folder name; DataError for unreadable IDX files, label and image counts
/// that differ, a label without a class name, or output that cannot be written.
void import_idx(const ImportIdxOptions& options);

/// Scenes of Fashion-MNIST items pasted at random places and scales on a textured background.
/// An item's pixels are those brighter than `threshold`; they get label 1 + item class (0 is
/// background), later items covering earlier ones.
struct MosaicOptions {
  std::string out;  ///< output folder (created)
  std::string images = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";  ///< IDX images
  std::string labels = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz";  ///< IDX labels 0..9
  int64_t count = 100;                      ///< scenes, >= 1
  int64_t min_size = 128, max_size = 384;   ///< scene side range, pixels (8 <= min <= max); each side drawn alone
  int64_t min_items = 2, max_items = 8;     ///< items per scene (0 <= min <= max)
  double min_scale = 1.0, max_scale = 3.0;  ///< item side = 28 * scale (0 < min <= max)
  int threshold = 40;                       ///< item pixel: intensity > threshold (0..254)
  double val_fraction = 0.2;                ///< share of scenes in val/, [0, 1)
  uint64_t seed = 0;                        ///< the set is a function of the options and the seed
  int threads = 0;                          ///< 0: all cores
  Progress progress;                        ///< optional
};
/// Writes the mosaic set. Throws std::invalid_argument for options out of range; DataError for
/// unreadable IDX files, label and image counts that differ, labels above 9, or output that
/// cannot be written.
void make_fashion_mosaic(const MosaicOptions& options);

/// What `skipzoo data stats` reports.
struct DatasetStats {
  std::string task;  ///< "segmentation" or "classification"
  int64_t images = 0, channels = 0;  ///< readable images; channels of the first readable one (the others are converted)
  std::map<std::pair<int, int>, int64_t> sizes;   ///< (width, height) -> images
  std::vector<double> mean, std;                  ///< per channel, [0, 1] units, over all pixels
  std::map<uint32_t, int64_t> mask_values;        ///< segmentation: raw value (or 0xRRGGBB) -> pixels
  bool colour_masks = false;                      ///< some mask is a colour image (keys are 0xRRGGBB)
  std::map<std::string, int64_t> images_per_class;  ///< classification
  std::vector<std::string> skipped;                ///< bad files (with skip_bad)
};
/// Options of dataset_stats().
struct StatsOptions {
  std::string mask_suffix;  ///< as SegmentationLayout::mask_suffix
  CheckOptions check;       ///< bad files: an error, or skipped with check.skip_bad; decoding threads
  Progress progress;        ///< optional, per image
};
/// Statistics of a segmentation (see is_segmentation_layout) or classification dataset folder,
/// train and val together. Throws DataError when there are no images, and for bad files unless
/// options.check.skip_bad.
DatasetStats dataset_stats(const std::string& root, const StatsOptions& options = {});
/// A readable multi-line report: sizes (with a histogram of the longest side), channel mean and
/// std, mask values or images per class.
std::string format_stats(const DatasetStats& stats);
/// The same statistics as one JSON object.
std::string stats_to_json(const DatasetStats& stats);

}  // namespace skipzoo::data
