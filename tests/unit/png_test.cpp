// Unit tests of labor/io/png.hpp: round trips, layouts, format conversions and rejections, corrupt
// and truncated files, atomic writes.
#include <gtest/gtest.h>
#include <png.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <labor/io/png.hpp>

#include "support/errors.hpp"
#include "support/bytes.hpp"
#include "support/torch.hpp"

namespace {

using labor::Shape;
using labor::Tensor;
using labor::io::read_png_gray;
using labor::io::read_png_rgb;
using labor::io::write_png;
using labor::testing::expect_error;
using labor::testing::TempDir;

namespace fs = std::filesystem;
using labor::testing::read_bytes;
using labor::testing::write_bytes;


Tensor<std::uint8_t> pattern(Shape shape, int mul = 37) {
  Tensor<std::uint8_t> t(shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<std::uint8_t>((i * mul + 11) % 256);
  return t;
}

/// Writes a PNG with libpng directly, in any format: `samples` holds one value per sample (row-major,
/// channels last); bit depths below 8 are packed by libpng, 16-bit samples are written big-endian.
void write_raw_png(const fs::path& file, int width, int height, int color_type, int bit_depth,
                   const std::vector<int>& samples, bool interlace = false, int palette_size = 0, bool trns = false) {
  FILE* fp = std::fopen(file.c_str(), "wb");
  ASSERT_NE(fp, nullptr);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, fp);
  png_set_IHDR(png, info, width, height, bit_depth, color_type, interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  std::vector<png_color> palette;
  for (int i = 0; i < palette_size; ++i)
    palette.push_back({static_cast<png_byte>(i * 10), static_cast<png_byte>(i * 20), static_cast<png_byte>(255 - i)});
  if (palette_size) png_set_PLTE(png, info, palette.data(), palette_size);
  std::vector<png_byte> alpha(static_cast<std::size_t>(palette_size), 128);
  if (trns) png_set_tRNS(png, info, alpha.data(), palette_size, nullptr);
  png_write_info(png, info);
  if (bit_depth < 8) png_set_packing(png);
  const int channels = color_type == PNG_COLOR_TYPE_RGB          ? 3
                       : color_type == PNG_COLOR_TYPE_RGB_ALPHA  ? 4
                       : color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                                                                 : 1;
  const int bytes = bit_depth == 16 ? 2 : 1;
  std::vector<std::vector<png_byte>> rows(height,
                                          std::vector<png_byte>(static_cast<std::size_t>(width * channels * bytes)));
  for (int y = 0; y < height; ++y)
    for (int k = 0; k < width * channels; ++k) {
      const int v = samples[static_cast<std::size_t>(y * width * channels + k)];
      if (bytes == 2) {
        rows[y][2 * k] = static_cast<png_byte>(v >> 8);
        rows[y][2 * k + 1] = static_cast<png_byte>(v & 0xff);
      } else {
        rows[y][k] = static_cast<png_byte>(v);
      }
    }
  std::vector<png_bytep> ptrs;
  for (auto& r : rows) ptrs.push_back(r.data());
  png_write_image(png, ptrs.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(fp);
}

bool no_temp_files(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) return false;
  return true;
}

TEST(Png, GrayRoundTrip) {
  TempDir dir;
  const auto img = pattern(Shape{13, 29});
  write_png(dir / "g.png", img);
  const auto back = read_png_gray(dir / "g.png");
  ASSERT_EQ(back.shape(), Shape({13, 29}));
  for (std::int64_t i = 0; i < img.numel(); ++i) ASSERT_EQ(back[i], img[i]) << i;
  EXPECT_TRUE(no_temp_files(dir.path()));
}

TEST(Png, RgbRoundTripIsChannelsLast) {
  TempDir dir;
  Tensor<std::uint8_t> img(Shape{4, 5, 3});
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 5; ++x)
      for (int c = 0; c < 3; ++c) img(y, x, c) = static_cast<std::uint8_t>(100 * c + 10 * y + x);
  write_png(dir / "c.png", img);
  const auto back = read_png_rgb(dir / "c.png");
  ASSERT_EQ(back.shape(), Shape({4, 5, 3}));
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 5; ++x)
      for (int c = 0; c < 3; ++c) EXPECT_EQ(back[(y * 5 + x) * 3 + c], 100 * c + 10 * y + x);
  // A grayscale image read as RGB repeats its value in the three channels; H×W×1 is written as gray.
  write_png(dir / "g1.png", pattern(Shape{3, 2, 1}));
  const auto g = read_png_gray(dir / "g1.png");
  EXPECT_EQ(g.shape(), Shape({3, 2}));
  const auto rgb = read_png_rgb(dir / "g1.png");
  for (std::int64_t i = 0; i < 6; ++i)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(rgb[i * 3 + c], g[i]);
}

TEST(Png, FastEncodingRoundTripsAndDiffersOnlyInTheBytes) {
  // {.fast = true} changes how the pixels are compressed, never which pixels are stored.
  TempDir dir;
  Tensor<std::uint8_t> img(Shape{40, 64, 3});
  for (std::int64_t i = 0; i < img.numel(); ++i) img[i] = static_cast<std::uint8_t>((i * 37 + i / 192 * 11) % 251);
  write_png(dir / "small.png", img);
  write_png(dir / "fast.png", img, {.fast = true});
  const auto back = read_png_rgb(dir / "fast.png");
  ASSERT_EQ(back.shape(), img.shape());
  for (std::int64_t i = 0; i < img.numel(); ++i) ASSERT_EQ(back[i], img[i]) << i;
  EXPECT_NE(read_bytes(dir / "fast.png"), read_bytes(dir / "small.png"));
  EXPECT_TRUE(no_temp_files(dir.path()));
}

TEST(Png, OverwriteReplacesFile) {
  TempDir dir;
  write_png(dir / "a.png", pattern(Shape{8, 8}));
  const auto second = pattern(Shape{3, 4}, 5);
  write_png(dir / "a.png", second);
  const auto back = read_png_gray(dir / "a.png");
  ASSERT_EQ(back.shape(), Shape({3, 4}));
  for (std::int64_t i = 0; i < 12; ++i) EXPECT_EQ(back[i], second[i]);
}

TEST(Png, PaletteGivesIndicesOrColours) {
  TempDir dir;
  std::vector<int> idx = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  write_raw_png(dir / "p.png", 4, 3, PNG_COLOR_TYPE_PALETTE, 8, idx, false, 16);
  const auto g = read_png_gray(dir / "p.png");
  ASSERT_EQ(g.shape(), Shape({3, 4}));
  for (int i = 0; i < 12; ++i) EXPECT_EQ(g[i], i);
  const auto c = read_png_rgb(dir / "p.png");
  ASSERT_EQ(c.shape(), Shape({3, 4, 3}));
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(c[i * 3 + 0], i * 10);
    EXPECT_EQ(c[i * 3 + 1], i * 20);
    EXPECT_EQ(c[i * 3 + 2], 255 - i);
  }
  // A tRNS chunk (palette transparency) is dropped, never turned into a fourth channel.
  write_raw_png(dir / "pt.png", 4, 3, PNG_COLOR_TYPE_PALETTE, 8, idx, false, 16, true);
  const auto ct = read_png_rgb(dir / "pt.png");
  ASSERT_EQ(ct.shape(), Shape({3, 4, 3}));
  for (int i = 0; i < 36; ++i) EXPECT_EQ(ct[i], c[i]);
  EXPECT_EQ(read_png_gray(dir / "pt.png")[5], 5);
  // 4-bit palette: indices unpacked one per byte.
  write_raw_png(dir / "p4.png", 5, 1, PNG_COLOR_TYPE_PALETTE, 4, {3, 0, 15, 7, 1}, false, 16);
  const auto g4 = read_png_gray(dir / "p4.png");
  EXPECT_EQ(std::vector<int>(g4.span().begin(), g4.span().end()), (std::vector<int>{3, 0, 15, 7, 1}));
}

TEST(Png, LowBitDepthGrayAndInterlace) {
  TempDir dir;
  write_raw_png(dir / "b.png", 9, 2, PNG_COLOR_TYPE_GRAY, 1, {1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  const auto g = read_png_gray(dir / "b.png");
  ASSERT_EQ(g.shape(), Shape({2, 9}));
  EXPECT_EQ(g[0], 1) << "gray read keeps stored values unscaled";
  EXPECT_EQ(g[1], 0);
  EXPECT_EQ(g[17], 1);
  const auto c = read_png_rgb(dir / "b.png");
  EXPECT_EQ(c[0], 255) << "rgb read scales low bit depths to 8 bits";
  EXPECT_EQ(c[17 * 3 + 2], 255);

  std::vector<int> v(23 * 17);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int>((i * 7) % 256);
  write_raw_png(dir / "i.png", 23, 17, PNG_COLOR_TYPE_GRAY, 8, v, true);
  const auto gi = read_png_gray(dir / "i.png");
  ASSERT_EQ(gi.shape(), Shape({17, 23}));
  for (std::size_t i = 0; i < v.size(); ++i) ASSERT_EQ(gi[static_cast<std::int64_t>(i)], v[i]) << i;
}

TEST(Png, RejectsUnsupportedFormats) {
  TempDir dir;
  write_raw_png(dir / "g16.png", 2, 2, PNG_COLOR_TYPE_GRAY, 16, {0, 1000, 65535, 3});
  expect_error([&] { (void)read_png_gray(dir / "g16.png"); }, {"g16.png", "bit depth", "16"});
  expect_error([&] { (void)read_png_rgb(dir / "g16.png"); }, {"g16.png", "bit depth"});
  write_raw_png(dir / "ga.png", 2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, {1, 255, 2, 255});
  expect_error([&] { (void)read_png_gray(dir / "ga.png"); }, {"ga.png", "alpha"});
  expect_error([&] { (void)read_png_rgb(dir / "ga.png"); }, {"ga.png", "alpha"});
  write_raw_png(dir / "rgba.png", 1, 1, PNG_COLOR_TYPE_RGB_ALPHA, 8, {1, 2, 3, 4});
  expect_error([&] { (void)read_png_rgb(dir / "rgba.png"); }, {"rgba.png", "RGBA"});
  write_png(dir / "rgb.png", pattern(Shape{2, 2, 3}));
  expect_error([&] { (void)read_png_gray(dir / "rgb.png"); }, {"rgb.png", "expected grayscale or palette", "RGB"});
}

TEST(Png, MissingCorruptAndTruncatedFiles) {
  TempDir dir;
  expect_error([&] { (void)read_png_gray(dir / "missing.png"); }, {"missing.png", "cannot open"});
  write_bytes(dir / "text.png", "hello, this is not a png file at all");
  expect_error([&] { (void)read_png_gray(dir / "text.png"); }, {"text.png", "not a PNG"});
  write_bytes(dir / "empty.png", "");
  expect_error([&] { (void)read_png_gray(dir / "empty.png"); }, {"empty.png", "not a PNG"});

  write_png(dir / "ok.png", pattern(Shape{40, 50}));
  const auto bytes = read_bytes(dir / "ok.png");
  // Every truncation point fails cleanly with the file's name (header, image data or IEND lost).
  for (std::size_t cut :
       {std::size_t{8}, std::size_t{20}, std::size_t{40}, bytes.size() / 2, bytes.size() - 13, bytes.size() - 1}) {
    write_bytes(dir / "cut.png", bytes.substr(0, cut));
    expect_error([&] { (void)read_png_gray(dir / "cut.png"); }, {"cut.png"});
  }
  // A flipped byte inside the image data breaks the chunk CRC.
  auto bad = bytes;
  bad[bytes.size() / 2] = static_cast<char>(bad[bytes.size() / 2] ^ 0x5a);
  write_bytes(dir / "bad.png", bad);
  expect_error([&] { (void)read_png_gray(dir / "bad.png"); }, {"bad.png", "corrupt"});
}

TEST(Png, WriteErrors) {
  TempDir dir;
  expect_error([&] { write_png(dir / "x.png", Tensor<std::uint8_t>(Shape{2, 2, 4})); }, {"x.png", "shape"});
  expect_error([&] { write_png(dir / "x.png", Tensor<std::uint8_t>(Shape{0, 3})); }, {"x.png", "positive"});
  expect_error([&] { write_png(dir / "no" / "such" / "x.png", pattern(Shape{2, 2})); }, {"x.png", "cannot create"});
  fs::create_directory(dir / "d.png");
  expect_error([&] { write_png(dir / "d.png", pattern(Shape{2, 2})); }, {"d.png", "directory"});
  EXPECT_TRUE(fs::is_directory(dir / "d.png"));
  EXPECT_FALSE(fs::exists(dir / "x.png"));
  EXPECT_TRUE(no_temp_files(dir.path()));
}

}  // namespace
