// The prefetching loader: shapes, determinism across worker counts, resuming mid-epoch, epoch
// coverage, errors surfacing in the consumer, early shutdown, the cache.
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>
#include <skipzoo/data.h>

#include <filesystem>

#include "test_util.h"

namespace data = skipzoo::data;
using skipzoo::test::TempDir;

namespace {
// Eight images of different sizes, each with a small square of class 1 or 2.
std::vector<data::SegmentationSample> make_set(const TempDir& dir) {
  std::vector<data::SegmentationSample> samples;
  for (int i = 0; i < 8; ++i) {
    const cv::Size size(30 + 9 * i, 70 - 5 * i);
    cv::Mat image(size, CV_8UC3), mask(size, CV_8U, cv::Scalar(0));
    cv::randu(image, 0, 256);
    mask(cv::Rect(i, 2, 4, 4)) = 1 + i % 2;
    const auto stem = "s" + std::to_string(i);
    data::write_image(dir.file("set/images/" + stem + ".png"), image);
    data::write_image(dir.file("set/masks/" + stem + ".png"), mask);
    samples.push_back({dir.path() + "/set/images/" + stem + ".png", dir.path() + "/set/masks/" + stem + ".png"});
  }
  return samples;
}

std::shared_ptr<data::SegmentationPatches> source_of(const std::vector<data::SegmentationSample>& samples,
                                                     int64_t cache = 0) {
  data::SegmentationSampling s;
  s.patch.size = 24;
  s.patch.patches_per_image = 2;
  s.augment = data::AugmentOptions::full();
  s.cache_bytes = cache;
  return std::make_shared<data::SegmentationPatches>(samples, data::MaskMapping::identity(3), s);
}

std::vector<data::Batch> epoch_of(data::Loader& loader, int64_t epoch, int64_t first = 0) {
  loader.start_epoch(epoch, first);
  std::vector<data::Batch> out;
  for (data::Batch b; loader.next(b);) out.push_back(b);
  return out;
}

void expect_same(const std::vector<data::Batch>& a, const std::vector<data::Batch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].images, b[i].images)) << "batch " << i;
    EXPECT_TRUE(torch::equal(a[i].targets, b[i].targets)) << "batch " << i;
    EXPECT_EQ(a[i].items, b[i].items) << "batch " << i;
  }
}

data::LoaderOptions options_of(int workers, uint64_t seed = 5) {
  data::LoaderOptions o;
  o.batch_size = 3;
  o.workers = workers;
  o.prefetch = 2;
  o.seed = seed;
  return o;
}
}  // namespace

TEST(DataLoader, BatchesHaveTheRightShapesTypesAndForcedForeground) {
  TempDir dir;
  data::Loader loader(source_of(make_set(dir)), options_of(2));
  EXPECT_EQ(loader.batches_per_epoch(), 5);  // 16 samples, batches of 3, last partial one dropped
  const auto batches = epoch_of(loader, 0);
  ASSERT_EQ(batches.size(), 5u);
  for (const auto& b : batches) {
    EXPECT_EQ(b.images.sizes(), torch::IntArrayRef({3, 3, 24, 24}));
    EXPECT_EQ(b.images.scalar_type(), torch::kFloat);
    EXPECT_EQ(b.targets.sizes(), torch::IntArrayRef({3, 24, 24}));
    EXPECT_EQ(b.targets.scalar_type(), torch::kLong);
    const auto t = b.targets;
    EXPECT_TRUE(((t == 0) | (t == 1) | (t == 2) | (t == data::kIgnoreIndex)).all().item<bool>());
    // B = 3, fraction 1/3: the last sample of every batch is centred on foreground.
    EXPECT_TRUE(((t[2] == 1) | (t[2] == 2)).any().item<bool>());
  }
}

TEST(DataLoader, DeterministicAndIndependentOfWorkerCount) {
  TempDir dir;
  const auto samples = make_set(dir);
  data::Loader sync(source_of(samples), options_of(0)), one(source_of(samples), options_of(1)),
      three(source_of(samples), options_of(3));
  const auto reference = epoch_of(sync, 2);
  expect_same(reference, epoch_of(one, 2));
  expect_same(reference, epoch_of(three, 2));
  expect_same(reference, epoch_of(three, 2));  // the same epoch again

  // Other epochs and seeds give other batches.
  EXPECT_FALSE(torch::equal(reference[0].images, epoch_of(three, 3)[0].images));
  data::Loader other_seed(source_of(samples), options_of(2, 6));
  EXPECT_FALSE(torch::equal(reference[0].images, epoch_of(other_seed, 2)[0].images));
  // The decoded-image cache changes nothing.
  data::Loader cached(source_of(samples, 64 << 20), options_of(2));
  expect_same(reference, epoch_of(cached, 2));
}

TEST(DataLoader, ResumesMidEpochWithTheSameBatches) {
  TempDir dir;
  const auto samples = make_set(dir);
  data::Loader loader(source_of(samples), options_of(2));
  const auto full = epoch_of(loader, 4);
  const auto resumed = epoch_of(loader, 4, 3);
  ASSERT_EQ(resumed.size(), 2u);
  expect_same({full[3], full[4]}, resumed);
  EXPECT_EQ(resumed[0].index, 3);
  EXPECT_EQ(resumed[0].epoch, 4);
  EXPECT_TRUE(epoch_of(loader, 4, 5).empty());
  EXPECT_THROW(loader.start_epoch(4, 6), std::invalid_argument);
}

TEST(DataLoader, DataParallelRanksTogetherMakeTheOneProcessBatches) {
  TempDir dir;
  const auto samples = make_set(dir);
  auto options = options_of(2);
  options.batch_size = 6;  // foreground oversampling forces slots 4 and 5: both on the last rank of 2 or 3
  data::Loader whole(source_of(samples), options);
  const auto reference = epoch_of(whole, 1);
  for (int ranks : {2, 3, 6}) {
    std::vector<std::vector<data::Batch>> shares;
    for (int rank = 0; rank < ranks; ++rank) {
      auto o = options;
      o.rank = rank;
      o.world_size = ranks;
      o.workers = rank % 2;  // the worker count still changes nothing
      data::Loader loader(source_of(samples), o);
      EXPECT_EQ(loader.batches_per_epoch(), whole.batches_per_epoch());
      shares.push_back(epoch_of(loader, 1));
    }
    for (size_t b = 0; b < reference.size(); ++b) {
      std::vector<torch::Tensor> images, targets;
      std::vector<int64_t> items;
      for (const auto& share : shares) {
        ASSERT_EQ(share[b].images.size(0), 6 / ranks);
        images.push_back(share[b].images);
        targets.push_back(share[b].targets);
        items.insert(items.end(), share[b].items.begin(), share[b].items.end());
      }
      EXPECT_TRUE(torch::equal(torch::cat(images), reference[b].images)) << ranks << " ranks, batch " << b;
      EXPECT_TRUE(torch::equal(torch::cat(targets), reference[b].targets)) << ranks << " ranks, batch " << b;
      EXPECT_EQ(items, reference[b].items) << ranks << " ranks, batch " << b;
    }
  }
  // A batch the ranks cannot share evenly, or a rank outside the world, is refused.
  auto uneven = options;
  uneven.world_size = 4;
  EXPECT_THROW(data::Loader(source_of(samples), uneven), std::invalid_argument);
  auto outside = options;
  outside.world_size = 2;
  outside.rank = 2;
  EXPECT_THROW(data::Loader(source_of(samples), outside), std::invalid_argument);
}

TEST(DataLoader, WithoutDropLastEverySampleComesOnceInOrder) {
  TempDir dir;
  auto o = options_of(2);
  o.shuffle = false;
  o.drop_last = false;
  data::Loader loader(source_of(make_set(dir)), o);
  EXPECT_EQ(loader.batches_per_epoch(), 6);  // ceil(16 / 3)
  const auto batches = epoch_of(loader, 0);
  std::vector<int64_t> items;
  for (const auto& b : batches) items.insert(items.end(), b.items.begin(), b.items.end());
  EXPECT_EQ(batches.back().images.size(0), 1);
  EXPECT_EQ(items, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7}));
  // Shuffled, each image still comes patches_per_image times.
  o.shuffle = true;
  data::Loader shuffled(source_of(make_set(dir)), o);
  std::map<int64_t, int> count;
  for (const auto& b : epoch_of(shuffled, 1))
    for (int64_t item : b.items) ++count[item];
  for (int64_t i = 0; i < 8; ++i) EXPECT_EQ(count[i], 2);
}

TEST(DataLoader, AFileBrokenAfterTheCheckSurfacesAsDataErrorInTheConsumer) {
  TempDir dir;
  const auto samples = make_set(dir);
  skipzoo::test::write_bytes(samples[5].image, "corrupted after validation");
  for (int workers : {0, 2}) {
    auto o = options_of(workers);
    o.shuffle = false;
    o.drop_last = false;
    data::Loader loader(source_of(samples), o);
    data::Batch b;
    std::string message;
    int ok = 0;
    try {
      while (loader.next(b)) ++ok;
    } catch (const data::DataError& e) {
      message = e.what();
    }
    EXPECT_EQ(ok, 1) << "items 0-2 load, item 5 is in the second batch";
    EXPECT_NE(message.find("s5.png: not an image"), std::string::npos) << message;
    EXPECT_TRUE(loader.next(b)) << "the loader goes on after an error";
  }
}

TEST(DataLoader, StopsCleanlyWhenTheConsumerQuitsEarlyAndCountsWaiting) {
  TempDir dir;
  const auto samples = make_set(dir);
  {
    data::Loader never_used(source_of(samples), options_of(3));
  }
  data::Loader loader(source_of(samples), options_of(3));
  data::Batch b;
  ASSERT_TRUE(loader.next(b));
  EXPECT_GE(loader.wait_seconds(), 0.0);
  EXPECT_GT(loader.epoch_wait_seconds(), 0.0);
  const double before = loader.wait_seconds();
  loader.start_epoch(1);
  EXPECT_EQ(loader.epoch_wait_seconds(), 0.0);
  EXPECT_EQ(loader.wait_seconds(), before);
  // Destroyed here with batches in flight: the destructor joins without hanging.
}

TEST(DataLoader, ClassificationCropsAndEvalViews) {
  TempDir dir;
  std::vector<data::ClassificationSample> samples;
  for (int i = 0; i < 5; ++i) {
    cv::Mat image(20 + 7 * i, 40 - 3 * i, CV_8U);
    cv::randu(image, 0, 256);
    data::write_image(dir.file("c/" + std::to_string(i) + ".png"), image);
    samples.push_back({dir.path() + "/c/" + std::to_string(i) + ".png", i % 2});
  }
  data::ClassificationSampling s;
  s.crop.size = 16;
  data::Loader train(std::make_shared<data::ClassificationCrops>(samples, s), options_of(2));
  for (const auto& b : epoch_of(train, 0)) {
    EXPECT_EQ(b.images.sizes(), torch::IntArrayRef({3, 1, 16, 16}));
    ASSERT_EQ(b.targets.sizes(), torch::IntArrayRef({3}));
    for (int64_t j = 0; j < 3; ++j) EXPECT_EQ(b.targets[j].item<int64_t>(), b.items[static_cast<size_t>(j)] % 2);
  }
  const data::EvalTransform view{data::EvalView::ResizeShortSide, 18, 16};
  auto o = options_of(2);
  o.shuffle = o.drop_last = false;
  data::Loader eval(std::make_shared<data::ClassificationEval>(samples, view, data::Normalization::symmetric()), o);
  int64_t n = 0;
  for (const auto& b : epoch_of(eval, 0))
    for (int64_t j = 0; j < b.images.size(0); ++j, ++n)
      EXPECT_TRUE(torch::equal(b.images[j], data::eval_tensor(samples[static_cast<size_t>(n)].image, view,
                                                               data::Normalization::symmetric())));
  EXPECT_EQ(n, 5);
  EXPECT_THROW(data::ClassificationEval(samples, {data::EvalView::Whole, 0, 0}, {}), std::invalid_argument);
}

TEST(DataLoader, PatchesAreRgbLikeReadImage) {
  // The loader decodes in OpenCV's order and reorders patches: the result must equal read_image.
  TempDir dir;
  cv::Mat image(24, 24, CV_8UC3), mask(24, 24, CV_8U, cv::Scalar(1));
  cv::randu(image, 0, 256);
  data::write_image(dir.file("p/images/a.png"), image);
  data::write_image(dir.file("p/masks/a.png"), mask);
  data::SegmentationSampling s;
  s.patch.size = 24;
  s.augment = data::AugmentOptions::off();
  s.norm = data::Normalization::imagenet();
  const std::vector<data::SegmentationSample> one{{dir.path() + "/p/images/a.png", dir.path() + "/p/masks/a.png"}};
  data::Loader loader(std::make_shared<data::SegmentationPatches>(one, data::MaskMapping::identity(2), s), options_of(1));
  data::Batch b;
  ASSERT_TRUE(loader.next(b));
  const auto expected = data::image_to_tensor(data::read_image(one[0].image), data::Normalization::imagenet());
  for (int64_t i = 0; i < 3; ++i) EXPECT_TRUE(torch::allclose(b.images[i], expected, 1e-5, 1e-6)) << i;
  EXPECT_TRUE((b.targets == 1).all().item<bool>());
}
