// `skipzoo data ...`: dataset tools (synthetic sets, IDX import, statistics, checks).
#include <skipzoo/data.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <sstream>

#include "cli/cli.h"
#include "cli/data_flags.h"

namespace skipzoo::app {

namespace {
// "  what: 40/100" rewritten in place on a terminal; whole lines every 10% otherwise (logs).
data::Progress progress_printer(const std::string& what) {
  const bool tty = isatty(fileno(stderr));
  auto last_decile = std::make_shared<int64_t>(-1);
  return [what, tty, last_decile](int64_t done, int64_t total) {
    const int64_t decile = total > 0 ? done * 10 / total : 10;
    if (tty) {
      std::fprintf(stderr, "\r  %s: %lld/%lld%s", what.c_str(), static_cast<long long>(done),
                   static_cast<long long>(total), done == total ? "\n" : "");
    } else if (decile != *last_decile) {
      *last_decile = decile;
      std::fprintf(stderr, "  %s: %lld/%lld\n", what.c_str(), static_cast<long long>(done), static_cast<long long>(total));
    }
    std::fflush(stderr);
  };
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');) out.push_back(part);
  return out;
}

// The flags every generated set has (ShapesOptions, CellsOptions, MosaicOptions): --out,
// --count, --val-fraction and --seed. `items` names what --count counts.
template <typename Options>
void add_generated_set_flags(CLI::App* cmd, Options& o, const std::string& items) {
  cmd->add_option("--out", o.out, "output folder")->required();
  cmd->add_option("--count", o.count, "number of " + items)->capture_default_str()->check(CLI::Range(1, 10000000));
  cmd->add_option("--val-fraction", o.val_fraction, "share of " + items + " written to val/")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.95));
  cmd->add_option("--seed", o.seed, "random seed (same seed, same files)")->capture_default_str();
}

void add_make_shapes(CLI::App* group) {
  auto* cmd = group->add_subcommand("make-shapes", "write the synthetic shapes segmentation set (train/ and val/)");
  auto o = std::make_shared<data::ShapesOptions>();
  add_generated_set_flags(cmd, *o, "images");
  cmd->add_option("--min-size", o->min_size, "smallest image side")->capture_default_str()->check(CLI::Range(2, 100000));
  cmd->add_option("--max-size", o->max_size, "largest image side")->capture_default_str()->check(CLI::Range(2, 100000));
  cmd->add_option("--classes", o->classes, "foreground classes (shape types cycle: ellipse, rectangle, triangle)")
      ->capture_default_str()
      ->check(CLI::Range(1, 60));
  on_run(cmd, [o] {
    auto options = *o;
    options.progress = progress_printer("images");
    data::make_shapes(options);
    std::cout << "wrote " << options.count << " images with " << options.classes << " shape classes to " << options.out
              << " (train/ and val/, masks = class ids, dataset.json)\n";
  });
}

void add_make_cells(CLI::App* group) {
  auto* cmd = group->add_subcommand("make-cells", "write a microscopy-like set: bright cells, thin dark membranes (0/255 masks)");
  auto o = std::make_shared<data::CellsOptions>();
  add_generated_set_flags(cmd, *o, "images");
  cmd->add_option("--size", o->size, "image side (px)")->capture_default_str()->check(CLI::Range(32, 16384));
  cmd->add_option("--cell-size", o->cell_size, "mean cell diameter (px)")->capture_default_str()->check(CLI::Range(8.0, 16384.0));
  on_run(cmd, [o] {
    auto options = *o;
    options.progress = progress_printer("images");
    data::make_cells(options);
    std::cout << "wrote " << options.count << " images to " << options.out
              << " (train/ and val/, masks 0 = membrane, 255 = cell, dataset.json)\n";
  });
}

void add_import_idx(CLI::App* group) {
  auto* cmd = group->add_subcommand("import-idx", "convert MNIST-format IDX files (gzip) to an ImageFolder of PNGs");
  auto o = std::make_shared<data::ImportIdxOptions>();
  auto names = std::make_shared<std::string>();
  cmd->add_option("--images", o->images, "IDX image file, e.g. /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
      ->required();
  cmd->add_option("--labels", o->labels, "IDX label file")->required();
  cmd->add_option("--out", o->out, "output folder: OUT/<class name>/NNNNN.png")->required();
  cmd->add_option("--class-names", *names,
                  "comma-separated names of labels 0, 1, ... (default: Fashion-MNIST's names if the path contains "
                  "'fashion', else the label numbers)");
  cmd->add_option("--limit", o->limit, "import only the first N items (0: all)")->capture_default_str()->check(CLI::NonNegativeNumber);
  on_run(cmd, [o, names] {
    auto options = *o;
    if (!names->empty()) options.class_names = split_list(*names);
    options.progress = progress_printer("images");
    data::import_idx(options);
    std::cout << "imported " << options.images << " into " << options.out << "\n";
  });
}

void add_fashion_mosaic(CLI::App* group) {
  auto* cmd = group->add_subcommand("fashion-mosaic", "write a segmentation set of Fashion-MNIST items pasted into scenes");
  auto o = std::make_shared<data::MosaicOptions>();
  add_generated_set_flags(cmd, *o, "scenes");
  cmd->add_option("--images", o->images, "IDX item images")->capture_default_str();
  cmd->add_option("--labels", o->labels, "IDX item labels")->capture_default_str();
  cmd->add_option("--min-size", o->min_size, "smallest scene side")->capture_default_str();
  cmd->add_option("--max-size", o->max_size, "largest scene side")->capture_default_str();
  cmd->add_option("--min-items", o->min_items, "fewest items per scene")->capture_default_str();
  cmd->add_option("--max-items", o->max_items, "most items per scene")->capture_default_str();
  cmd->add_option("--min-scale", o->min_scale, "smallest item scale (item side = 28 x scale)")->capture_default_str();
  cmd->add_option("--max-scale", o->max_scale, "largest item scale")->capture_default_str();
  cmd->add_option("--threshold", o->threshold, "item pixels are brighter than this (0..254)")->capture_default_str();
  on_run(cmd, [o] {
    auto options = *o;
    options.progress = progress_printer("scenes");
    data::make_fashion_mosaic(options);
    std::cout << "wrote " << options.count << " scenes to " << options.out
              << " (11 classes: background + 10 Fashion-MNIST items, dataset.json)\n";
  });
}

void add_stats(CLI::App* group) {
  auto* cmd = group->add_subcommand("stats", "image sizes, class frequencies and channel mean/std of a dataset");
  auto data_dir = std::make_shared<std::string>();
  auto o = std::make_shared<data::StatsOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--data", *data_dir, "dataset folder (segmentation or classification layout)")->required();
  cmd->add_option("--mask-suffix", o->mask_suffix, "suffix of mask file stems")->capture_default_str();
  cmd->add_flag("--skip-bad", o->check.skip_bad, "warn about bad files and leave them out (default: stop and list them)");
  cmd->add_flag("--json", *json, "print JSON instead of a report");
  on_run(cmd, [data_dir, o, json] {
    auto options = *o;
    options.progress = progress_printer("images");
    const auto stats = data::dataset_stats(*data_dir, options);
    std::cout << (*json ? data::stats_to_json(stats) + "\n" : data::format_stats(stats));
  });
}

void add_check(CLI::App* group) {
  auto* cmd = group->add_subcommand("check", "check a dataset as training would read it; list every problem");
  auto flags = add_data_flags(cmd);
  on_run(cmd, [flags] {
    if (data::is_segmentation_layout(flags->data)) {
      const auto d = data::load_segmentation(flags->data, segmentation_layout(*flags));
      std::cout << "segmentation dataset " << flags->data << ": " << d.train.size() << " train, " << d.val.size()
                << " val pairs" << (d.explicit_split ? " (train/ and val/ folders)" : " (split by fraction)")
                << "\nmask mapping: " << d.mapping.describe() << "\n";
      if (!d.skipped.empty()) std::cout << d.skipped.size() << " bad items skipped\n";
    } else {
      const auto d = data::load_classification(flags->data, classification_layout(*flags));
      std::cout << "classification dataset " << flags->data << ": " << d.train.size() << " train, " << d.val.size()
                << " val images, " << d.class_names.size() << " classes\n";
      if (!d.skipped.empty()) std::cout << d.skipped.size() << " bad items skipped\n";
    }
  });
}
}  // namespace

void add_data_command(CLI::App& app) {
  auto* group = app.add_subcommand("data", "dataset tools: synthetic sets, IDX import, statistics, checks");
  group->require_subcommand(1);
  add_make_shapes(group);
  add_make_cells(group);
  add_import_idx(group);
  add_fashion_mosaic(group);
  add_stats(group);
  add_check(group);
}

}  // namespace skipzoo::app
