#pragma once
/// @file passes.hpp
/// The sweeps over the two probability maps shared by the samplers, each one Thrust for_each over
/// blocks of B consecutive pixels of one image: validation, the inconsistency mask, compaction of
/// the inconsistent pixels (block-local, then gathered at scanned offsets) and per-pixel keys.
/// Every sweep also records the first pixel that is not a probability vector, reported on the host.

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "labor/core/config.hpp"
#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/samplers/detail/pixel_math.hpp"
#include "labor/samplers/detail/system.hpp"

namespace labor::samplers::detail {

/// Extents of a validated p1/p2 pair and the block decomposition of a sweep.
struct Geometry {
  std::int64_t n = 0, c = 0, h = 0, w = 0, hw = 0;
  std::int64_t block = 1;             ///< pixels per block
  std::int64_t blocks_per_image = 0;  ///< ⌈hw / block⌉
  [[nodiscard]] std::int64_t blocks() const { return n * blocks_per_image; }
  [[nodiscard]] std::int64_t pixels() const { return n * hw; }
};

/// Checks that `p1` and `p2` are probability-map shapes (N×C×H×W, or C×H×W for one image) that
/// agree and are non-empty; returns their extents. `who` prefixes the messages.
inline Geometry check_probability_pair(std::string_view who, const Shape& p1, const Shape& p2) {
  LABOR_CHECK(p1.rank() == 4 || p1.rank() == 3, "{}: p1 rank: expected 4 (N×C×H×W) or 3 (C×H×W), got {} (shape {})",
              who, p1.rank(), p1);
  LABOR_CHECK(p2 == p1, "{}: p2 shape: expected {} (the shape of p1), got {}", who, p1, p2);
  LABOR_CHECK(p1.numel() > 0, "{}: p1: expected a non-empty map, got shape {}", who, p1);
  Geometry g;
  const int o = p1.rank() == 4 ? 1 : 0;
  g.n = o ? p1[0] : 1;
  g.c = p1[o];
  g.h = p1[o + 1];
  g.w = p1[o + 2];
  g.hw = g.h * g.w;
  LABOR_CHECK(g.c <= 65536, "{}: p1 channels: expected at most 65536 classes, got {}", who, g.c);
  return g;
}

/// The geometry with the block size of `Policy`.
template <class Policy>
Geometry blocked(Geometry g) {
  g.block = block_pixels<Policy>;
  g.blocks_per_image = (g.hw + g.block - 1) / g.block;
  return g;
}

/// Raw pointers and extents a block functor needs.
struct MapPair {
  const float* p1 = nullptr;
  const float* p2 = nullptr;
  std::int64_t chw = 0, hw = 0, blocks_per_image = 0;
  int channels = 0;

  /// Image, first pixel and length of block `b` (blocks never span two images).
  template <int B>
  LABOR_HOST_DEVICE void locate(std::int64_t b, std::int64_t& image, std::int64_t& first, int& len) const {
    image = b / blocks_per_image;
    first = (b - image * blocks_per_image) * B;
    const std::int64_t rest = hw - first;
    len = rest < B ? static_cast<int>(rest) : B;
  }

  /// Computes the statistics of block `b` into `s`; `base` = global index n·hw + i of its first
  /// pixel, `len` = its pixel count.
  template <int B, unsigned What>
  LABOR_HOST_DEVICE void sweep(std::int64_t b, BlockStats<B, What>& s, std::int64_t& base, int& len) const {
    std::int64_t n, i0;
    locate<B>(b, n, i0, len);
    s.compute(p1 + n * chw + i0, p2 + n * chw + i0, hw, channels, len);
    base = n * hw + i0;
  }
};

/// Lowest global pixel index (image·hw + pixel) of a bad pixel in a block, or no_bad_pixel.
template <int B, unsigned What>
LABOR_HOST_DEVICE inline std::int64_t first_bad(const BlockStats<B, What>& s, std::int64_t base, int len) {
  for (int j = 0; j < len; ++j)
    if (s.bad[j]) return base + j;
  return no_bad_pixel;
}

/// mask[n·hw + i] = [argmax p1 ≠ argmax p2] (nothing written when mask is null: validation only);
/// bad[b] = the first bad pixel of block b.
template <int B>
struct MaskPass {
  MapPair in;
  std::uint8_t* mask;
  std::int64_t* bad;
  LABOR_HOST_DEVICE void operator()(std::int64_t b) const {
    BlockStats<B, stat_none> s;
    std::int64_t base;
    int len;
    in.sweep(b, s, base, len);
    if (mask) {
      std::uint8_t* out = mask + base;
      for (int j = 0; j < len; ++j) out[j] = s.a1[j] != s.a2[j] ? 1 : 0;
    }
    bad[b] = first_bad(s, base, len);
  }
};

/// Block-local compaction of the inconsistent pixels of block b into slots [b·B, b·B + count):
/// global pixel index, ŷ and (WithKey) the fixed-point Σ|p1 − p2|. count[b] = number of them.
template <int B, bool WithKey>
struct CompactPass {
  MapPair in;
  std::int64_t* slot_pixel;
  std::int32_t* slot_class;
  std::int64_t* slot_key;
  std::int64_t* count;
  std::int64_t* bad;
  LABOR_HOST_DEVICE void operator()(std::int64_t b) const {
    BlockStats<B, WithKey ? stat_l1 : stat_none> s;
    std::int64_t base;
    int len;
    in.sweep(b, s, base, len);
    std::int64_t t = b * B;
    for (int j = 0; j < len; ++j) {
      if (s.a1[j] != s.a2[j]) {
        slot_pixel[t] = base + j;
        slot_class[t] = s.yhat[j];
        if constexpr (WithKey) slot_key[t] = s.l1[j];
        ++t;
      }
    }
    count[b] = t - b * B;
    bad[b] = first_bad(s, base, len);
  }
};

/// Moves the slots of block b to [offset[b], offset[b] + count[b]) of the compacted arrays.
template <int B, bool WithKey>
struct GatherSlots {
  const std::int64_t* slot_pixel;
  const std::int32_t* slot_class;
  const std::int64_t* slot_key;
  const std::int64_t* count;
  const std::int64_t* offset;
  std::int64_t* pixel;
  std::int32_t* cls;
  std::int64_t* key;
  LABOR_HOST_DEVICE void operator()(std::int64_t b) const {
    const std::int64_t k = count[b], o = offset[b], s = b * B;
    for (std::int64_t t = 0; t < k; ++t) {
      pixel[o + t] = slot_pixel[s + t];
      cls[o + t] = slot_class[s + t];
      if constexpr (WithKey) key[o + t] = slot_key[s + t];
    }
  }
};

/// key[n·hw + i] = per-pixel score (entropy: fixed-point int64; margin: double); bad[b] as above.
template <int B, unsigned What, class Key>
struct KeyPass {
  MapPair in;
  Key* key;
  std::int64_t* bad;
  LABOR_HOST_DEVICE void operator()(std::int64_t b) const {
    BlockStats<B, What> s;
    std::int64_t base;
    int len;
    in.sweep(b, s, base, len);
    Key* out = key + base;
    for (int j = 0; j < len; ++j) {
      if constexpr ((What & stat_entropy) != 0) {
        out[j] = static_cast<Key>(s.entropy[j]);
      } else {
        out[j] = static_cast<Key>(s.margin[j]);
      }
    }
    bad[b] = first_bad(s, base, len);
  }
};

/// cls[e] = ŷ of global pixel pixel[e].
struct ClassAt {
  MapPair in;
  const std::int64_t* pixel;
  std::int32_t* cls;
  LABOR_HOST_DEVICE void operator()(std::int64_t e) const {
    const std::int64_t g = pixel[e], n = g / in.hw, i = g - n * in.hw;
    cls[e] = mean_argmax(in.p1 + n * in.chw + i, in.p2 + n * in.chw + i, in.hw, in.channels);
  }
};

/// dst[i] = src[i · stride] for i in [0, n).
struct StridedRead {
  const std::int64_t* src;
  std::int64_t* dst;
  std::int64_t stride;
  LABOR_HOST_DEVICE void operator()(std::int64_t i) const { dst[i] = src[i * stride]; }
};

template <Device D>
MapPair map_pair(const Geometry& g, TensorView<const float, D> p1, TensorView<const float, D> p2) {
  return MapPair{p1.data(), p2.data(), g.c * g.hw, g.hw, g.blocks_per_image, static_cast<int>(g.c)};
}

/// Throws labor::Error describing why global pixel `g` of p1 or p2 is not a probability vector.
template <Device D, class Policy>
[[noreturn]] void report_bad_pixel(const Policy& policy, const Geometry& geom, const MapPair& in, std::int64_t g,
                                   std::string_view who, std::string_view name1, std::string_view name2) {
  const std::int64_t n = g / in.hw, i = g - n * in.hw, y = i / geom.w, x = i - y * geom.w;
  std::vector<float> v(static_cast<std::size_t>(in.channels));
  const std::string prefix = who.empty() ? std::string() : fmt::format("{}: ", who);
  for (int m = 0; m < 2; ++m) {
    const float* base = (m == 0 ? in.p1 : in.p2) + n * in.chw + i;
    for (int c = 0; c < in.channels; ++c) copy_to_host<D>(policy, &v[static_cast<std::size_t>(c)], base + c * in.hw, 1);
    const std::string_view name = m == 0 ? name1 : name2;
    double sum = 0;
    for (int c = 0; c < in.channels; ++c) {
      const float val = v[static_cast<std::size_t>(c)];
      if (!std::isfinite(val) || val < 0.0f)
        fail(
            "{}{}: not a probability map: image {}, pixel (y={}, x={}), channel {}: value {}, expected a finite "
            "value >= 0",
            prefix, name, n, y, x, c, val);
      sum += static_cast<double>(val);
    }
    if (!(std::abs(sum - 1.0) <= probability_tolerance))
      fail("{}{}: not a probability map: image {}, pixel (y={}, x={}): channel sum {:.9g}, expected 1 within {}",
           prefix, name, n, y, x, sum, probability_tolerance);
  }
  fail("{}{}/{}: not a probability map at image {}, pixel (y={}, x={})", prefix, name1, name2, n, y, x);
}

/// Reduces the per-block first-bad-pixel array and throws for the first bad pixel, if any.
template <Device D, class Policy>
void check_bad_pixels(const Policy& policy, const Geometry& geom, const std::int64_t* bad, const MapPair& in,
                      std::string_view who, std::string_view name1 = "p1", std::string_view name2 = "p2") {
  const std::int64_t first =
      thrust::reduce(policy, bad, bad + geom.blocks(), no_bad_pixel, thrust::minimum<std::int64_t>());
  if (first != no_bad_pixel) report_bad_pixel<D>(policy, geom, in, first, who, name1, name2);
}

/// The inconsistent pixels of every image, compacted in ascending global index order.
template <Device D>
struct Compacted {
  Tensor<std::int64_t, D> pixel;  ///< global index n·hw + i
  Tensor<std::int32_t, D> cls;    ///< ŷ
  Tensor<std::int64_t, D> key;    ///< fixed-point Σ|p1 − p2| (WithKey only)
  std::int64_t size = 0;
  std::vector<std::int64_t> start;  ///< host: image n occupies [start[n], start[n + 1])
};

/// Validates both maps and compacts the pixels of M (and their ŷ, optionally their Σ|p1 − p2| key).
template <bool WithKey, Device D, class Policy>
Compacted<D> compact_inconsistent(const Policy& policy, const Geometry& g, const MapPair& in, std::string_view who) {
  constexpr int B = block_pixels<Policy>;
  const std::int64_t nb = g.blocks();
  auto slot_pixel = scratch<std::int64_t, D>(nb * B);
  auto slot_class = scratch<std::int32_t, D>(nb * B);
  auto slot_key = scratch<std::int64_t, D>(WithKey ? nb * B : 1);
  auto count = scratch<std::int64_t, D>(nb);
  auto bad = scratch<std::int64_t, D>(nb);
  thrust::for_each(
      policy, items(0), items(nb),
      CompactPass<B, WithKey>{in, slot_pixel.data(), slot_class.data(), slot_key.data(), count.data(), bad.data()});
  check_bad_pixels<D>(policy, g, bad.data(), in, who);
  auto offset = scratch<std::int64_t, D>(nb + 1);
  thrust::fill_n(policy, offset.data(), 1, std::int64_t{0});
  thrust::inclusive_scan(policy, count.data(), count.data() + nb, offset.data() + 1);
  Compacted<D> out;
  out.size = read_one<D>(policy, offset.data() + nb);
  out.pixel = scratch<std::int64_t, D>(out.size);
  out.cls = scratch<std::int32_t, D>(out.size);
  out.key = scratch<std::int64_t, D>(WithKey ? out.size : 1);
  thrust::for_each(policy, items(0), items(nb),
                   GatherSlots<B, WithKey>{slot_pixel.data(), slot_class.data(), slot_key.data(), count.data(),
                                           offset.data(), out.pixel.data(), out.cls.data(), out.key.data()});
  auto starts = scratch<std::int64_t, D>(g.n + 1);
  thrust::for_each(policy, items(0), items(g.n + 1), StridedRead{offset.data(), starts.data(), g.blocks_per_image});
  out.start.resize(static_cast<std::size_t>(g.n + 1));
  copy_to_host<D>(policy, out.start.data(), starts.data(), g.n + 1);
  return out;
}

/// Validates both maps without computing anything else.
template <Device D, class Policy>
void validate_pair(const Policy& policy, const Geometry& g, const MapPair& in, std::string_view who,
                   std::string_view name1 = "p1", std::string_view name2 = "p2") {
  constexpr int B = block_pixels<Policy>;
  auto bad = scratch<std::int64_t, D>(g.blocks());
  thrust::for_each(policy, items(0), items(g.blocks()), MaskPass<B>{in, nullptr, bad.data()});
  check_bad_pixels<D>(policy, g, bad.data(), in, who, name1, name2);
}

/// ŷ of the given global pixels (device arrays of length n).
template <Device D, class Policy>
void classes_at(const Policy& policy, const MapPair& in, const std::int64_t* pixel, std::int32_t* cls, std::int64_t n) {
  if (n > 0) thrust::for_each(policy, items(0), items(n), ClassAt{in, pixel, cls});
}

}  // namespace labor::samplers::detail
