// Unit tests of labor/data/transforms.hpp: resizing, cropping with padding, flips, the drawn
// augmentation, and the caffe-style normalisation of batches.
#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <vector>

#include <labor/data/dataset.hpp>
#include <labor/data/transforms.hpp>

#include "support/errors.hpp"

namespace {

using labor::PhiloxStream;
using labor::Shape;
using labor::Tensor;
using labor::testing::expect_error;
namespace data = labor::data;

Tensor<float> ramp_image(std::int64_t c, std::int64_t h, std::int64_t w) {
  Tensor<float> t(Shape{c, h, w});
  for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(i);
  return t;
}

Tensor<std::int32_t> ramp_label(std::int64_t h, std::int64_t w) {
  Tensor<std::int32_t> t(Shape{h, w});
  for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<std::int32_t>(i);
  return t;
}

TEST(Resize, BilinearHalfPixelCentres) {
  const auto x = Tensor<float>::from(Shape{1, 2, 2}, {0.0f, 1.0f, 2.0f, 3.0f});
  const auto y = data::resize_bilinear(x, 4, 4);
  ASSERT_EQ(y.shape(), Shape({1, 4, 4}));
  // Source coordinates of the 4 outputs: 0 (clamped), 0.25, 0.75, 1.
  const float row[4] = {0.0f, 0.25f, 0.75f, 1.0f};
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) EXPECT_FLOAT_EQ(y(0, r, c), 2.0f * row[r] + row[c]) << r << "," << c;
  // Halving averages pixel pairs (source coordinates 0.5 and 2.5).
  const auto z = data::resize_bilinear(ramp_image(2, 4, 4), 2, 2);
  EXPECT_FLOAT_EQ(z(0, 0, 0), (0 + 1 + 4 + 5) / 4.0f);
  EXPECT_FLOAT_EQ(z(1, 1, 1), 16 + (10 + 11 + 14 + 15) / 4.0f);
  // The same size is a copy.
  const auto x3 = ramp_image(3, 5, 7);
  const auto same = data::resize_bilinear(x3, 5, 7);
  for (std::int64_t i = 0; i < x3.numel(); ++i) ASSERT_EQ(same[i], x3[i]);
  expect_error([&] { (void)data::resize_bilinear(x3, 0, 3); }, "height and width > 0");
  expect_error([] { (void)data::resize_bilinear(Tensor<float>(Shape{4, 4}), 2, 2); }, "C×H×W");
}

TEST(Resize, NearestKeepsLabelValues) {
  const auto l = ramp_label(2, 3);
  const auto up = data::resize_nearest(l, 4, 6);  // exact doubling
  for (std::int64_t y = 0; y < 4; ++y)
    for (std::int64_t x = 0; x < 6; ++x) EXPECT_EQ(up(y, x), l(y / 2, x / 2));
  const auto l5 = ramp_label(1, 5);
  const auto down = data::resize_nearest(l5, 1, 3);  // scale 5/3: sources ⌊0⌋, ⌊1.67⌋, ⌊3.33⌋
  EXPECT_EQ(down(0, 0), 0);
  EXPECT_EQ(down(0, 1), 1);
  EXPECT_EQ(down(0, 2), 3);
  const auto l7 = ramp_label(7, 9);
  const auto odd = data::resize_nearest(l7, 5, 4);
  std::set<std::int32_t> values(l7.data(), l7.data() + l7.numel());
  for (std::int64_t i = 0; i < odd.numel(); ++i) EXPECT_TRUE(values.count(odd[i])) << odd[i];
  expect_error([&] { (void)data::resize_nearest(l7, 3, -1); }, "height and width > 0");
}

TEST(Crop, InsideAndPadded) {
  const auto im = ramp_image(2, 4, 5);
  const auto lb = ramp_label(4, 5);
  const auto c = data::crop_image(im, 1, 2, 2, 3);
  ASSERT_EQ(c.shape(), Shape({2, 2, 3}));
  for (std::int64_t ch = 0; ch < 2; ++ch)
    for (std::int64_t y = 0; y < 2; ++y)
      for (std::int64_t x = 0; x < 3; ++x) EXPECT_EQ(c(ch, y, x), im(ch, y + 1, x + 2));
  // A window larger than the item: the item at the top left, 0 / 255 elsewhere.
  const auto big = data::crop_image(im, 0, 0, 6, 7);
  const auto bigl = data::crop_label(lb, 0, 0, 6, 7);
  for (std::int64_t y = 0; y < 6; ++y)
    for (std::int64_t x = 0; x < 7; ++x) {
      const bool inside = y < 4 && x < 5;
      EXPECT_EQ(big(1, y, x), inside ? im(1, y, x) : 0.0f);
      EXPECT_EQ(bigl(y, x), inside ? lb(y, x) : 255);
    }
  // A window that starts before the item.
  const auto shifted = data::crop_label(lb, -1, -2, 2, 3);
  EXPECT_EQ(shifted(0, 0), 255);
  EXPECT_EQ(shifted(1, 1), 255);
  EXPECT_EQ(shifted(1, 2), lb(0, 0));
  expect_error([&] { (void)data::crop_label(lb, 0, 0, 0, 2); }, "window");
}

TEST(Flip, MirrorsRows) {
  auto im = ramp_image(3, 2, 5);
  auto lb = ramp_label(2, 5);
  const auto im0 = im;
  const auto lb0 = lb;
  data::flip_image(im);
  data::flip_label(lb);
  for (std::int64_t c = 0; c < 3; ++c)
    for (std::int64_t x = 0; x < 5; ++x) EXPECT_EQ(im(c, 1, x), im0(c, 1, 4 - x));
  for (std::int64_t x = 0; x < 5; ++x) EXPECT_EQ(lb(0, x), lb0(0, 4 - x));
  data::flip_image(im);
  for (std::int64_t i = 0; i < im.numel(); ++i) ASSERT_EQ(im[i], im0[i]);
}

TEST(Augment, DrawsStayInRangeAndVary) {
  const data::AugmentOptions o{.crop_height = 16, .crop_width = 20, .scale_min = 0.5, .scale_max = 2.0, .flip = true};
  std::set<std::int64_t> heights;
  int flips = 0;
  for (std::uint64_t k = 0; k < 200; ++k) {
    const auto d = data::draw_augment(o, 40, 60, PhiloxStream{7, k * 4});
    EXPECT_GE(d.height, 20);
    EXPECT_LE(d.height, 80);
    // One factor for both sides, each rounded to a whole pixel.
    EXPECT_NEAR(static_cast<double>(d.width) / 60.0, static_cast<double>(d.height) / 40.0, 0.5 / 60 + 0.5 / 40);
    EXPECT_GE(d.top, 0);
    EXPECT_LE(d.top, std::max<std::int64_t>(d.height - 16, 0));
    EXPECT_LE(d.left, std::max<std::int64_t>(d.width - 20, 0));
    heights.insert(d.height);
    flips += d.flip ? 1 : 0;
  }
  EXPECT_GT(heights.size(), 30u);
  EXPECT_GT(flips, 70);
  EXPECT_LT(flips, 130);
  // Same stream, same draw; no options, no change.
  const auto a = data::draw_augment(o, 40, 60, PhiloxStream{7, 12}), b = data::draw_augment(o, 40, 60, PhiloxStream{7, 12});
  EXPECT_EQ(a.height, b.height);
  EXPECT_EQ(a.top, b.top);
  const auto none = data::draw_augment({}, 40, 60, PhiloxStream{7, 12});
  EXPECT_EQ(none.height, 40);
  EXPECT_EQ(none.width, 60);
  EXPECT_FALSE(none.flip);
}

TEST(Augment, ImageAndLabelShareTheGeometry) {
  // Each image pixel encodes its label: after a padded crop and flips they still match, and the
  // padding is 0 in the image where it is 255 in the labels.
  Tensor<std::int32_t> lb(Shape{6, 9});
  Tensor<float> im(Shape{3, 6, 9});
  for (std::int64_t i = 0; i < lb.numel(); ++i) {
    lb[i] = static_cast<std::int32_t>(i % 19);
    for (int c = 0; c < 3; ++c) im[c * 54 + i] = static_cast<float>(lb[i]);
  }
  const data::AugmentOptions o{.crop_height = 8, .crop_width = 12, .flip = true};
  int flipped = 0, padded = 0;
  for (std::uint64_t k = 0; k < 16; ++k) {
    auto a = im;
    auto b = lb;
    data::augment(o, PhiloxStream{3, k * 4}, a, b);
    ASSERT_EQ(a.shape(), Shape({3, 8, 12}));
    ASSERT_EQ(b.shape(), Shape({8, 12}));
    for (std::int64_t y = 0; y < 8; ++y)
      for (std::int64_t x = 0; x < 12; ++x) {
        if (b(y, x) == 255) {
          ++padded;
          ASSERT_EQ(a(2, y, x), 0.0f);
        } else {
          ASSERT_EQ(a(2, y, x), static_cast<float>(b(y, x)));
        }
      }
    flipped += b(0, 0) == 255 ? 1 : 0;  // the padding is at the right unless flipped
  }
  EXPECT_GT(padded, 0);
  EXPECT_GT(flipped, 0);
  EXPECT_LT(flipped, 16);
  // Scale jitter resizes both to the drawn size.
  const data::AugmentOptions s{.scale_min = 2.0, .scale_max = 2.0};
  auto a = im;
  auto b = lb;
  data::augment(s, PhiloxStream{3, 0}, a, b);
  EXPECT_EQ(a.shape(), Shape({3, 12, 18}));
  EXPECT_EQ(b.shape(), Shape({12, 18}));
  EXPECT_EQ(b(5, 7), lb(2, 3));
  auto bad = ramp_label(5, 9);
  expect_error([&] { data::augment(o, PhiloxStream{}, a, bad); }, "the image's size");
  expect_error([&] { data::check_augment_options({.crop_height = 4}); }, "crop size");
  expect_error([&] { data::check_augment_options({.scale_min = 0.0}); }, "scale range");
  expect_error([&] { data::check_augment_options({.scale_min = 1.5, .scale_max = 1.2}); }, "scale range");
}

TEST(Normalization, CaffeStyleIsBgrOn255Scale) {
  data::InMemoryDataset ds;
  Tensor<float> im(Shape{3, 2, 2});
  for (std::int64_t i = 0; i < im.numel(); ++i) im[i] = static_cast<float>(i) / 12.0f;
  ds.push_back(im, Tensor<std::int32_t>(Shape{2, 2}));
  const std::int64_t idx[] = {0};
  const auto norm = data::Normalization::caffe();
  const auto x = data::batch_images(ds, idx, norm);
  const float mean_bgr[3] = {104.00698793f, 116.66876762f, 122.67891434f};
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 4; ++p)
      EXPECT_NEAR(x[c * 4 + p], im[(2 - c) * 4 + p] * 255.0f - mean_bgr[c], 1e-4) << c << "," << p;
  // The default is unchanged: RGB, (x − 0.5)/0.25.
  const auto d = data::batch_images(ds, idx);
  EXPECT_FLOAT_EQ(d[0 * 4 + 1], (im[1] - 0.5f) / 0.25f);
  EXPECT_FLOAT_EQ(d[2 * 4 + 3], (im[2 * 4 + 3] - 0.5f) / 0.25f);
}

}  // namespace
