#pragma once
/// @file draw.hpp
/// Drawing on 8-bit RGB images in io::write_png's layout (H×W×3 bytes, channels last: element
/// (y, x, c) at (y·W + x)·3 + c): text in a built-in 5×7 bitmap font, filled rectangles, point
/// markers, caption bands and nearest-neighbour enlargement. Every drawing call clips to the
/// image: parts outside it are not drawn, nothing outside the image's bytes is ever written.
///
/// The font has the digits, A–Z (lower-case letters are drawn as upper-case), space and
/// `_-.:%()/#+=,!?'*<>[]|`. Any other character (a UTF-8 sequence counts as one) is drawn as a box.
/// A glyph is 5×7 pixels; glyphs are 1 pixel apart, all of it multiplied by `scale`.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <utility>

#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"

namespace labor::io {

/// An 8-bit RGB colour.
using Rgb = std::array<std::uint8_t, 3>;

namespace detail {

/// Glyph cell size and the gap between glyphs, in font pixels.
inline constexpr int glyph_width = 5, glyph_height = 7, glyph_gap = 1;

/// A glyph drawn as 7 rows of 5 characters, '#' lit.
struct GlyphPattern {
  char c;
  const char* rows;
};

// labor's own 5×7 font: each glyph's 7 rows of 5 characters, top row first.
// clang-format off
inline constexpr GlyphPattern glyph_patterns[] = {
    {'0', ".###." "#...#" "#..##" "#.#.#" "##..#" "#...#" ".###."},
    {'1', "..#.." ".##.." "..#.." "..#.." "..#.." "..#.." ".###."},
    {'2', ".###." "#...#" "....#" "...#." "..#.." ".#..." "#####"},
    {'3', "####." "....#" "....#" ".###." "....#" "....#" "####."},
    {'4', "...#." "..##." ".#.#." "#..#." "#####" "...#." "...#."},
    {'5', "#####" "#...." "####." "....#" "....#" "#...#" ".###."},
    {'6', "..##." ".#..." "#...." "####." "#...#" "#...#" ".###."},
    {'7', "#####" "....#" "...#." "..#.." ".#..." ".#..." ".#..."},
    {'8', ".###." "#...#" "#...#" ".###." "#...#" "#...#" ".###."},
    {'9', ".###." "#...#" "#...#" ".####" "....#" "...#." ".##.."},
    {'A', ".###." "#...#" "#...#" "#####" "#...#" "#...#" "#...#"},
    {'B', "####." "#...#" "#...#" "####." "#...#" "#...#" "####."},
    {'C', ".###." "#...#" "#...." "#...." "#...." "#...#" ".###."},
    {'D', "###.." "#..#." "#...#" "#...#" "#...#" "#..#." "###.."},
    {'E', "#####" "#...." "#...." "####." "#...." "#...." "#####"},
    {'F', "#####" "#...." "#...." "####." "#...." "#...." "#...."},
    {'G', ".###." "#...#" "#...." "#.###" "#...#" "#...#" ".####"},
    {'H', "#...#" "#...#" "#...#" "#####" "#...#" "#...#" "#...#"},
    {'I', ".###." "..#.." "..#.." "..#.." "..#.." "..#.." ".###."},
    {'J', "..###" "...#." "...#." "...#." "...#." "#..#." ".##.."},
    {'K', "#...#" "#..#." "#.#.." "##..." "#.#.." "#..#." "#...#"},
    {'L', "#...." "#...." "#...." "#...." "#...." "#...." "#####"},
    {'M', "#...#" "##.##" "#.#.#" "#.#.#" "#...#" "#...#" "#...#"},
    {'N', "#...#" "#...#" "##..#" "#.#.#" "#..##" "#...#" "#...#"},
    {'O', ".###." "#...#" "#...#" "#...#" "#...#" "#...#" ".###."},
    {'P', "####." "#...#" "#...#" "####." "#...." "#...." "#...."},
    {'Q', ".###." "#...#" "#...#" "#...#" "#.#.#" "#..#." ".##.#"},
    {'R', "####." "#...#" "#...#" "####." "#.#.." "#..#." "#...#"},
    {'S', ".####" "#...." "#...." ".###." "....#" "....#" "####."},
    {'T', "#####" "..#.." "..#.." "..#.." "..#.." "..#.." "..#.."},
    {'U', "#...#" "#...#" "#...#" "#...#" "#...#" "#...#" ".###."},
    {'V', "#...#" "#...#" "#...#" "#...#" "#...#" ".#.#." "..#.."},
    {'W', "#...#" "#...#" "#...#" "#.#.#" "#.#.#" "#.#.#" ".#.#."},
    {'X', "#...#" "#...#" ".#.#." "..#.." ".#.#." "#...#" "#...#"},
    {'Y', "#...#" "#...#" ".#.#." "..#.." "..#.." "..#.." "..#.."},
    {'Z', "#####" "....#" "...#." "..#.." ".#..." "#...." "#####"},
    {' ', "....." "....." "....." "....." "....." "....." "....."},
    {'_', "....." "....." "....." "....." "....." "....." "#####"},
    {'-', "....." "....." "....." "#####" "....." "....." "....."},
    {'.', "....." "....." "....." "....." "....." ".##.." ".##.."},
    {':', "....." ".##.." ".##.." "....." ".##.." ".##.." "....."},
    {'%', "##..." "##..#" "...#." "..#.." ".#..." "#..##" "...##"},
    {'(', "...#." "..#.." ".#..." ".#..." ".#..." "..#.." "...#."},
    {')', ".#..." "..#.." "...#." "...#." "...#." "..#.." ".#..."},
    {'/', "....." "....#" "...#." "..#.." ".#..." "#...." "....."},
    {'#', ".#.#." ".#.#." "#####" ".#.#." "#####" ".#.#." ".#.#."},
    {'+', "....." "..#.." "..#.." "#####" "..#.." "..#.." "....."},
    {'=', "....." "....." "#####" "....." "#####" "....." "....."},
    {',', "....." "....." "....." "....." ".##.." "..#.." ".#..."},
    {'!', "..#.." "..#.." "..#.." "..#.." "..#.." "....." "..#.."},
    {'?', ".###." "#...#" "....#" "..##." "..#.." "....." "..#.."},
    {'\'', "..#.." "..#.." ".#..." "....." "....." "....." "....."},
    {'*', "....." "#.#.#" ".###." "#####" ".###." "#.#.#" "....."},
    {'<', "...#." "..#.." ".#..." "#...." ".#..." "..#.." "...#."},
    {'>', ".#..." "..#.." "...#." "....#" "...#." "..#.." ".#..."},
    {'[', ".###." ".#..." ".#..." ".#..." ".#..." ".#..." ".###."},
    {']', ".###." "...#." "...#." "...#." "...#." "...#." ".###."},
    {'|', "..#.." "..#.." "..#.." "..#.." "..#.." "..#.." "..#.."},
};
// clang-format on

/// A glyph as 7 row bit masks; bit (4 − x) of row y is font pixel (y, x).
using GlyphBits = std::array<std::uint8_t, glyph_height>;

inline constexpr GlyphBits unknown_glyph = {0x1f, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1f};

/// The font by ASCII code; characters without a pattern hold unknown_glyph.
inline constexpr std::array<GlyphBits, 128> font = [] {
  std::array<GlyphBits, 128> f{};
  for (auto& g : f) g = unknown_glyph;
  for (const auto& p : glyph_patterns) {
    GlyphBits bits{};
    for (int y = 0; y < glyph_height; ++y)
      for (int x = 0; x < glyph_width; ++x)
        if (p.rows[y * glyph_width + x] == '#') bits[y] |= static_cast<std::uint8_t>(1u << (glyph_width - 1 - x));
    f[static_cast<unsigned char>(p.c)] = bits;
  }
  return f;
}();

/// The glyph of ASCII byte `c`: lower case folded to upper, unknown characters as a box.
inline const GlyphBits& glyph(unsigned char c) {
  if (c >= 'a' && c <= 'z') c = static_cast<unsigned char>(c - 'a' + 'A');
  return c < 128 ? font[c] : unknown_glyph;
}

/// Calls f(glyph) for each character of `text`; a UTF-8 multi-byte sequence is one (unknown) character.
template <class F>
void for_each_glyph(std::string_view text, F&& f) {
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c & 0xC0u) == 0x80u) continue;  // UTF-8 continuation byte
    f(glyph(c));
  }
}

/// Checks that `image` is H×W×3 for the function `what`.
inline void check_rgb8(const char* what, const Tensor<std::uint8_t, cpu>& image) {
  LABOR_CHECK(image.rank() == 3 && image.size(2) == 3, "{}: image: expected H×W×3, got {}", what, image.shape());
}

inline void check_scale(const char* what, int scale) {
  LABOR_CHECK(scale >= 1, "{}: scale: expected >= 1, got {}", what, scale);
}

/// Sets pixel (y, x) to `colour` when it lies inside the image (which must be H×W×3).
inline void put_pixel(Tensor<std::uint8_t, cpu>& image, std::int64_t y, std::int64_t x, const Rgb& colour) {
  if (y < 0 || x < 0 || y >= image.size(0) || x >= image.size(1)) return;
  std::uint8_t* p = image.data() + (y * image.size(1) + x) * 3;
  p[0] = colour[0];
  p[1] = colour[1];
  p[2] = colour[2];
}

/// fill_rect without the argument checks.
inline void fill_rect_unchecked(Tensor<std::uint8_t, cpu>& image, std::int64_t y, std::int64_t x, std::int64_t h,
                                std::int64_t w, const Rgb& colour) {
  const std::int64_t y0 = std::max<std::int64_t>(y, 0), y1 = std::min(y + h, image.size(0));
  const std::int64_t x0 = std::max<std::int64_t>(x, 0), x1 = std::min(x + w, image.size(1));
  for (std::int64_t yy = y0; yy < y1; ++yy)
    for (std::int64_t xx = x0; xx < x1; ++xx) put_pixel(image, yy, xx, colour);
}

}  // namespace detail

/// A 3×H×W float image with values in [0, 1] as H×W×3 bytes: round(255·clamp(v, 0, 1)), NaN as 0.
/// @throws labor::Error "to_rgb8: image: expected 3×H×W, got [..]" for another shape.
inline Tensor<std::uint8_t, cpu> to_rgb8(const Tensor<float, cpu>& image) {
  LABOR_CHECK(image.rank() == 3 && image.size(0) == 3, "to_rgb8: image: expected 3×H×W, got {}", image.shape());
  const std::int64_t hw = image.size(1) * image.size(2);
  auto out = Tensor<std::uint8_t, cpu>::uninitialized(Shape{image.size(1), image.size(2), 3});
  for (std::int64_t c = 0; c < 3; ++c)
    for (std::int64_t i = 0; i < hw; ++i) {
      const float v = image[c * hw + i];
      const float clamped = std::isnan(v) ? 0.0f : std::clamp(v, 0.0f, 1.0f);
      out[i * 3 + c] = static_cast<std::uint8_t>(clamped * 255.0f + 0.5f);
    }
  return out;
}

/// Size in pixels of `text` drawn at `scale`: (height, width) = (7·scale, (6·n − 1)·scale) for n
/// characters; the height is one line's also for empty text (width 0).
/// @throws labor::Error "text_size: scale: expected >= 1, got .." for scale < 1.
inline std::pair<std::int64_t, std::int64_t> text_size(std::string_view text, int scale = 1) {
  detail::check_scale("text_size", scale);
  std::int64_t n = 0;
  detail::for_each_glyph(text, [&](const detail::GlyphBits&) { ++n; });
  const std::int64_t advance = detail::glyph_width + detail::glyph_gap;
  return {std::int64_t{detail::glyph_height} * scale, n == 0 ? 0 : (n * advance - detail::glyph_gap) * scale};
}

/// Draws `text` in `colour` with its top-left corner at (y, x) (may lie outside the image), each
/// font pixel a scale×scale square, clipped to the image; only lit pixels are written, the
/// background shows through. Unknown characters are drawn as a box.
/// @throws labor::Error "draw_text: image: expected H×W×3, got [..]" or for scale < 1.
inline void draw_text(Tensor<std::uint8_t, cpu>& image, std::int64_t y, std::int64_t x, std::string_view text,
                      Rgb colour, int scale = 1) {
  detail::check_rgb8("draw_text", image);
  detail::check_scale("draw_text", scale);
  const std::int64_t s = scale, advance = (detail::glyph_width + detail::glyph_gap) * s;
  std::int64_t left = x;
  detail::for_each_glyph(text, [&](const detail::GlyphBits& g) {
    for (int gy = 0; gy < detail::glyph_height; ++gy)
      for (int gx = 0; gx < detail::glyph_width; ++gx)
        if ((g[gy] >> (detail::glyph_width - 1 - gx)) & 1u)
          detail::fill_rect_unchecked(image, y + gy * s, left + gx * s, s, s, colour);
    left += advance;
  });
}

/// Fills the h×w rectangle with top-left corner (y, x) with `colour`, clipped to the image.
/// @throws labor::Error for an image that is not H×W×3 or a negative h or w.
inline void fill_rect(Tensor<std::uint8_t, cpu>& image, std::int64_t y, std::int64_t x, std::int64_t h, std::int64_t w,
                      Rgb colour) {
  detail::check_rgb8("fill_rect", image);
  LABOR_CHECK(h >= 0 && w >= 0, "fill_rect: size: expected h, w >= 0, got {}×{}", h, w);
  detail::fill_rect_unchecked(image, y, x, h, w, colour);
}

/// Dark colour of marker outlines and caption bands.
inline constexpr Rgb dark = {16, 16, 16};

/// A point marker around pixel (y, x), clipped: a ring in `colour` of the pixels at distance d with
/// radius − t < d ≤ radius + ½ (t = max(1, radius/4) its thickness), outlined in `dark` by the
/// pixels one step outside it (radius + ½ < d ≤ radius + 3/2) and one step inside it
/// (radius − t − 1 < d ≤ radius − t). The pixels inside the inner outline, (y, x) itself for
/// radius ≥ 3, are left as they are, so the marked pixel stays visible.
/// @throws labor::Error for an image that is not H×W×3 or radius < 1.
inline void draw_marker(Tensor<std::uint8_t, cpu>& image, std::int64_t y, std::int64_t x, int radius, Rgb colour) {
  detail::check_rgb8("draw_marker", image);
  LABOR_CHECK(radius >= 1, "draw_marker: radius: expected >= 1, got {}", radius);
  const double r = radius, t = std::max(1, radius / 4);
  const std::int64_t reach = radius + 2;
  for (std::int64_t dy = -reach; dy <= reach; ++dy)
    for (std::int64_t dx = -reach; dx <= reach; ++dx) {
      const double d = std::sqrt(static_cast<double>(dy * dy + dx * dx));
      if (d > r - t && d <= r + 0.5)
        detail::put_pixel(image, y + dy, x + dx, colour);
      else if ((d > r + 0.5 && d <= r + 1.5) || (d > r - t - 1 && d <= r - t))
        detail::put_pixel(image, y + dy, x + dx, dark);
    }
}

/// `image` with a caption band above it: the band is text_size(text, scale).height + 4·scale
/// pixels high and as wide as the image, filled with `dark`, with `text` in white, 2·scale pixels
/// from the band's top, centred when it is at most as wide as the image and otherwise starting at
/// the left edge and clipped at the right. Returns (band + H)×W×3.
/// @throws labor::Error "with_caption: image: expected H×W×3, got [..]" or for scale < 1.
inline Tensor<std::uint8_t, cpu> with_caption(const Tensor<std::uint8_t, cpu>& image, std::string_view text,
                                              int scale = 1) {
  detail::check_rgb8("with_caption", image);
  detail::check_scale("with_caption", scale);
  const auto [th, tw] = text_size(text, scale);
  const std::int64_t pad = 2 * std::int64_t{scale}, band = th + 2 * pad, h = image.size(0), w = image.size(1);
  auto out = Tensor<std::uint8_t, cpu>::uninitialized(Shape{band + h, w, 3});
  detail::fill_rect_unchecked(out, 0, 0, band, w, dark);
  std::copy_n(image.data(), image.numel(), out.data() + band * w * 3);
  draw_text(out, pad, tw <= w ? (w - tw) / 2 : 0, text, {255, 255, 255}, scale);
  return out;
}

/// The smallest integer factor ≥ 1 that makes the shorter side of an H×W image at least
/// `min_side` pixels (1 for an empty image).
inline int enlargement_for(std::int64_t height, std::int64_t width, std::int64_t min_side) {
  const std::int64_t side = std::min(height, width);
  if (side <= 0) return 1;
  return static_cast<int>(std::max<std::int64_t>(1, (min_side + side - 1) / side));
}

/// `image` enlarged `factor` times in both directions by repeating pixels (nearest neighbour):
/// output pixel (y, x) is input pixel (y / factor, x / factor). Returns (factor·H)×(factor·W)×3.
/// @throws labor::Error for an image that is not H×W×3 or factor < 1.
inline Tensor<std::uint8_t, cpu> enlarge(const Tensor<std::uint8_t, cpu>& image, int factor) {
  detail::check_rgb8("enlarge", image);
  LABOR_CHECK(factor >= 1, "enlarge: factor: expected >= 1, got {}", factor);
  if (factor == 1) return image;
  const std::int64_t h = image.size(0), w = image.size(1), f = factor, ow = w * f;
  auto out = Tensor<std::uint8_t, cpu>::uninitialized(Shape{h * f, ow, 3});
  for (std::int64_t y = 0; y < h * f; ++y) {
    const std::uint8_t* src = image.data() + (y / f) * w * 3;
    std::uint8_t* dst = out.data() + y * ow * 3;
    for (std::int64_t x = 0; x < ow; ++x) std::copy_n(src + (x / f) * 3, 3, dst + x * 3);
  }
  return out;
}

}  // namespace labor::io
