#pragma once
/// @file samplers_passes.hpp
/// The host fast path of the sweeps over the two maps: one Thrust for_each over tiles of
/// consecutive pixels of one image, each tile staged row by row and swept in SweepBlocks. One sweep
/// validates the maps and compacts the inconsistent pixels of the tile (index, ŷ and, on request,
/// the SPL cap key or p̄ with per-tile PPL prototype sums) into the tile's own slots, which later
/// passes read in place. Used for host systems on host memory; `Path::generic` keeps the passes
/// every system runs (passes.hpp), and the tests check that both give the same results.

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "labor/backend/cpu/samplers_sweep.hpp"
#include "labor/core/device.hpp"
#include "labor/core/parallel.hpp"
#include "labor/samplers/detail/passes.hpp"
#include "labor/samplers/detail/pixel_math.hpp"
#include "labor/samplers/detail/system.hpp"

namespace labor::samplers::detail {

/// Bytes of both maps' rows that one host tile stages. Longer rows read faster from the channel
/// planes (fewer switches between the 2C streams); measured here, 2 MiB tiles beat 512 KiB ones by
/// 15% and larger ones gained little.
inline constexpr std::int64_t host_tile_bytes = std::int64_t{2} << 20;
/// Most pixels of one host tile.
inline constexpr std::int64_t host_tile_max_pixels = 16384;

/// Row pitch in floats of a staged tile of `pixels` pixels: one cache line more, so that the rows
/// do not all fall into the same cache sets.
constexpr std::int64_t host_tile_pitch(std::int64_t pixels) {
  return pixels + 16;
}

/// The tiles of the host sweeps: runs of `pixels` consecutive pixels of one image (the last one
/// of an image shorter), `per_image` per image. `pixels` is the longest multiple of
/// SweepBlock::pixels, at most host_tile_max_pixels, whose C rows of both maps fit host_tile_bytes.
struct HostTiles {
  std::int64_t pixels = 0;
  std::int64_t per_image = 0;
  std::int64_t count = 0;
  explicit HostTiles(const Geometry& g) {
    const std::int64_t fit = host_tile_bytes / (2 * g.c * static_cast<std::int64_t>(sizeof(float)));
    pixels = std::clamp<std::int64_t>(fit / SweepBlock::pixels * SweepBlock::pixels, SweepBlock::pixels,
                                      host_tile_max_pixels);
    per_image = (g.hw + pixels - 1) / pixels;
    count = g.n * per_image;
  }
  /// Floats of one worker's staging buffer: C rows of both maps at host_tile_pitch.
  [[nodiscard]] std::int64_t stage_floats(const Geometry& g) const { return 2 * g.c * host_tile_pitch(pixels); }
  /// The geometry whose blocks are these tiles (for check_bad_pixels).
  [[nodiscard]] Geometry blocks(Geometry g) const {
    g.block = pixels;
    g.blocks_per_image = per_image;
    return g;
  }
};

/// What a host compaction stores per inconsistent pixel besides its index and ŷ.
enum HostExtra : unsigned {
  extra_none = 0,
  extra_l1 = 1u << 0,    ///< the SPL cap key l1_key
  extra_mean = 1u << 1,  ///< p̄ in double and the tile's prototype sums (PPL)
};

/// Sweeps tile t: validates its pixels and writes its inconsistent pixels, ascending, to slots
/// [t·T, t·T + count[t]) (T = tile pixels). The tile's rows of both maps are first copied to the
/// worker's staging buffer, one contiguous row per channel: the channel planes of a map lie a multiple of
/// 4 KiB apart, so blocks read straight from them keep C lines in the same cache sets and defeat
/// the prefetchers, while row copies stream. On the first bad pixel of the tile, bad[t] = its
/// global index n·hw + i and the tile stops there (the caller throws); otherwise no_bad_pixel.
template <unsigned Extra>
struct HostCompactTile {
  MapPair in;
  std::int64_t tile_pixels = 0, tiles_per_image = 0;
  std::int64_t* pixel = nullptr;        ///< [slot] in-image index y·W + x
  std::int32_t* cls = nullptr;          ///< [slot] ŷ
  std::int64_t* key = nullptr;          ///< extra_l1: [slot] l1_key
  double* mean = nullptr;               ///< extra_mean: [slot·C + c] p̄_c
  std::int64_t* proto_sum = nullptr;    ///< extra_mean: [(t·C + k)·C + c] Σ to_fixed(p̄_c) over D(k) in the tile
  std::int64_t* proto_count = nullptr;  ///< extra_mean: [t·C + k] pixels of D(k) in the tile
  std::int64_t* count = nullptr;        ///< [t]
  std::int64_t* bad = nullptr;          ///< [t]

  /// Sweeps tile t, staging its rows in `stage` (HostTiles::stage_floats floats).
  void operator()(std::int64_t t, float* stage) const {
    const std::int64_t n = t / tiles_per_image, i0 = (t - n * tiles_per_image) * tile_pixels;
    const std::int64_t len = std::min(tile_pixels, in.hw - i0), pitch = host_tile_pitch(tile_pixels);
    const int channels = in.channels;
    float* a = stage;
    float* b = a + channels * pitch;
    for (int c = 0; c < channels; ++c) {
      std::memcpy(a + c * pitch, in.p1 + n * in.chw + c * in.hw + i0, static_cast<std::size_t>(len) * sizeof(float));
      std::memcpy(b + c * pitch, in.p2 + n * in.chw + c * in.hw + i0, static_cast<std::size_t>(len) * sizeof(float));
    }
    const std::int64_t first = t * tile_pixels;
    std::int64_t s = first;
    if constexpr ((Extra & extra_mean) != 0) {
      const std::int64_t c2 = std::int64_t{channels} * channels;
      std::fill_n(proto_sum + t * c2, c2, std::int64_t{0});
      std::fill_n(proto_count + t * channels, channels, std::int64_t{0});
    }
    // Pixel j of the tile: a[j + c·pitch], b[j + c·pitch].
    auto take = [&](std::int64_t j, int k) {
      pixel[s] = i0 + j;
      cls[s] = k;
      if constexpr ((Extra & extra_l1) != 0) key[s] = l1_key(a + j, b + j, pitch, channels);
      if constexpr ((Extra & extra_mean) != 0) {
        double* v = mean + s * channels;
        std::int64_t* acc = proto_sum + (t * channels + k) * channels;
        for (int c = 0; c < channels; ++c) {
          v[c] = mean_prob(a[j + c * pitch], b[j + c * pitch]);
          acc[c] += to_fixed(v[c], proto_scale);
        }
        ++proto_count[t * channels + k];
      }
      ++s;
    };
    auto stop = [&](std::int64_t j) {
      bad[t] = n * in.hw + i0 + j;
      count[t] = 0;
    };
    std::int64_t o = 0;
    for (; o + SweepBlock::pixels <= len; o += SweepBlock::pixels) {
      SweepBlock blk;
      blk.compute(a + o, b + o, pitch, channels);
      if (blk.bad != 0) return stop(o + std::countr_zero(blk.bad));
      for (std::uint64_t m = blk.diff; m != 0; m &= m - 1) {
        const int q = std::countr_zero(m);
        const std::int64_t j = o + q;
        take(j, ((blk.tie >> q) & 1u) != 0 ? mean_argmax(a + j, b + j, pitch, channels) : blk.yhat[q]);
      }
    }
    for (; o < len; o += 16) {  // the pixels after the last full SweepBlock
      const int l = static_cast<int>(std::min<std::int64_t>(16, len - o));
      BlockStats<16, stat_none> st;
      st.compute(a + o, b + o, pitch, channels, l);
      for (int q = 0; q < l; ++q)
        if (st.bad[q]) return stop(o + q);
      for (int q = 0; q < l; ++q)
        if (st.a1[q] != st.a2[q]) take(o + q, st.yhat[q]);
    }
    count[t] = s - first;
    bad[t] = no_bad_pixel;
  }
};

/// Worker w of a host sweep: claims tiles in ascending order from a shared counter until none is
/// left (dynamic balance: a thread that is held up does not hold back a fixed share of the tiles;
/// each tile writes only its own slots, so the result does not depend on who swept it), staging
/// them in its part of `stage`.
template <class Tile>
struct HostTileWorker {
  Tile tile;
  std::atomic<std::int64_t>* next;
  std::int64_t tiles;
  float* stage;
  std::int64_t stage_floats;
  void operator()(std::int64_t w) const {
    for (std::int64_t t = next->fetch_add(1, std::memory_order_relaxed); t < tiles;
         t = next->fetch_add(1, std::memory_order_relaxed))
      tile(t, stage + w * stage_floats);
  }
};

/// The result of a host compaction sweep: per-tile slots, read in place.
struct HostCompaction {
  HostTiles tiles;
  Tensor<std::int64_t, cpu> pixel, key, proto_sum, proto_count, count;
  Tensor<std::int32_t, cpu> cls;
  Tensor<double, cpu> mean;
  std::vector<std::int64_t> image_size;  ///< inconsistent pixels per image

  explicit HostCompaction(const Geometry& g) : tiles(g) {}
  /// Slot range [first, last) of tile t.
  [[nodiscard]] std::int64_t first(std::int64_t t) const { return t * tiles.pixels; }
  [[nodiscard]] std::int64_t last(std::int64_t t) const { return t * tiles.pixels + count.data()[t]; }
};

/// Validates both maps and compacts the inconsistent pixels of every image tile by tile, with the
/// extras of `Extra`. Slot storage is reserved for every pixel (p̄: C doubles per pixel with
/// extra_mean) and touched only where a tile has inconsistent pixels.
template <unsigned Extra, class Policy>
HostCompaction host_compact(const Policy& policy, const Geometry& g, const MapPair& in, std::string_view who) {
  HostCompaction h(g);
  const std::int64_t tiles = h.tiles.count, slots = tiles * h.tiles.pixels, c = g.c;
  h.pixel = scratch<std::int64_t, cpu>(slots);
  h.cls = scratch<std::int32_t, cpu>(slots);
  h.key = scratch<std::int64_t, cpu>((Extra & extra_l1) != 0 ? slots : 1);
  h.mean = scratch<double, cpu>((Extra & extra_mean) != 0 ? slots * c : 1);
  h.proto_sum = scratch<std::int64_t, cpu>((Extra & extra_mean) != 0 ? tiles * c * c : 1);
  h.proto_count = scratch<std::int64_t, cpu>((Extra & extra_mean) != 0 ? tiles * c : 1);
  h.count = scratch<std::int64_t, cpu>(tiles);
  auto bad = scratch<std::int64_t, cpu>(tiles);
  const HostCompactTile<Extra> tile{
      in,           h.tiles.pixels, h.tiles.per_image,  h.pixel.data(),       h.cls.data(),
      h.key.data(), h.mean.data(),  h.proto_sum.data(), h.proto_count.data(), h.count.data(),
      bad.data()};
  // One staging buffer per worker, one worker per thread (a multiple of 16 floats apart: aligned).
  const std::int64_t workers = std::max(1, labor::num_threads());
  const std::int64_t stage_floats = (h.tiles.stage_floats(g) + 15) / 16 * 16;
  auto stage = scratch<float, cpu>(workers * stage_floats);
  std::atomic<std::int64_t> next{0};
  thrust::for_each(policy, items(0), items(workers),
                   HostTileWorker<HostCompactTile<Extra>>{tile, &next, tiles, stage.data(), stage_floats});
  check_bad_pixels<cpu>(policy, h.tiles.blocks(g), bad.data(), in, who);
  h.image_size.assign(static_cast<std::size_t>(g.n), 0);
  for (std::int64_t t = 0; t < tiles; ++t)
    h.image_size[static_cast<std::size_t>(t / h.tiles.per_image)] += h.count.data()[t];
  return h;
}

}  // namespace labor::samplers::detail
