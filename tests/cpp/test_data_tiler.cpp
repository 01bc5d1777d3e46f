// Sliding-window tiling: tile placement, the Gaussian map, exact reconstruction, padding, TTA.
#include <gtest/gtest.h>
#include <skipzoo/data.h>

#include <cmath>

namespace data = skipzoo::data;

TEST(DataTiler, TileStartsFollowTheNnUnetRule) {
  // size 100, tile 64, step 32: ceil(36 / 32) + 1 = 3 tiles, spread 0, 18, 36.
  EXPECT_EQ(data::tile_starts(100, 64, 0.5), (std::vector<int64_t>{0, 18, 36}));
  EXPECT_EQ(data::tile_starts(128, 64, 0.5), (std::vector<int64_t>{0, 32, 64}));
  EXPECT_EQ(data::tile_starts(64, 64, 0.5), (std::vector<int64_t>{0}));
  EXPECT_EQ(data::tile_starts(10, 64, 0.5), (std::vector<int64_t>{0}));
  EXPECT_EQ(data::tile_starts(65, 64, 0.5), (std::vector<int64_t>{0, 1}));
  // No overlap: ceil((200 - 64) / 64) + 1 = 4 tiles.
  EXPECT_EQ(data::tile_starts(200, 64, 0.0), (std::vector<int64_t>{0, 45, 91, 136}));
  EXPECT_THROW(data::tile_starts(10, 4, 1.0), std::invalid_argument);
}

TEST(DataTiler, GaussianMapHasSigmaTileOverEightAndPeaksAtTheCentre) {
  const auto g = data::gaussian_importance(16);
  ASSERT_EQ(g.sizes(), torch::IntArrayRef({16, 16}));
  EXPECT_FLOAT_EQ(g.max().item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(g[7][8].item<float>(), 1.0f);  // the four central pixels
  EXPECT_TRUE(torch::equal(g, g.flip({0})));
  EXPECT_TRUE(torch::equal(g, g.flip({1})));
  EXPECT_TRUE(torch::equal(g, g.t()));
  // sigma = 2: the corner is exp(-(7.5^2 + 7.5^2) / 8) relative to exp(-(0.5^2 + 0.5^2) / 8).
  EXPECT_NEAR(g[0][0].item<float>(), std::exp(-(2 * 7.5 * 7.5 - 2 * 0.5 * 0.5) / 8.0), 1e-7);
  EXPECT_GT(g.min().item<float>(), 0.0f);
}

TEST(DataTiler, IdentityModelReconstructsTheImageAtAnySize) {
  torch::manual_seed(0);
  for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {7, 5}, {32, 32}, {33, 47}, {70, 31}, {101, 131}}) {
    const auto image = torch::randn({3, h, w});
    for (bool gaussian : {true, false})
      for (bool tta : {false, true}) {
        data::TileOptions o;
        o.tile = 32;
        o.gaussian = gaussian;
        o.flip_tta = tta;
        o.batch = 3;
        const auto out = data::sliding_window(image, [](const torch::Tensor& t) { return t.clone(); }, o);
        ASSERT_EQ(out.sizes(), image.sizes());
        EXPECT_TRUE(torch::allclose(out, image, 1e-5, 1e-6)) << h << "x" << w << " gaussian " << gaussian << " tta " << tta;
      }
  }
}

TEST(DataTiler, ConstantModelGivesAConstantMapAndTilesAreBatched) {
  const auto image = torch::zeros({1, 45, 77});
  int calls = 0;
  data::TileOptions o;
  o.tile = 32;
  o.batch = 4;
  const auto out = data::sliding_window(image, [&](const torch::Tensor& t) {
    ++calls;
    EXPECT_EQ(t.size(2), 32);
    EXPECT_EQ(t.size(3), 32);
    EXPECT_LE(t.size(0), 4);
    return torch::full({t.size(0), 2, 32, 32}, 2.5f);
  }, o);
  ASSERT_EQ(out.sizes(), torch::IntArrayRef({2, 45, 77}));
  EXPECT_TRUE(torch::allclose(out, torch::full_like(out, 2.5f)));
  // rows: ceil(13 / 16) + 1 = 2; columns: ceil(45 / 16) + 1 = 4; 8 tiles in batches of 4.
  EXPECT_EQ(calls, 2);
  o.flip_tta = true;
  calls = 0;
  data::sliding_window(image, [&](const torch::Tensor& t) {
    ++calls;
    return torch::ones({t.size(0), 1, 32, 32});
  }, o);
  EXPECT_EQ(calls, 8);  // four flip combinations per batch
}

TEST(DataTiler, SmallImagesArePaddedToATileAndCroppedBack) {
  const auto image = torch::arange(1.0, 1.0 + 5 * 9).view({1, 5, 9});
  data::TileOptions o;
  o.tile = 16;
  o.pad_value = -7.0;
  torch::Tensor seen;
  const auto out = data::sliding_window(image, [&](const torch::Tensor& t) {
    seen = t.clone();
    return t * 2;
  }, o);
  ASSERT_EQ(seen.sizes(), torch::IntArrayRef({1, 1, 16, 16}));
  // Centred: (16 - 5) / 2 = 5 rows and (16 - 9) / 2 = 3 columns of padding before the image.
  EXPECT_TRUE(torch::equal(seen[0][0].slice(0, 5, 10).slice(1, 3, 12), image[0]));
  EXPECT_EQ(seen[0][0][0][0].item<float>(), -7.0f);
  EXPECT_TRUE(torch::allclose(out, image * 2));
}

TEST(DataTiler, FlipTtaAveragesTheFlippedPredictions) {
  // A model that is not flip-equivariant: output = input + column index. Averaging the four
  // flip combinations gives input + (t - 1) / 2 everywhere, independently computed here.
  const auto image = torch::rand({1, 20, 20});
  data::TileOptions o;
  o.tile = 20;
  o.flip_tta = true;
  const auto out = data::sliding_window(image, [](const torch::Tensor& t) {
    return t + torch::arange(t.size(3), t.options()).view({1, 1, 1, -1});
  }, o);
  EXPECT_TRUE(torch::allclose(out, image + 9.5, 1e-5, 1e-6));
  EXPECT_THROW(data::sliding_window(image, [](const torch::Tensor& t) { return t.mean({2, 3}); }, o), std::invalid_argument);
}

TEST(DataTiler, TileShapeShrinksToTheMultipleOnlyWhereTheImageIsSmaller) {
  data::TileOptions o;
  o.tile = 512;
  EXPECT_EQ(data::tile_shape(96, 700, o), (std::pair<int64_t, int64_t>{512, 512}));  // multiple 0: full tiles
  o.multiple = 16;
  EXPECT_EQ(data::tile_shape(96, 700, o), (std::pair<int64_t, int64_t>{96, 512}));
  EXPECT_EQ(data::tile_shape(97, 40, o), (std::pair<int64_t, int64_t>{112, 48}));   // ceil(97 / 16) * 16, ceil(40 / 16) * 16
  EXPECT_EQ(data::tile_shape(1, 511, o), (std::pair<int64_t, int64_t>{16, 512}));   // 511 -> 512, never above the tile
  o.tile = 100;
  o.multiple = 32;
  EXPECT_EQ(data::tile_shape(99, 20, o), (std::pair<int64_t, int64_t>{100, 32}));   // 128 capped at the tile
  o.multiple = -1;
  EXPECT_THROW(data::tile_shape(10, 10, o), std::invalid_argument);
}

TEST(DataTiler, RectangularGaussianIsTheOuterProductOfTheAxes) {
  // 6 x 10, sigma 0.75 and 1.25: each weight exp(-dy^2 / 2 sy^2 - dx^2 / 2 sx^2), relative to the
  // four central pixels (dy = dx = 0.5), computed by hand.
  const auto g = data::gaussian_importance(6, 10, 0.125);
  ASSERT_EQ(g.sizes(), torch::IntArrayRef({6, 10}));
  auto expected = [](double dy, double dx) {
    const double sy = 0.75, sx = 1.25;
    return std::exp(-(dy * dy - 0.25) / (2 * sy * sy) - (dx * dx - 0.25) / (2 * sx * sx));
  };
  EXPECT_NEAR(g[0][0].item<float>(), expected(2.5, 4.5), 1e-7);
  EXPECT_NEAR(g[2][9].item<float>(), expected(0.5, 4.5), 1e-7);
  EXPECT_NEAR(g[5][3].item<float>(), expected(2.5, 1.5), 1e-7);
  EXPECT_FLOAT_EQ(g[2][4].item<float>(), 1.0f);
  EXPECT_TRUE(torch::equal(data::gaussian_importance(16, 16, 0.125), data::gaussian_importance(16)));
}

TEST(DataTiler, SmallImagesGetTilesOfTheirOwnSizeRoundedToTheMultiple) {
  torch::manual_seed(1);
  const auto image = torch::randn({2, 21, 150});
  data::TileOptions o;
  o.tile = 64;
  o.multiple = 8;
  o.pad_value = -3.0;
  std::vector<torch::Tensor> seen;
  const auto out = data::sliding_window(image, [&](const torch::Tensor& t) {
    seen.push_back(t.clone());
    return t * 3;
  }, o);
  ASSERT_EQ(out.sizes(), image.sizes());
  EXPECT_TRUE(torch::allclose(out, image * 3, 1e-5, 1e-6));
  // Rows: 21 -> one 24-row tile, padded 1 row above and 2 below; columns: 150 in 64-wide tiles,
  // ceil(86 / 32) + 1 = 4 of them, one call of 4.
  ASSERT_EQ(seen.size(), 1u);
  ASSERT_EQ(seen[0].sizes(), torch::IntArrayRef({4, 2, 24, 64}));
  EXPECT_TRUE(torch::equal(seen[0][0].slice(1, 1, 22), image.slice(2, 0, 64)));
  EXPECT_EQ(seen[0][0][0][0][0].item<float>(), -3.0f);
  EXPECT_EQ(seen[0][0][0][23][0].item<float>(), -3.0f);
}
