// Unit tests of labor/io/draw.hpp (font, rectangles, markers, captions, enlargement) and
// labor/annotate/render.hpp (the picture of one image's query), pixel by pixel.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <labor/annotate/render.hpp>
#include <labor/io/draw.hpp>

#include "support/errors.hpp"

namespace {

using labor::Shape;
using labor::Tensor;
using labor::io::Rgb;
using labor::testing::expect_error;
namespace io = labor::io;
namespace annotate = labor::annotate;

using Image = Tensor<std::uint8_t>;

constexpr Rgb white = {255, 255, 255};
constexpr Rgb red = {255, 0, 0};

Rgb at(const Image& im, std::int64_t y, std::int64_t x) {
  const std::uint8_t* p = im.data() + (y * im.size(1) + x) * 3;
  return {p[0], p[1], p[2]};
}

Image canvas(std::int64_t h, std::int64_t w, std::uint8_t value = 0) {
  return Image::full(Shape{h, w, 3}, value);
}

/// Whether font pixel (gy, gx) of character c is lit.
bool lit(char c, int gy, int gx) {
  return (io::detail::glyph(static_cast<unsigned char>(c))[gy] >> (4 - gx)) & 1u;
}

/// `small` equals the window of `big` whose top-left corner is (oy, ox).
void expect_window_equal(const Image& small, const Image& big, std::int64_t oy, std::int64_t ox) {
  for (std::int64_t y = 0; y < small.size(0); ++y)
    for (std::int64_t x = 0; x < small.size(1); ++x)
      ASSERT_EQ(at(small, y, x), at(big, y + oy, x + ox)) << "at (" << y << ", " << x << ")";
}

TEST(Draw, ToRgb8ClampsRoundsAndInterleaves) {
  Tensor<float> img(Shape{3, 1, 3});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float values[9] = {-1.0f, 0.5f, 2.0f, 0.0f, 1.0f, nan, 0.2f, 0.999f, 0.001f};
  for (int i = 0; i < 9; ++i) img[i] = values[i];
  const Image out = io::to_rgb8(img);
  ASSERT_EQ(out.shape(), (Shape{1, 3, 3}));
  EXPECT_EQ(at(out, 0, 0), (Rgb{0, 0, 51}));
  EXPECT_EQ(at(out, 0, 1), (Rgb{128, 255, 255}));
  EXPECT_EQ(at(out, 0, 2), (Rgb{255, 0, 0}));
  expect_error(
      [] {
        (void)io::to_rgb8(Tensor<float>(Shape{4, 2, 2}));
      },
      "to_rgb8: image: expected 3×H×W, got [4, 2, 2]");
}

TEST(Draw, TextSizeCountsCharactersAtScale) {
  EXPECT_EQ(io::text_size(""), (std::pair<std::int64_t, std::int64_t>{7, 0}));
  EXPECT_EQ(io::text_size("A"), (std::pair<std::int64_t, std::int64_t>{7, 5}));
  EXPECT_EQ(io::text_size("AB", 2), (std::pair<std::int64_t, std::int64_t>{14, 22}));
  EXPECT_EQ(io::text_size("\xc3\xa9x", 1).second, 11);  // "éx": the UTF-8 sequence is one character
  expect_error([] { (void)io::text_size("A", 0); }, "text_size: scale: expected >= 1, got 0");
}

TEST(Draw, GlyphIsLitExactlyWhereItsBitmapIsInsideItsBox) {
  const int s = 3;
  const std::int64_t y0 = 4, x0 = 6;
  for (const char c : std::string("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_-.:%()/#+=,")) {
    Image im = canvas(40, 40);
    io::draw_text(im, y0, x0, std::string(1, c), white, s);
    for (std::int64_t y = 0; y < 40; ++y)
      for (std::int64_t x = 0; x < 40; ++x) {
        const bool inside = y >= y0 && y < y0 + 7 * s && x >= x0 && x < x0 + 5 * s;
        const bool want = inside && lit(c, static_cast<int>((y - y0) / s), static_cast<int>((x - x0) / s));
        ASSERT_EQ(at(im, y, x), want ? white : (Rgb{0, 0, 0})) << "'" << c << "' at (" << y << ", " << x << ")";
      }
  }
}

TEST(Draw, FontGlyphsAreDistinctAndVisible) {
  const std::string chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_-.:%()/#+=,!?'*<>[]|";
  std::set<io::detail::GlyphBits> seen;
  for (const char c : chars) {
    const auto& g = io::detail::glyph(static_cast<unsigned char>(c));
    EXPECT_NE(g, io::detail::unknown_glyph) << c;
    int on = 0;
    for (auto row : g) on += std::popcount(static_cast<unsigned>(row));
    EXPECT_GT(on, 0) << c;
    EXPECT_TRUE(seen.insert(g).second) << "'" << c << "' looks like another glyph";
  }
  for (char c = 'a'; c <= 'z'; ++c)
    EXPECT_EQ(io::detail::glyph(static_cast<unsigned char>(c)), io::detail::glyph(static_cast<unsigned char>(c - 32)));
  for (auto row : io::detail::glyph(' ')) EXPECT_EQ(row, 0);
}

TEST(Draw, UnknownCharactersAreBoxesAndGlyphsAdvanceSixPixels) {
  Image im = canvas(9, 20);
  io::draw_text(im, 1, 1, "~\xe2\x82\xac", red);  // '~' and '€': two boxes
  for (int k = 0; k < 2; ++k)
    for (int gy = 0; gy < 7; ++gy)
      for (int gx = 0; gx < 5; ++gx) {
        const bool border = gy == 0 || gy == 6 || gx == 0 || gx == 4;
        EXPECT_EQ(at(im, 1 + gy, 1 + 6 * k + gx), border ? red : (Rgb{0, 0, 0}));
      }
  for (std::int64_t y = 0; y < 9; ++y) EXPECT_EQ(at(im, y, 13), (Rgb{0, 0, 0}));  // nothing after the second box
}

TEST(Draw, TextIsClippedAtEveryBorder) {
  const std::string text = "LABOR 42%";
  const auto [th, tw] = io::text_size(text, 2);
  // Drawn fully on a big canvas, then at offsets that cut each side of a small image: the visible
  // part must be the matching window of the full drawing, and nothing else may change.
  Image full = canvas(th + 40, tw + 40, 7);
  io::draw_text(full, 20, 20, text, white, 2);
  for (const auto& [y, x] : std::vector<std::pair<std::int64_t, std::int64_t>>{
           {-5, -7}, {-5, 10}, {3, -11}, {6, 30}, {-100, 0}, {0, -1000}, {50, 50}}) {
    Image small = canvas(12, 40, 7);
    io::draw_text(small, y, x, text, white, 2);
    for (std::int64_t yy = 0; yy < 12; ++yy)
      for (std::int64_t xx = 0; xx < 40; ++xx) {
        const std::int64_t fy = yy - y + 20, fx = xx - x + 20;
        const bool in_full = fy >= 0 && fy < full.size(0) && fx >= 0 && fx < full.size(1);
        ASSERT_EQ(at(small, yy, xx), in_full ? at(full, fy, fx) : (Rgb{7, 7, 7})) << y << "," << x;
      }
  }
}

TEST(Draw, FillRectClipsAndChecksItsArguments) {
  Image im = canvas(5, 6);
  io::fill_rect(im, -2, 4, 4, 10, red);
  for (std::int64_t y = 0; y < 5; ++y)
    for (std::int64_t x = 0; x < 6; ++x) EXPECT_EQ(at(im, y, x), (y < 2 && x >= 4) ? red : (Rgb{0, 0, 0}));
  io::fill_rect(im, 10, 10, 3, 3, red);  // wholly outside: nothing
  io::fill_rect(im, 1, 1, 0, 3, red);    // empty: nothing
  EXPECT_EQ(at(im, 1, 1), (Rgb{0, 0, 0}));
  expect_error([&] { io::fill_rect(im, 0, 0, -1, 2, red); }, "fill_rect: size: expected h, w >= 0, got -1×2");
  Image gray(Shape{4, 4});
  expect_error([&] { io::draw_text(gray, 0, 0, "A", red); }, "draw_text: image: expected H×W×3, got [4, 4]");
  Image rgba(Shape{4, 4, 4});
  expect_error([&] { io::fill_rect(rgba, 0, 0, 1, 1, red); }, "fill_rect: image: expected H×W×3, got [4, 4, 4]");
  expect_error([&] { io::draw_text(im, 0, 0, "A", red, 0); }, "draw_text: scale: expected >= 1, got 0");
}

TEST(Draw, MarkerIsARingWithADarkOutlineAndLeavesItsCentre) {
  const int r = 8, t = 2;  // thickness max(1, r/4)
  Image im = canvas(40, 40, 100);
  io::draw_marker(im, 20, 20, r, red);
  EXPECT_EQ(at(im, 20, 20), (Rgb{100, 100, 100}));
  for (const auto& [dy, dx] : std::vector<std::pair<int, int>>{{0, 1}, {1, 0}, {0, -1}, {-1, 0}}) {
    EXPECT_EQ(at(im, 20 + dy * r, 20 + dx * r), red);
    EXPECT_EQ(at(im, 20 + dy * (r - t + 1), 20 + dx * (r - t + 1)), red);
    EXPECT_EQ(at(im, 20 + dy * (r + 1), 20 + dx * (r + 1)), io::dark);
    EXPECT_EQ(at(im, 20 + dy * (r - t), 20 + dx * (r - t)), io::dark);
    EXPECT_EQ(at(im, 20 + dy * (r + 2), 20 + dx * (r + 2)), (Rgb{100, 100, 100}));
    EXPECT_EQ(at(im, 20 + dy * (r - t - 1), 20 + dx * (r - t - 1)), (Rgb{100, 100, 100}));
  }
  // Only pixels within r + 3/2 of the centre change.
  for (std::int64_t y = 0; y < 40; ++y)
    for (std::int64_t x = 0; x < 40; ++x)
      if (std::hypot(static_cast<double>(y - 20), static_cast<double>(x - 20)) > r + 1.5) {
        ASSERT_EQ(at(im, y, x), (Rgb{100, 100, 100}));
      }
  expect_error([&] { io::draw_marker(im, 0, 0, 0, red); }, "draw_marker: radius: expected >= 1, got 0");
}

TEST(Draw, MarkerAtACornerIsClipped) {
  Image full = canvas(30, 30, 50);
  io::draw_marker(full, 12, 12, 6, red);
  Image corner = canvas(10, 10, 50);
  io::draw_marker(corner, 0, 0, 6, red);  // the same marker, its centre on the corner pixel
  expect_window_equal(corner, full, 12, 12);
}

TEST(Draw, CaptionBandSitsAboveTheImage) {
  Image im = canvas(10, 80, 90);
  const Image out = io::with_caption(im, "GT", 2);
  const std::int64_t band = 14 + 8;
  ASSERT_EQ(out.shape(), (Shape{band + 10, 80, 3}));
  for (std::int64_t y = 0; y < 10; ++y)
    for (std::int64_t x = 0; x < 80; ++x) ASSERT_EQ(at(out, band + y, x), (Rgb{90, 90, 90}));
  // "GT" (22 pixels wide at scale 2) centred: x from 29, y from 4.
  Image expected = canvas(band, 80);
  io::fill_rect(expected, 0, 0, band, 80, io::dark);
  io::draw_text(expected, 4, 29, "GT", white, 2);
  expect_window_equal(expected, out, 0, 0);
  // Too long for the band: from the left edge, clipped at the right.
  const Image long_caption = io::with_caption(canvas(4, 20), "A LONG CAPTION", 1);
  ASSERT_EQ(long_caption.shape(), (Shape{15, 20, 3}));
  for (int gy = 0; gy < 7; ++gy)
    for (int gx = 0; gx < 5; ++gx) EXPECT_EQ(at(long_caption, 2 + gy, gx) == white, lit('A', gy, gx));
  expect_error([] { (void)io::with_caption(Image(Shape{3, 3}), "x"); }, "with_caption: image: expected H×W×3");
}

TEST(Draw, EnlargeRepeatsPixels) {
  Image im(Shape{2, 3, 3});
  for (std::int64_t i = 0; i < im.numel(); ++i) im[i] = static_cast<std::uint8_t>(i * 11);
  const Image big = io::enlarge(im, 3);
  ASSERT_EQ(big.shape(), (Shape{6, 9, 3}));
  for (std::int64_t y = 0; y < 6; ++y)
    for (std::int64_t x = 0; x < 9; ++x) EXPECT_EQ(at(big, y, x), at(im, y / 3, x / 3));
  expect_error([&] { (void)io::enlarge(im, 0); }, "enlarge: factor: expected >= 1, got 0");
  EXPECT_EQ(io::enlargement_for(64, 128, 512), 8);
  EXPECT_EQ(io::enlargement_for(100, 300, 128), 2);
  EXPECT_EQ(io::enlargement_for(600, 700, 512), 1);
  EXPECT_EQ(io::enlargement_for(0, 5, 512), 1);
}

// ---- render_query -------------------------------------------------------------------------------

Tensor<float> gray_image(std::int64_t h, std::int64_t w, float v = 0.5f) {
  return Tensor<float>::full(Shape{3, h, w}, v);
}

labor::samplers::ImageQuery point_query(std::int64_t h, std::int64_t w, std::vector<std::int64_t> pixels) {
  labor::samplers::ImageQuery q;
  q.height = h;
  q.width = w;
  q.pixels = std::move(pixels);
  q.classes.assign(q.pixels.size(), 0);
  return q;
}

TEST(RenderQuery, ScaleIsAutomaticOrGiven) {
  const auto q = point_query(64, 128, {5});
  EXPECT_EQ(annotate::render_query(gray_image(64, 128), q).shape(), (Shape{512, 1024, 3}));  // ⌈512/64⌉ = 8
  EXPECT_EQ(annotate::render_query(gray_image(64, 128), q, {.scale = 3}).shape(), (Shape{192, 384, 3}));
  EXPECT_EQ(annotate::render_query(gray_image(600, 700), point_query(600, 700, {5})).shape(), (Shape{600, 700, 3}));
  EXPECT_EQ(annotate::render_query(gray_image(100, 300), point_query(100, 300, {})).shape(), (Shape{600, 1800, 3}));
}

TEST(RenderQuery, EveryQueriedPixelGetsAMarkerAndItsNumber) {
  const std::int64_t h = 64, w = 128;
  // Far apart, one at the right edge (its number goes to the left of the ring).
  const auto q = point_query(h, w, {3 * w + 4, 20 * w + 60, 40 * w + 100, 60 * w + 127});
  const Image out = annotate::render_query(gray_image(h, w), q);
  const Image plain = annotate::render_query(gray_image(h, w), q, {.numbered = false});
  const int s = 8;
  const auto st = annotate::detail::point_style(out.size(0), out.size(1), s);
  EXPECT_EQ(st.radius, 8);
  EXPECT_EQ(st.text_scale, 2);
  const Rgb gray = {128, 128, 128};
  for (std::size_t k = 0; k < q.pixels.size(); ++k) {
    const std::int64_t cy = (q.pixels[k] / w) * s + s / 2, cx = (q.pixels[k] % w) * s + s / 2;
    EXPECT_EQ(at(out, cy, cx), gray) << k;  // the queried pixel itself stays visible
    for (const auto& [dy, dx] : std::vector<std::pair<int, int>>{{0, 1}, {1, 0}, {0, -1}, {-1, 0}}) {
      const std::int64_t y = cy + dy * st.radius, x = cx + dx * st.radius;
      if (y < 0 || y >= out.size(0) || x < 0 || x >= out.size(1)) continue;
      EXPECT_EQ(at(out, y, x), annotate::detail::marker_colour) << k;
      EXPECT_EQ(at(plain, y, x), annotate::detail::marker_colour) << k;
    }
    // The number box: k + 1 in the marker colour on dark, right of the ring (left at the right edge).
    const std::string number = std::to_string(k + 1);
    const auto [th, tw] = io::text_size(number, st.text_scale);
    const std::int64_t by = cy - (th + 4) / 2, bx = k == 3 ? cx - st.radius - 4 - (tw + 4) : cx + st.radius + 4;
    Image box = canvas(th + 2 * st.text_scale, tw + 2 * st.text_scale);
    io::fill_rect(box, 0, 0, box.size(0), box.size(1), io::dark);
    io::draw_text(box, st.text_scale, st.text_scale, number, annotate::detail::marker_colour, st.text_scale);
    Image box_out = canvas(box.size(0), box.size(1)), box_plain = box_out;
    for (std::int64_t y = 0; y < box.size(0); ++y)
      for (std::int64_t x = 0; x < box.size(1); ++x) {
        const auto c = at(out, by + y, bx + x), p = at(plain, by + y, bx + x);
        std::copy_n(c.data(), 3, box_out.data() + (y * box.size(1) + x) * 3);
        std::copy_n(p.data(), 3, box_plain.data() + (y * box.size(1) + x) * 3);
        ASSERT_EQ(p, gray) << "unnumbered picture has something at the number of " << k;
      }
    expect_window_equal(box, box_out, 0, 0);
  }
  // Far from every marker the picture is the enlarged image.
  EXPECT_EQ(at(out, 300, 300), gray);
}

TEST(RenderQuery, NumbersOfCrowdedPointsCoverNoRingAndNoOtherNumber) {
  const std::int64_t h = 64, w = 64;
  // A 3×3 cluster two pixels apart, two points side by side, points at the corners.
  std::vector<std::int64_t> pixels = {0, w - 1, (h - 1) * w, h * w - 1, 30 * w + 10, 30 * w + 12};
  for (std::int64_t dy = 0; dy < 3; ++dy)
    for (std::int64_t dx = 0; dx < 3; ++dx) pixels.push_back((20 + 2 * dy) * w + 40 + 2 * dx);
  std::sort(pixels.begin(), pixels.end());
  const auto q = point_query(h, w, pixels);
  const int s = 8;
  const Image out = annotate::render_query(gray_image(h, w), q, {.scale = s});
  const auto st = annotate::detail::point_style(out.size(0), out.size(1), s);
  std::vector<std::pair<std::int64_t, std::int64_t>> centres, sizes;
  for (std::size_t k = 0; k < pixels.size(); ++k) {
    centres.emplace_back((pixels[k] / w) * s + s / 2, (pixels[k] % w) * s + s / 2);
    const auto [th, tw] = io::text_size(std::to_string(k + 1), st.text_scale);
    sizes.emplace_back(th + 2 * st.text_scale, tw + 2 * st.text_scale);
  }
  const auto boxes = annotate::detail::place_labels(centres, sizes, out.size(0), out.size(1), st);
  ASSERT_EQ(boxes.size(), pixels.size());
  std::int64_t free_boxes = 0;
  for (std::size_t k = 0; k < boxes.size(); ++k) {
    const auto& b = boxes[k];
    EXPECT_TRUE(b.y >= 0 && b.x >= 0 && b.y + b.h <= out.size(0) && b.x + b.w <= out.size(1)) << k;
    bool free = true;
    for (std::size_t j = 0; j < boxes.size(); ++j) {
      const std::int64_t r = st.radius + 2;
      const annotate::detail::Box ring{centres[j].first - r, centres[j].second - r, 2 * r + 1, 2 * r + 1};
      if (annotate::detail::overlaps(b, ring) || (j != k && annotate::detail::overlaps(b, boxes[j]))) free = false;
    }
    free_boxes += free;
  }
  // The cluster's centre point has no free place around it; every other number has one.
  EXPECT_GE(free_boxes, static_cast<std::int64_t>(pixels.size()) - 1);
  // The number of the point in the top-left corner goes right of it, shifted down into the picture.
  EXPECT_GT(boxes[0].x, centres[0].second);
  EXPECT_EQ(boxes[0].y, centres[0].first);
}

TEST(RenderQuery, DenseQueryTintsQueriedPixelsOverADimmedImage) {
  const std::int64_t h = 64, w = 64;
  std::vector<std::int64_t> pixels;
  for (std::int64_t i = 0; i < 40 * w; ++i) pixels.push_back(i);  // rows 0..39: 2560 pixels, a dense query
  const auto q = point_query(h, w, pixels);
  const Image out = annotate::render_query(gray_image(h, w), q, {.scale = 2});
  ASSERT_EQ(out.shape(), (Shape{128, 128, 3}));
  for (std::int64_t y = 0; y < 128; ++y)
    for (std::int64_t x = 0; x < 128; ++x) {
      const Rgb c = at(out, y, x);
      if (y < 80) {
        ASSERT_EQ(c, (Rgb{192, 64, 192})) << y << "," << x;  // (128 + (255, 0, 255)) / 2
      } else {
        ASSERT_EQ(c, (Rgb{51, 51, 51})) << y << "," << x;  // 0.4·128
      }
    }
  // The same pixels under a higher point limit are points.
  EXPECT_EQ(at(annotate::render_query(gray_image(h, w), q, {.scale = 2, .point_limit = 5000}), 100, 100),
            (Rgb{128, 128, 128}));
}

TEST(RenderQuery, RefusesMismatchedImagesAndPixels) {
  expect_error([] { (void)annotate::render_query(gray_image(8, 9), point_query(8, 8, {1})); },
               "render_query: image: expected 3×H×W with H×W = the query's 8×8, got [3, 8, 9]");
  expect_error(
      [] {
        (void)annotate::render_query(gray_image(8, 8), point_query(8, 8, {1, 64}));
      },
      "render_query: pixels[1]: expected in [0, 64), got 64");
  expect_error([] { (void)annotate::render_query(gray_image(8, 8), point_query(8, 8, {1}), {.scale = -1}); },
               "render_query: scale: expected >= 0");
}

}  // namespace
