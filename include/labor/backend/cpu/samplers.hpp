#pragma once
/// @file samplers.hpp
/// The host fast paths of SPL, PPL and the inconsistency mask (detail::FastSamplers<cpu>), chosen
/// by dispatch (samplers/detail/dispatch.hpp) for a host Thrust system (OpenMP, CPP, TBB) on host
/// memory when the compiler builds the vector sweep. One sweep over tiles of both maps
/// (samplers_passes.hpp, samplers_sweep.hpp) validates them and compacts M with what each rule needs;
/// SPL then gathers or caps per image, PPL scores the wanted classes into per-chunk heaps and walks
/// them (ClassWalk). The results equal the generic Thrust passes bit for bit (dispatch.hpp says why).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "labor/backend/cpu/samplers_passes.hpp"
#include "labor/core/tensor.hpp"
#include "labor/samplers/detail/common.hpp"
#include "labor/samplers/detail/passes.hpp"
#include "labor/samplers/detail/system.hpp"
#include "labor/samplers/inconsistency.hpp"
#include "labor/samplers/ppl.hpp"
#include "labor/samplers/query.hpp"
#include "labor/samplers/spl.hpp"

namespace labor::samplers::detail {

/// Copies the compacted pixels of every tile to their image's query (an image's tiles in order,
/// so its pixels stay ascending); images with more than the cap are left to the caller.
struct HostSplGather {
  const std::int64_t* pixel;
  const std::int32_t* cls;
  const std::int64_t* count;
  const std::int64_t* offset;  ///< [t]: position of tile t's first pixel within its image
  std::int64_t* const* out_pixel;
  std::int32_t* const* out_cls;
  std::int64_t tile_pixels, tiles_per_image;
  void operator()(std::int64_t t) const {
    const std::int64_t n = t / tiles_per_image;
    if (out_pixel[n] == nullptr) return;
    const std::int64_t s = t * tile_pixels, k = count[t], o = offset[t];
    std::copy_n(pixel + s, k, out_pixel[n] + o);
    std::copy_n(cls + s, k, out_cls[n] + o);
  }
};

/// A PPL candidate of the host path, ordered by (score, in-image pixel).
struct PplCandidate {
  double score;
  std::int64_t pixel;
  friend bool operator<(const PplCandidate& a, const PplCandidate& b) {
    return a.score < b.score || (a.score == b.score && a.pixel < b.pixel);
  }
};

/// μ and |D(k)| of every (image, class) from the per-tile sums of a host compaction; work item
/// row = n·C + k sums the C-vectors of the image's tiles. The integer sums equal the generic path's.
struct HostPrototypeReduce {
  const std::int64_t* proto_sum;
  const std::int64_t* proto_count;
  std::int64_t tiles_per_image, channels;
  double* mu;          ///< [(n·C + k)·C + c]
  std::int64_t* size;  ///< [n·C + k]
  void operator()(std::int64_t row) const {
    const std::int64_t n = row / channels, k = row - n * channels;
    constexpr std::int64_t piece = 64;  // channels summed per pass, in a local array
    std::int64_t part[piece], cnt = 0;
    for (std::int64_t t = n * tiles_per_image; t < (n + 1) * tiles_per_image; ++t) cnt += proto_count[t * channels + k];
    for (std::int64_t c0 = 0; c0 < channels; c0 += piece) {
      const std::int64_t c1 = std::min(c0 + piece, channels);
      std::fill_n(part, c1 - c0, std::int64_t{0});
      for (std::int64_t t = n * tiles_per_image; t < (n + 1) * tiles_per_image; ++t) {
        const std::int64_t* src = proto_sum + (t * channels + k) * channels;
        for (std::int64_t c = c0; c < c1; ++c) part[c - c0] += src[c];
      }
      for (std::int64_t c = c0; c < c1; ++c)
        mu[row * channels + c] =
            cnt > 0 ? static_cast<double>(part[c - c0]) / proto_scale / static_cast<double>(cnt) : 0.0;
    }
    size[row] = cnt;
  }
};

/// Scores the candidates of a range of tiles of one image (chunk ch) and keeps, per class k with
/// limit[n·C + k] > 0, the lowest `limit` of them in a max-heap of the chunk. Scores are formed
/// eight candidates at a time: eight independent fma chains (each in channel order, as
/// prototype_score) instead of one.
struct HostPplScoreChunk {
  const std::int64_t* pixel;
  const std::int32_t* cls;
  const double* mean;
  const std::int64_t* count;
  const double* mu;
  const std::int64_t* limit;        ///< [n·C + k]
  const std::int64_t* heap_offset;  ///< [n·C + k]: the class's heap within a chunk's region
  PplCandidate* heap;               ///< [ch·region + heap_offset + e]
  std::int64_t* heap_size;          ///< [ch·C + k]
  std::int64_t chunks_per_image, tile_pixels, tiles_per_image, region, channels;

  void operator()(std::int64_t ch) const {
    const std::int64_t n = ch / chunks_per_image, part = ch - n * chunks_per_image;
    const std::int64_t t0 = n * tiles_per_image + part * tiles_per_image / chunks_per_image;
    const std::int64_t t1 = n * tiles_per_image + (part + 1) * tiles_per_image / chunks_per_image;
    std::int64_t* sizes = heap_size + ch * channels;
    std::fill_n(sizes, channels, std::int64_t{0});
    constexpr int batch = 8;
    std::int64_t entry[batch], row[batch];
    int pending = 0;
    auto flush = [&] {
      if (pending == batch) {
        // Full batch: the q loops have a constant trip count, so the sums stay in registers.
        const double* v[batch];
        const double* m[batch];
        double sc[batch];
        for (int q = 0; q < batch; ++q) {
          v[q] = mean + entry[q] * channels;
          m[q] = mu + row[q] * channels;
          sc[q] = 0.0;
        }
        for (std::int64_t c = 0; c < channels; ++c)
          for (int q = 0; q < batch; ++q) {
            const double d = v[q][c] - m[q][c];
            sc[q] = std::fma(d, d, sc[q]);
          }
        for (int q = 0; q < batch; ++q) push(ch, row[q], PplCandidate{sc[q], pixel[entry[q]]}, sizes);
      } else {
        for (int q = 0; q < pending; ++q)
          push(ch, row[q],
               PplCandidate{
                   prototype_score(mean + entry[q] * channels, mu + row[q] * channels, static_cast<int>(channels)),
                   pixel[entry[q]]},
               sizes);
      }
      pending = 0;
    };
    for (std::int64_t t = t0; t < t1; ++t)
      for (std::int64_t e = t * tile_pixels, end = e + count[t]; e < end; ++e) {
        const std::int64_t r = n * channels + cls[e];
        if (limit[r] == 0) continue;
        entry[pending] = e;
        row[pending] = r;
        if (++pending == batch) flush();
      }
    flush();
  }

 private:
  /// Offers a candidate of row r to the chunk's heap of that row.
  void push(std::int64_t ch, std::int64_t r, const PplCandidate& cand, std::int64_t* sizes) const {
    const std::int64_t cap = limit[r];
    PplCandidate* h = heap + ch * region + heap_offset[r];
    std::int64_t& sz = sizes[r % channels];
    if (sz < cap) {
      h[sz++] = cand;
      std::push_heap(h, h + sz);
    } else if (cand < h[0]) {
      std::pop_heap(h, h + sz);
      h[sz - 1] = cand;
      std::push_heap(h, h + sz);
    }
  }
};

/// The host fast paths (see the file comment).
template <>
struct FastSamplers<cpu> {
  /// Every image size: the host sweep has no size limit of its own.
  static bool applies(const Geometry&) { return true; }

  /// SPL (spl_select's contract) on host maps: fills q.images. One sweep compacts M tile by tile
  /// (with the cap key when capped); an image over the cap keeps the `limit` largest keys, ties to the lower index,
  /// found by one selection of the threshold key and a pass in pixel order.
  template <class Policy>
  static void spl(const Policy& policy, const Geometry& g, const MapPair& in, std::optional<double> cap, Query& q) {
    auto h = cap ? host_compact<extra_l1>(policy, g, in, "spl") : host_compact<extra_none>(policy, g, in, "spl");
    const std::int64_t limit = cap ? static_cast<std::int64_t>(std::floor(*cap * static_cast<double>(g.hw))) : g.hw;
    const std::int64_t tpi = h.tiles.per_image;
    std::vector<std::int64_t> offset(static_cast<std::size_t>(h.tiles.count));
    std::vector<std::int64_t*> out_pixel(static_cast<std::size_t>(g.n), nullptr);
    std::vector<std::int32_t*> out_cls(static_cast<std::size_t>(g.n), nullptr);
    for (std::int64_t n = 0; n < g.n; ++n) {
      std::int64_t o = 0;
      for (std::int64_t t = n * tpi; t < (n + 1) * tpi; ++t) {
        offset[static_cast<std::size_t>(t)] = o;
        o += h.count.data()[t];
      }
      if (o > limit) continue;
      auto& im = q.images[static_cast<std::size_t>(n)];
      im.pixels.resize(static_cast<std::size_t>(o));
      im.classes.resize(static_cast<std::size_t>(o));
      out_pixel[static_cast<std::size_t>(n)] = im.pixels.data();
      out_cls[static_cast<std::size_t>(n)] = im.classes.data();
    }
    thrust::for_each(policy, items(0), items(h.tiles.count),
                     HostSplGather{h.pixel.data(), h.cls.data(), h.count.data(), offset.data(), out_pixel.data(),
                                   out_cls.data(), h.tiles.pixels, tpi});
    for (std::int64_t n = 0; n < g.n; ++n) {
      if (h.image_size[static_cast<std::size_t>(n)] <= limit || limit == 0) continue;
      // The limit-th largest key; every larger key is kept, and the first `ties` equal to it.
      std::vector<std::int64_t> keys;
      keys.reserve(static_cast<std::size_t>(h.image_size[static_cast<std::size_t>(n)]));
      for (std::int64_t t = n * tpi; t < (n + 1) * tpi; ++t)
        keys.insert(keys.end(), h.key.data() + h.first(t), h.key.data() + h.last(t));
      std::nth_element(keys.begin(), keys.begin() + (limit - 1), keys.end(), std::greater<std::int64_t>());
      const std::int64_t threshold = keys[static_cast<std::size_t>(limit - 1)];
      std::int64_t ties = limit;
      for (auto k : keys) ties -= k > threshold ? 1 : 0;
      auto& im = q.images[static_cast<std::size_t>(n)];
      im.pixels.reserve(static_cast<std::size_t>(limit));
      im.classes.reserve(static_cast<std::size_t>(limit));
      for (std::int64_t t = n * tpi; t < (n + 1) * tpi; ++t)
        for (std::int64_t e = h.first(t); e < h.last(t); ++e) {
          const std::int64_t k = h.key.data()[e];
          if (k < threshold || (k == threshold && ties-- <= 0)) continue;
          im.pixels.push_back(h.pixel.data()[e]);
          im.classes.push_back(h.cls.data()[e]);
        }
    }
  }

  /// PPL (ppl_select's contract) on host maps: fills q.images.
  /// one sweep compacts M with p̄ and per-tile prototype sums; the scores
  /// of the wanted classes go to per-chunk heaps of the lowest `limit` (want, or a longer prefix for
  /// the min_distance walk), merged per class and walked. A walk that runs out of its prefix falls
  /// back to every candidate of its class in order.
  template <class Policy>
  static void ppl(const Policy& policy, const Geometry& g, const MapPair& in, std::int64_t points, double min_distance,
                  Query& q) {
    auto h = host_compact<extra_mean>(policy, g, in, "ppl");
    std::int64_t total = 0;
    for (auto s : h.image_size) total += s;
    if (total == 0) return;
    const std::int64_t c_n = g.c, rows = g.n * c_n, tpi = h.tiles.per_image;
    auto mu = scratch<double, cpu>(rows * c_n);
    auto size = scratch<std::int64_t, cpu>(rows);
    thrust::for_each(policy, items(0), items(rows),
                     HostPrototypeReduce{h.proto_sum.data(), h.proto_count.data(), tpi, c_n, mu.data(), size.data()});

    const bool spaced = min_distance > 1.0;
    std::vector<std::int64_t> want(static_cast<std::size_t>(rows)), limit(want.size()), heap_offset(want.size());
    std::int64_t region = 0;
    for (std::int64_t n = 0; n < g.n; ++n) {
      const auto quota =
          ppl_allocation(std::vector<std::int64_t>(size.data() + n * c_n, size.data() + (n + 1) * c_n), points);
      std::int64_t o = 0;
      for (std::int64_t k = 0; k < c_n; ++k) {
        const auto r = static_cast<std::size_t>(n * c_n + k);
        const std::int64_t wk = quota[static_cast<std::size_t>(k)];
        want[r] = wk;
        limit[r] = wk == 0 ? 0 : spaced ? std::min(size.data()[r], std::max<std::int64_t>(4 * wk, 1024)) : wk;
        heap_offset[r] = o;
        o += limit[r];
      }
      region = std::max(region, o);
    }
    const std::int64_t chunks_per_image = std::clamp<std::int64_t>((16 + g.n - 1) / g.n, 1, tpi);
    const std::int64_t chunks = g.n * chunks_per_image;
    std::vector<PplCandidate> heap(static_cast<std::size_t>(std::max<std::int64_t>(chunks * region, 1)));
    std::vector<std::int64_t> heap_size(static_cast<std::size_t>(chunks * c_n));
    thrust::for_each(policy, items(0), items(chunks),
                     HostPplScoreChunk{h.pixel.data(), h.cls.data(), h.mean.data(), h.count.data(), mu.data(),
                                       limit.data(), heap_offset.data(), heap.data(), heap_size.data(),
                                       chunks_per_image, h.tiles.pixels, tpi, region, c_n});

    std::vector<PplCandidate> cand;
    for (std::int64_t n = 0; n < g.n; ++n) {
      std::vector<PplPoint> chosen;
      for (std::int64_t k = 0; k < c_n; ++k) {
        const auto r = static_cast<std::size_t>(n * c_n + k);
        if (want[r] == 0) continue;
        cand.clear();
        for (std::int64_t ch = n * chunks_per_image; ch < (n + 1) * chunks_per_image; ++ch) {
          const PplCandidate* hp = heap.data() + ch * region + heap_offset[r];
          cand.insert(cand.end(), hp, hp + heap_size[static_cast<std::size_t>(ch * c_n + k)]);
        }
        std::sort(cand.begin(), cand.end());
        if (static_cast<std::int64_t>(cand.size()) > limit[r]) cand.resize(static_cast<std::size_t>(limit[r]));
        const std::size_t mark = chosen.size();
        auto walk = [&] {
          ClassWalk w(want[r], g.w, min_distance);
          for (const auto& e : cand) {
            if (w.full()) break;
            if (w.offer(e.pixel))
              chosen.emplace_back(e.pixel, static_cast<std::int32_t>(k), static_cast<float>(e.score));
          }
          return w.full();
        };
        if (!walk() && limit[r] < size.data()[r]) {
          // The prefix ran out under min_distance: walk every candidate of the class in order.
          chosen.resize(mark);
          cand.clear();
          for (std::int64_t t = n * tpi; t < (n + 1) * tpi; ++t)
            for (std::int64_t e = h.first(t); e < h.last(t); ++e)
              if (h.cls.data()[e] == k)
                cand.push_back({prototype_score(h.mean.data() + e * c_n, mu.data() + r * c_n, static_cast<int>(c_n)),
                                h.pixel.data()[e]});
          std::sort(cand.begin(), cand.end());
          walk();
        }
      }
      store_points(chosen, q.images[static_cast<std::size_t>(n)]);
    }
  }

  /// The inconsistency mask (N×H×W uint8) of host maps: the generic block pass.
  template <class Policy>
  static Tensor<std::uint8_t, cpu> mask(const Policy& policy, const Geometry& g, const MapPair& in) {
    return mask_generic<cpu>(policy, g, in);
  }
};

}  // namespace labor::samplers::detail
