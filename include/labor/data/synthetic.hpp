#pragma once
/// @file synthetic.hpp
/// The embedded two-domain benchmark: procedurally generated street scenes with ten classes.
///
/// Every image is a pure function of (seed, domain, split, index), so a benchmark is reproduced
/// exactly from its options on any machine and thread count. A scene is laid out first (horizon,
/// buildings, road in perspective, sidewalks, terrain, trees, poles with signs, people, cars) as a
/// label map; the image is then rendered from the labels in the style of its domain:
/// - **source**, like a game: flat class colours with small per-object jitter, sharp edges, even light;
/// - **target**, like real footage of another city: another palette (grey concrete instead of brick,
///   dark asphalt, olive vegetation, hazy sky, red signs), texture (value noise, windows, lane marks),
///   a random lighting gradient, blur and sensor noise — and other class frequencies (more cars and
///   people, fewer trees, lower horizons).
/// A model trained on the source loses a large part of its accuracy on the target; the layout (where
/// the road, the sky and the cars are) is shared, so adaptation has something to align.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "labor/core/error.hpp"
#include "labor/core/parallel.hpp"
#include "labor/core/rng.hpp"
#include "labor/core/tensor.hpp"
#include "labor/data/dataset.hpp"

namespace labor::data {

/// The classes of the synthetic benchmark, in label order.
inline constexpr std::array<std::string_view, 10> synthetic_class_names = {
    "road", "sidewalk", "building", "pole", "sign", "vegetation", "terrain", "sky", "person", "car"};

/// Number of classes of the synthetic benchmark.
inline constexpr int synthetic_num_classes = static_cast<int>(synthetic_class_names.size());

/// The two domains of the benchmark.
enum class Domain { source, target };

/// Options of the synthetic benchmark; usable with designated initializers.
struct SyntheticOptions {
  /// Image height and width in pixels (≥ 32 each).
  std::int64_t height = 64;
  std::int64_t width = 128;
  /// Labeled source images.
  std::int64_t source_images = 400;
  /// Target pool images: training images of the target domain whose labels only the simulated
  /// oracle and the supervised upper bound read.
  std::int64_t target_pool = 100;
  /// Held-out target test images.
  std::int64_t target_test = 100;
  /// Labeled target validation images, drawn apart from the pool and the test split (0: none):
  /// the split on which settings and strategies are chosen, so that the test split is only read for
  /// the final numbers.
  std::int64_t target_val = 0;
  /// Seed of the whole benchmark.
  std::uint64_t seed = 0;
  /// How far the target palette moves from the source's, in [0, 1]: each target colour is
  /// (1 − palette_shift)·source colour + palette_shift·target colour. Texture, lighting, blur, noise
  /// and class frequencies differ whatever its value.
  double palette_shift = 0.5;
};

namespace detail {

enum SceneLabel : std::int32_t {
  kRoad = 0,
  kSidewalk,
  kBuilding,
  kPole,
  kSign,
  kVegetation,
  kTerrain,
  kSky,
  kPerson,
  kCar
};

/// Sequential uniform draws from one Philox stream.
class Draw {
 public:
  explicit Draw(std::uint64_t seed) : rng_(seed) {}
  double operator()(double lo, double hi) { return lo + (hi - lo) * rng_.uniform<double>(); }
  std::int64_t integer(std::int64_t lo, std::int64_t hi) {  // inclusive
    return lo + static_cast<std::int64_t>(rng_.uniform_int(static_cast<std::uint64_t>(hi - lo + 1)));
  }
  bool chance(double p) { return rng_.uniform<double>() < p; }
  std::uint64_t seed() { return rng_.uniform_int(~std::uint64_t{0}); }

 private:
  Rng rng_;
};

/// Seed of one image: splitmix64 over (seed, domain, split, index).
inline std::uint64_t scene_seed(std::uint64_t seed, int domain, int split, std::int64_t index) {
  std::uint64_t z = seed ^ (0x9E3779B97F4A7C15ull * (static_cast<std::uint64_t>(index) * 8 + split * 2 + domain + 1));
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// Rectangles, ellipses and trapezoids painted into a label map with the painter's algorithm.
class LabelCanvas {
 public:
  LabelCanvas(std::int64_t h, std::int64_t w, std::int32_t fill)
      : h_(h), w_(w), map_(static_cast<std::size_t>(h * w), fill) {}

  /// Fills the pixels whose centres lie in [x0, x1) × [y0, y1) (coordinates in pixels).
  void rect(double x0, double y0, double x1, double y1, std::int32_t label, std::vector<std::int32_t>* id = nullptr,
            std::int32_t instance = 0) {
    for (std::int64_t y = edge(y0); y < edge(y1); ++y)
      for (std::int64_t x = edge(x0, w_); x < edge(x1, w_); ++x) set(y, x, label, id, instance);
  }

  /// Fills the ellipse with centre (cx, cy) and radii (rx, ry).
  void ellipse(double cx, double cy, double rx, double ry, std::int32_t label, std::vector<std::int32_t>* id = nullptr,
               std::int32_t instance = 0) {
    for (std::int64_t y = edge(cy - ry); y < edge(cy + ry); ++y)
      for (std::int64_t x = edge(cx - rx, w_); x < edge(cx + rx, w_); ++x) {
        const double dx = (static_cast<double>(x) + 0.5 - cx) / rx, dy = (static_cast<double>(y) + 0.5 - cy) / ry;
        if (dx * dx + dy * dy <= 1.0) set(y, x, label, id, instance);
      }
  }

  void set(std::int64_t y, std::int64_t x, std::int32_t label, std::vector<std::int32_t>* id = nullptr,
           std::int32_t instance = 0) {
    map_[static_cast<std::size_t>(y * w_ + x)] = label;
    if (id != nullptr) (*id)[static_cast<std::size_t>(y * w_ + x)] = instance;
  }
  [[nodiscard]] const std::vector<std::int32_t>& map() const { return map_; }

 private:
  /// First pixel index whose centre lies at or after coordinate v, clamped to [0, n] (n = H by default).
  [[nodiscard]] std::int64_t edge(double v, std::int64_t n = -1) const {
    return std::clamp<std::int64_t>(static_cast<std::int64_t>(std::ceil(v - 0.5)), 0, n < 0 ? h_ : n);
  }

  std::int64_t h_, w_;
  std::vector<std::int32_t> map_;
};

/// A laid-out scene: the label map and, per pixel, the object instance (colour jitter per object)
/// plus the few geometric facts the renderer needs.
struct Scene {
  std::vector<std::int32_t> labels;
  std::vector<std::int32_t> instance;
  double horizon = 0.5;   ///< horizon row as a fraction of H
  double vanish_x = 0.5;  ///< vanishing point column as a fraction of W
};

/// How the two domains differ in layout statistics.
struct LayoutStyle {
  double horizon_lo, horizon_hi;
  double building_gap;  ///< chance of a gap (sky) between buildings
  std::int64_t trees_lo, trees_hi, cars_lo, cars_hi, people_lo, people_hi, poles_lo, poles_hi;
};

inline LayoutStyle layout_style(Domain d) {
  if (d == Domain::source) return {0.36, 0.50, 0.25, 2, 5, 1, 3, 0, 2, 1, 3};
  return {0.30, 0.44, 0.10, 0, 2, 2, 6, 2, 5, 2, 4};
}

/// Lays out one street scene.
inline Scene layout_scene(std::int64_t h, std::int64_t w, Domain domain, Draw& draw) {
  const LayoutStyle st = layout_style(domain);
  const double H = static_cast<double>(h), W = static_cast<double>(w);
  LabelCanvas c(h, w, kSky);
  Scene s;
  s.instance.assign(static_cast<std::size_t>(h * w), 0);
  std::int32_t next_id = 1;
  s.horizon = draw(st.horizon_lo, st.horizon_hi);
  s.vanish_x = draw(0.38, 0.62);
  const double hy = s.horizon * H, vx = s.vanish_x * W;

  // Buildings from left to right along the horizon, with gaps of sky between some of them.
  for (double x = -draw(0.0, 0.1) * W; x < W;) {
    const double bw = draw(0.08, 0.22) * W;
    if (!draw.chance(st.building_gap)) {
      const double top = hy - draw(0.12, 0.38) * H;
      c.rect(x, top, x + bw, hy + 0.04 * H, kBuilding, &s.instance, next_id++);
    }
    x += bw;
  }
  // Ground: terrain, then the road and the sidewalks in perspective.
  const double road_half = draw(0.30, 0.46), walk = draw(0.08, 0.16);
  for (std::int64_t y = static_cast<std::int64_t>(std::ceil(hy)); y < h; ++y) {
    const double t = (static_cast<double>(y) + 0.5 - hy) / (H - hy);
    const double r = (0.01 + t * road_half) * W, sw = r + t * walk * W;
    for (std::int64_t x = 0; x < w; ++x) {
      const double dx = std::abs(static_cast<double>(x) + 0.5 - vx);
      c.set(y, x, dx < r ? kRoad : (dx < sw ? kSidewalk : kTerrain), &s.instance, 0);
    }
  }
  // Objects standing on the ground, painted far to near: a point on the ground at depth t ∈ (0, 1]
  // is at row hy + t·(H − hy); the object's height scales with t.
  struct Thing {
    double t;
    int kind;
    double side;
  };
  std::vector<Thing> things;
  const auto add = [&](std::int64_t lo, std::int64_t hi, int kind) {
    for (std::int64_t i = draw.integer(lo, hi); i > 0; --i) things.push_back({draw(0.08, 1.0), kind, draw(-1.0, 1.0)});
  };
  add(st.trees_lo, st.trees_hi, 0);
  add(st.poles_lo, st.poles_hi, 1);
  add(st.people_lo, st.people_hi, 2);
  add(st.cars_lo, st.cars_hi, 3);
  std::sort(things.begin(), things.end(), [](const Thing& a, const Thing& b) { return a.t < b.t; });
  for (const Thing& th : things) {
    const double gy = hy + th.t * (H - hy);
    const double r = (0.01 + th.t * road_half) * W, sw = r + th.t * walk * W;
    const double sign = th.side < 0 ? -1.0 : 1.0;
    const double scale = th.t * H;  // an object's height unit at this depth
    const std::int32_t id = next_id++;
    switch (th.kind) {
      case 0: {  // tree: trunk and crown just beyond the sidewalk
        const double x = vx + sign * (sw + draw(0.0, 0.08) * W);
        c.rect(x - 0.015 * scale, gy - 0.45 * scale, x + 0.015 * scale, gy, kVegetation, &s.instance, id);
        c.ellipse(x, gy - 0.6 * scale, draw(0.16, 0.26) * scale, draw(0.2, 0.3) * scale, kVegetation, &s.instance, id);
        break;
      }
      case 1: {  // pole on the sidewalk, often with a sign
        const double x = vx + sign * (r + draw(0.3, 0.8) * (sw - r));
        const double top = gy - draw(0.7, 1.0) * scale;
        c.rect(x - std::max(1.0, 0.015 * scale), top, x + std::max(1.0, 0.015 * scale), gy, kPole, &s.instance, id);
        if (draw.chance(0.7)) {
          const double sz = std::max(1.5, 0.08 * scale);
          if (draw.chance(0.5))
            c.ellipse(x, top + sz, sz, sz, kSign, &s.instance, id);
          else
            c.rect(x - sz, top, x + sz, top + 1.4 * sz, kSign, &s.instance, id);
        }
        break;
      }
      case 2: {  // person on the sidewalk: body and head
        const double x = vx + sign * (r + draw(0.2, 0.9) * (sw - r));
        const double ph = draw(0.32, 0.42) * scale;
        c.ellipse(x, gy - 0.45 * ph, std::max(0.8, 0.16 * ph), 0.45 * ph, kPerson, &s.instance, id);
        c.ellipse(x, gy - 0.95 * ph, std::max(0.7, 0.1 * ph), std::max(0.7, 0.1 * ph), kPerson, &s.instance, id);
        break;
      }
      default: {  // car on the road: body and cabin
        const double x = vx + draw(-0.75, 0.75) * r;
        const double cw = draw(0.28, 0.4) * scale, ch = draw(0.16, 0.22) * scale;
        c.rect(x - cw, gy - ch, x + cw, gy, kCar, &s.instance, id);
        c.rect(x - 0.6 * cw, gy - 1.6 * ch, x + 0.6 * cw, gy - ch, kCar, &s.instance, id);
        break;
      }
    }
  }
  s.labels = c.map();
  return s;
}

/// An RGB colour in [0, 1].
struct Rgb {
  float r, g, b;
};

/// Base colour of each class in a domain's palette.
inline Rgb palette(Domain d, std::int32_t label) {
  static constexpr Rgb source[10] = {{0.42f, 0.42f, 0.45f}, {0.78f, 0.72f, 0.66f}, {0.70f, 0.45f, 0.35f},
                                     {0.30f, 0.30f, 0.32f}, {0.95f, 0.82f, 0.15f}, {0.25f, 0.62f, 0.20f},
                                     {0.62f, 0.74f, 0.30f}, {0.45f, 0.70f, 0.95f}, {0.85f, 0.25f, 0.25f},
                                     {0.20f, 0.30f, 0.75f}};
  static constexpr Rgb target[10] = {{0.26f, 0.27f, 0.33f}, {0.58f, 0.46f, 0.46f}, {0.55f, 0.57f, 0.60f},
                                     {0.55f, 0.50f, 0.42f}, {0.80f, 0.22f, 0.18f}, {0.33f, 0.40f, 0.17f},
                                     {0.52f, 0.44f, 0.27f}, {0.82f, 0.84f, 0.86f}, {0.30f, 0.30f, 0.55f},
                                     {0.65f, 0.65f, 0.62f}};
  return d == Domain::source ? source[label] : target[label];
}

/// Smooth value noise in [−1, 1] at pixel (y, x) with cells of `cell` pixels.
inline float value_noise(const PhiloxStream& s, std::int64_t y, std::int64_t x, double cell) {
  const double fy = static_cast<double>(y) / cell, fx = static_cast<double>(x) / cell;
  const auto gy = static_cast<std::uint64_t>(fy), gx = static_cast<std::uint64_t>(fx);
  const double ty = fy - static_cast<double>(gy), tx = fx - static_cast<double>(gx);
  const auto v = [&](std::uint64_t yy, std::uint64_t xx) { return s.uniform<double>((yy << 20) + xx) * 2.0 - 1.0; };
  const double sy = ty * ty * (3 - 2 * ty), sx = tx * tx * (3 - 2 * tx);
  const double top = v(gy, gx) * (1 - sx) + v(gy, gx + 1) * sx, bot = v(gy + 1, gx) * (1 - sx) + v(gy + 1, gx + 1) * sx;
  return static_cast<float>(top * (1 - sy) + bot * sy);
}

/// Renders a scene's RGB image (3×H×W in [0, 1]) in the style of `domain`.
inline Rgb mix(Rgb a, Rgb b, float t) {
  return {a.r + t * (b.r - a.r), a.g + t * (b.g - a.g), a.b + t * (b.b - a.b)};
}

inline Tensor<float, cpu> render_scene(const Scene& s, std::int64_t h, std::int64_t w, Domain domain, double shift,
                                       Draw& draw) {
  const std::int64_t hw = h * w;
  // Per-object colour jitter (cars and people get colours of their own).
  std::vector<Rgb> jitter(static_cast<std::size_t>(*std::max_element(s.instance.begin(), s.instance.end()) + 1));
  const double amount = domain == Domain::source ? 0.05 : 0.08;
  for (auto& j : jitter)
    j = {static_cast<float>(draw(-amount, amount)), static_cast<float>(draw(-amount, amount)),
         static_cast<float>(draw(-amount, amount))};
  std::vector<Rgb> vehicle(jitter.size());
  const float t_shift = static_cast<float>(shift);
  for (auto& v : vehicle) {
    const float k = static_cast<float>(draw(0.0, 1.0));
    v = Rgb{static_cast<float>(draw(0.1, 0.9)) * k, 0.3f * k, static_cast<float>(draw(0.5, 0.9))};
    if (domain == Domain::target)
      v = mix(v,
              Rgb{static_cast<float>(draw(0.45, 0.85)), static_cast<float>(draw(0.45, 0.85)),
                  static_cast<float>(draw(0.45, 0.8))},
              t_shift);
  }
  auto img = Tensor<float, cpu>::uninitialized(Shape{3, h, w});
  float* R = img.data();
  float* G = R + hw;
  float* B = G + hw;
  const bool target = domain == Domain::target;
  const PhiloxStream noise{draw.seed(), 0}, grain{draw.seed(), 0};
  // Lighting: the game's even light varies a little in brightness; footage gets a strong random
  // gain and ramps across the image.
  const double gain = target ? draw(0.55, 1.05) : draw(0.85, 1.15), ramp_x = target ? draw(-0.35, 0.35) : 0.0,
               ramp_y = target ? draw(-0.3, 0.3) : 0.0;
  const double hy = s.horizon * static_cast<double>(h);
  for (std::int64_t y = 0; y < h; ++y)
    for (std::int64_t x = 0; x < w; ++x) {
      const std::size_t i = static_cast<std::size_t>(y * w + x);
      const std::int32_t l = s.labels[i];
      const std::int32_t id = s.instance[i];
      Rgb c = l == kCar ? vehicle[static_cast<std::size_t>(id)]
                        : (target ? mix(palette(Domain::source, l), palette(Domain::target, l), t_shift)
                                  : palette(Domain::source, l));
      c = {c.r + jitter[static_cast<std::size_t>(id)].r, c.g + jitter[static_cast<std::size_t>(id)].g,
           c.b + jitter[static_cast<std::size_t>(id)].b};
      if (target) {
        float tex = 0.0f;
        switch (l) {
          case kVegetation:
            tex = 0.18f * value_noise(noise, y, x, 2.0);
            break;
          case kTerrain:
            tex = 0.12f * value_noise(noise, y, x, 3.0);
            break;
          case kRoad: {
            tex = 0.05f * value_noise(noise, y, x, 4.0);
            const double t = (static_cast<double>(y) + 0.5 - hy) / (static_cast<double>(h) - hy);
            const double dx = static_cast<double>(x) + 0.5 - s.vanish_x * static_cast<double>(w);
            if (t > 0 && std::abs(dx) < 0.012 * t * static_cast<double>(w) + 0.3 &&
                static_cast<std::int64_t>(t * 12.0) % 2 == 0)
              tex = 0.45f;  // dashed centre line
            break;
          }
          case kBuilding:
            tex = (y % 5 < 2 && x % 4 < 2) ? -0.22f : 0.06f * value_noise(noise, y, x, 6.0);  // windows
            break;
          case kSky:
            tex = 0.12f * static_cast<float>(y) / static_cast<float>(h);
            break;
          default:
            tex = 0.04f * value_noise(noise, y, x, 3.0);
            break;
        }
        const float light =
            static_cast<float>(gain * (1.0 + ramp_x * (static_cast<double>(x) / static_cast<double>(w) - 0.5) +
                                       ramp_y * (static_cast<double>(y) / static_cast<double>(h) - 0.5)));
        c = {(c.r + tex) * light, (c.g + tex) * light, (c.b + tex) * light};
      } else {
        const auto g = static_cast<float>(gain);
        c = {c.r * g, c.g * g, c.b * g};
      }
      R[i] = c.r;
      G[i] = c.g;
      B[i] = c.b;
    }
  if (target) {
    // Blur (separable [1 2 1]/4, clamped borders), then sensor noise.
    std::vector<float> tmp(static_cast<std::size_t>(hw));
    for (int ch = 0; ch < 3; ++ch) {
      float* p = img.data() + ch * hw;
      for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x) {
          const std::int64_t xl = std::max<std::int64_t>(x - 1, 0), xr = std::min(x + 1, w - 1);
          tmp[static_cast<std::size_t>(y * w + x)] =
              0.25f * p[y * w + xl] + 0.5f * p[y * w + x] + 0.25f * p[y * w + xr];
        }
      for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x) {
          const std::int64_t yu = std::max<std::int64_t>(y - 1, 0), yd = std::min(y + 1, h - 1);
          const float v = 0.25f * tmp[static_cast<std::size_t>(yu * w + x)] +
                          0.5f * tmp[static_cast<std::size_t>(y * w + x)] +
                          0.25f * tmp[static_cast<std::size_t>(yd * w + x)];
          p[y * w + x] = v + 0.04f * grain.normal<float>(static_cast<std::uint64_t>(ch * hw + y * w + x));
        }
    }
  } else {
    // The game's render: a faint dither, no blur.
    for (std::int64_t i = 0; i < 3 * hw; ++i)
      img.data()[i] += 0.015f * grain.normal<float>(static_cast<std::uint64_t>(i));
  }
  for (std::int64_t i = 0; i < 3 * hw; ++i) img.data()[i] = std::clamp(img.data()[i], 0.0f, 1.0f);
  return img;
}

}  // namespace detail

/// One generated scene of `domain`: image (3×H×W RGB in [0, 1]) and label map (H×W, classes of
/// synthetic_class_names). `split` separates the draws of the splits of one domain (0: source
/// or target pool, 1: target test, 2: target validation). Deterministic in (options.seed, domain, split, index).
inline void synthetic_scene(const SyntheticOptions& options, Domain domain, int split, std::int64_t index,
                            Tensor<float, cpu>& image, Tensor<std::int32_t, cpu>& label) {
  detail::Draw draw(detail::scene_seed(options.seed, domain == Domain::source ? 0 : 1, split, index));
  const detail::Scene scene = detail::layout_scene(options.height, options.width, domain, draw);
  image = detail::render_scene(scene, options.height, options.width, domain, options.palette_shift, draw);
  label = Tensor<std::int32_t, cpu>::from(Shape{options.height, options.width},
                                          std::span<const std::int32_t>(scene.labels));
}

/// The embedded benchmark: a labeled source set, a target pool, a held-out target test set and a
/// target validation set (empty when options.target_val is 0); no scene is in two of them.
struct SyntheticBenchmark {
  InMemoryDataset source;
  InMemoryDataset target_pool;
  InMemoryDataset target_test;
  InMemoryDataset target_val;
};

/// Generates `count` scenes of one domain and split (in parallel; the result does not depend on
/// the thread count).
inline InMemoryDataset make_synthetic_split(const SyntheticOptions& options, Domain domain, int split,
                                            std::int64_t count) {
  std::vector<Tensor<float, cpu>> images(static_cast<std::size_t>(count));
  std::vector<Tensor<std::int32_t, cpu>> labels(static_cast<std::size_t>(count));
  parallel_for(
      0, count,
      [&](std::int64_t i) {
        synthetic_scene(options, domain, split, i, images[static_cast<std::size_t>(i)],
                        labels[static_cast<std::size_t>(i)]);
      },
      1);
  InMemoryDataset out;
  for (std::int64_t i = 0; i < count; ++i)
    out.push_back(std::move(images[static_cast<std::size_t>(i)]), std::move(labels[static_cast<std::size_t>(i)]));
  return out;
}

/// Generates the whole benchmark. @throws labor::Error for a size below 32 or a negative count.
inline SyntheticBenchmark make_synthetic_benchmark(const SyntheticOptions& options) {
  LABOR_CHECK(options.height >= 32 && options.width >= 32,
              "synthetic benchmark: image size: expected height and width >= 32, got {}×{}", options.height,
              options.width);
  LABOR_CHECK(options.palette_shift >= 0 && options.palette_shift <= 1,
              "synthetic benchmark: palette_shift: expected in [0, 1], got {}", options.palette_shift);
  LABOR_CHECK(options.source_images > 0 && options.target_pool > 0 && options.target_test > 0,
              "synthetic benchmark: image counts: expected > 0, got source {}, target pool {}, target test {}",
              options.source_images, options.target_pool, options.target_test);
  LABOR_CHECK(options.target_val >= 0, "synthetic benchmark: target_val: expected >= 0, got {}", options.target_val);
  return {make_synthetic_split(options, Domain::source, 0, options.source_images),
          make_synthetic_split(options, Domain::target, 0, options.target_pool),
          make_synthetic_split(options, Domain::target, 1, options.target_test),
          make_synthetic_split(options, Domain::target, 2, options.target_val)};
}

}  // namespace labor::data
