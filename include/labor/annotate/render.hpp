#pragma once
/// @file render.hpp
/// The picture a person reads to answer one image's query: the image, enlarged when small, with
/// the queried pixels drawn on it.
///
/// - A point query (fewer than RenderOptions::point_limit pixels: PPL, random, entropy, margin) gets
///   a yellow ring with a dark outline around each queried pixel and, when numbered, the pixel's
///   1-based position in q.pixels next to it (yellow on a dark box, right of the ring where that
///   covers no other ring or number, else left, above, below, shifted or diagonally:
///   detail::place_labels).
///   answers.json lists labels in q.pixels order, so label k of the answer is the class of the
///   pixel numbered k.
/// - A dense query (SPL's regions) gets the queried pixels half magenta, half image, and the rest of the
///   image dimmed to 40 %.
///
/// Geometry, for an output of H'×W' = (s·H)×(s·W) pixels (s the scale): u = max(1, min(H', W')/256);
/// the ring of pixel (y, x) is centred on (s·y + s/2, s·x + s/2) with radius max(3u, s/2 + 2u)
/// (io::draw_marker), numbers are drawn at text scale u; rings are drawn over the numbers, so a
/// ring is never hidden by a neighbour's number.

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/io/draw.hpp"
#include "labor/samplers/query.hpp"

namespace labor::annotate {

/// How render_query draws.
struct RenderOptions {
  /// Enlargement factor (nearest neighbour); 0: automatic, the smallest integer that makes the
  /// shorter side at least 512 pixels (1 for images that are already that large).
  int scale = 0;
  /// Point queries: draw each marker's 1-based number.
  bool numbered = true;
  /// Queries with fewer pixels than this are drawn as points, others as a tinted region.
  std::int64_t point_limit = 2000;
};

namespace detail {

/// Colour of point markers and their numbers.
inline constexpr io::Rgb marker_colour = {255, 220, 0};
/// Colour of the queried pixels of a dense query.
inline constexpr io::Rgb region_colour = {255, 0, 255};

/// Marker radius and number text scale for an out_h×out_w picture enlarged `scale` times.
struct PointStyle {
  int radius = 3;
  int text_scale = 1;
};

inline PointStyle point_style(std::int64_t out_h, std::int64_t out_w, int scale) {
  const int u = static_cast<int>(std::max<std::int64_t>(1, std::min(out_h, out_w) / 256));
  return {.radius = std::max(3 * u, scale / 2 + 2 * u), .text_scale = u};
}

/// An axis-aligned box of pixels: top-left corner (y, x), h rows, w columns.
struct Box {
  std::int64_t y = 0, x = 0, h = 0, w = 0;
};

inline bool overlaps(const Box& a, const Box& b) {
  return a.y < b.y + b.h && b.y < a.y + a.h && a.x < b.x + b.w && b.x < a.x + a.w;
}

/// The places tried for a w×h number box of a marker at (cy, cx), `reach` pixels from the centre
/// (just outside the ring): right, left, above, below; then the same sides shifted along them by
/// ½ and 1 box (up before down, left before right); then the four diagonal corners.
inline std::vector<Box> label_candidates(std::int64_t cy, std::int64_t cx, std::int64_t h, std::int64_t w,
                                         std::int64_t reach) {
  const std::int64_t left = cx - reach - w, right = cx + reach, above = cy - reach - h, below = cy + reach;
  std::vector<Box> c;
  for (const std::int64_t shift : {0, 1, -1, 2, -2}) {  // in half boxes; negative: down or right
    const std::int64_t sy = -shift * h / 2, sx = -shift * w / 2;
    c.push_back({cy - h / 2 + sy, right, h, w});
    c.push_back({cy - h / 2 + sy, left, h, w});
    c.push_back({above, cx - w / 2 + sx, h, w});
    c.push_back({below, cx - w / 2 + sx, h, w});
  }
  for (const std::int64_t y : {above, below})
    for (const std::int64_t x : {cx + reach / 2, cx - reach / 2 - w}) c.push_back({y, x, h, w});
  return c;
}

/// Where the number boxes of markers centred at `centres` go, in order; box k is sizes[k] (text
/// size plus u pixels on every side). Each box takes the first of label_candidates (2 + u pixels
/// off the ring's outline) that lies inside the out_h×out_w picture and overlaps neither a ring
/// (the square around it, outline included) nor an earlier box; when none is free, the place
/// inside the picture with the fewest overlaps (the earliest among equals), or the right one.
inline std::vector<Box> place_labels(const std::vector<std::pair<std::int64_t, std::int64_t>>& centres,
                                     const std::vector<std::pair<std::int64_t, std::int64_t>>& sizes,
                                     std::int64_t out_h, std::int64_t out_w, const PointStyle& st) {
  const std::int64_t reach = st.radius + 2 + st.text_scale, ring = st.radius + 2;
  std::vector<Box> rings, boxes;
  for (const auto& [cy, cx] : centres) rings.push_back({cy - ring, cx - ring, 2 * ring + 1, 2 * ring + 1});
  for (std::size_t k = 0; k < centres.size(); ++k) {
    const auto candidates =
        label_candidates(centres[k].first, centres[k].second, sizes[k].first, sizes[k].second, reach);
    Box best = candidates.front();
    std::size_t best_cost = static_cast<std::size_t>(-1);
    for (const Box& c : candidates) {
      if (c.y < 0 || c.x < 0 || c.y + c.h > out_h || c.x + c.w > out_w) continue;
      std::size_t cost = 0;
      for (const Box& r : rings) cost += overlaps(c, r);
      for (const Box& b : boxes) cost += overlaps(c, b);
      if (cost < best_cost) {
        best = c;
        best_cost = cost;
      }
      if (cost == 0) break;
    }
    boxes.push_back(best);
  }
  return boxes;
}

/// Blends `v` with `target` (weight a of the target).
inline std::uint8_t blend(std::uint8_t v, std::uint8_t target, float a) {
  return static_cast<std::uint8_t>((1.0f - a) * static_cast<float>(v) + a * static_cast<float>(target) + 0.5f);
}

}  // namespace detail

/// `image` (3×H×W floats in [0, 1], shown as io::to_rgb8 shows it) enlarged by the scale of `o`
/// with the pixels of `q` drawn on it as described in the file comment. Returns H'×W'×3 bytes,
/// H' = scale·H, W' = scale·W.
/// @throws labor::Error "render_query: image: expected 3×H×W with H×W = the query's h×w, got [..]" when the
///         image's shape disagrees with q.height×q.width; for a pixel index outside [0, H·W), a
///         negative scale, or a negative point_limit.
inline Tensor<std::uint8_t, cpu> render_query(const Tensor<float, cpu>& image, const samplers::ImageQuery& q,
                                              const RenderOptions& o = {}) {
  LABOR_CHECK(image.rank() == 3 && image.size(0) == 3 && image.size(1) == q.height && image.size(2) == q.width,
              "render_query: image: expected 3×H×W with H×W = the query's {}×{}, got {}", q.height, q.width,
              image.shape());
  LABOR_CHECK(o.scale >= 0, "render_query: scale: expected >= 0 (0: automatic), got {}", o.scale);
  LABOR_CHECK(o.point_limit >= 0, "render_query: point_limit: expected >= 0, got {}", o.point_limit);
  const std::int64_t h = q.height, w = q.width;
  for (std::size_t k = 0; k < q.pixels.size(); ++k)
    LABOR_CHECK(q.pixels[k] >= 0 && q.pixels[k] < h * w, "render_query: pixels[{}]: expected in [0, {}), got {}", k,
                h * w, q.pixels[k]);
  const int s = o.scale == 0 ? io::enlargement_for(h, w, 512) : o.scale;
  Tensor<std::uint8_t, cpu> rgb = io::to_rgb8(image);

  if (static_cast<std::int64_t>(q.pixels.size()) >= o.point_limit) {
    std::vector<bool> queried(static_cast<std::size_t>(h * w), false);
    for (auto p : q.pixels) queried[static_cast<std::size_t>(p)] = true;
    for (std::int64_t i = 0; i < h * w; ++i)
      for (std::int64_t c = 0; c < 3; ++c) {
        std::uint8_t& v = rgb[i * 3 + c];
        v = queried[static_cast<std::size_t>(i)] ? detail::blend(v, detail::region_colour[c], 0.5f)
                                                 : detail::blend(v, 0, 0.6f);
      }
    return io::enlarge(rgb, s);
  }

  Tensor<std::uint8_t, cpu> out = io::enlarge(rgb, s);
  const detail::PointStyle st = detail::point_style(out.size(0), out.size(1), s);
  const auto centre = [&](std::int64_t p) { return std::pair{(p / w) * s + s / 2, (p % w) * s + s / 2}; };
  std::vector<std::pair<std::int64_t, std::int64_t>> centres;
  for (const auto p : q.pixels) centres.emplace_back(centre(p));
  if (o.numbered) {
    std::vector<std::pair<std::int64_t, std::int64_t>> sizes;
    for (std::size_t k = 0; k < q.pixels.size(); ++k) {
      const auto [th, tw] = io::text_size(std::to_string(k + 1), st.text_scale);
      sizes.emplace_back(th + 2 * st.text_scale, tw + 2 * st.text_scale);
    }
    const auto boxes = detail::place_labels(centres, sizes, out.size(0), out.size(1), st);
    for (std::size_t k = 0; k < boxes.size(); ++k) {
      const auto& b = boxes[k];
      io::fill_rect(out, b.y, b.x, b.h, b.w, io::dark);
      io::draw_text(out, b.y + st.text_scale, b.x + st.text_scale, std::to_string(k + 1), detail::marker_colour,
                    st.text_scale);
    }
  }
  for (const auto& [cy, cx] : centres) io::draw_marker(out, cy, cx, st.radius, detail::marker_colour);
  return out;
}

}  // namespace labor::annotate
