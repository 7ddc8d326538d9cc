#pragma once
/// @file spl.hpp
/// SPL, segment-based pixel labeling: query every pixel where the two heads disagree.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <type_traits>
#include <vector>

#include <thrust/sort.h>

#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/samplers/detail/common.hpp"
#include "labor/samplers/detail/dispatch.hpp"
#include "labor/samplers/detail/exclude.hpp"
#include "labor/samplers/detail/host_passes.hpp"
#include "labor/samplers/detail/passes.hpp"
#include "labor/samplers/query.hpp"
#include "labor/samplers/sampler.hpp"

namespace labor::samplers {

namespace detail {

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

/// SPL on the host fast path: one sweep compacts M tile by tile (with the cap key when capped);
/// an image over the cap keeps the `limit` largest keys, ties to the lower index, found by one
/// selection of the threshold key and a pass in pixel order.
template <class Policy>
void spl_host(const Policy& policy, const Geometry& g, const MapPair& in, std::optional<double> cap, Query& q) {
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

/// SPL on the generic passes: compaction of M, then per capped image a stable sort by key.
template <Device D, class Policy>
void spl_generic(const Policy& policy, const Geometry& g, const MapPair& in, std::optional<double> cap, Query& q) {
  auto sel =
      cap ? compact_inconsistent<true, D>(policy, g, in, "spl") : compact_inconsistent<false, D>(policy, g, in, "spl");
  const std::int64_t limit = cap ? static_cast<std::int64_t>(std::floor(*cap * static_cast<double>(g.hw))) : g.hw;
  for (std::int64_t n = 0; n < g.n; ++n) {
    const std::int64_t s = sel.start[static_cast<std::size_t>(n)];
    std::int64_t count = sel.start[static_cast<std::size_t>(n + 1)] - s;
    std::int64_t* pixel = sel.pixel.data() + s;
    std::int32_t* cls = sel.cls.data() + s;
    if (count > limit) {
      // Largest key first; the stable sort keeps ascending pixel order among equal keys. ŷ of the
      // kept pixels is recomputed (sorting key/value pairs only: no zip iterators in sorts).
      std::int64_t* key = sel.key.data() + s;
      thrust::stable_sort_by_key(policy, key, key + count, pixel, thrust::greater<std::int64_t>());
      count = limit;
      thrust::sort(policy, pixel, pixel + count);
      classes_at<D>(policy, in, pixel, cls, count);
    }
    auto& im = q.images[static_cast<std::size_t>(n)];
    im.pixels.resize(static_cast<std::size_t>(count));
    im.classes.resize(static_cast<std::size_t>(count));
    copy_to_host<D>(policy, im.pixels.data(), pixel, count);
    copy_to_host<D>(policy, im.classes.data(), cls, count);
    for (auto& p : im.pixels) p -= n * g.hw;
  }
}

/// SplSampler::select with the implementation chosen by `path` (tests compare the two). Under an
/// exclusion every path runs on exclude_from_mask's pair, whose M is M ∧ ¬exclude.
template <class Policy, Device D>
Query spl_select(const Policy& policy, std::optional<double> cap, TensorView<const float, D> p1,
                 TensorView<const float, D> p2, Path path, std::type_identity_t<ExcludeView<D>> exclude = {}) {
  const auto g = blocked<Policy>(check_probability_pair("spl", p1.shape(), p2.shape()));
  if (cap) LABOR_CHECK(*cap > 0.0 && *cap <= 1.0, "spl: cap: expected a fraction in (0, 1], got {}", *cap);
  const auto ex = check_exclude<D>("spl", p1.shape(), g, exclude);
  const auto pair = exclude_from_mask<D>(policy, g, map_pair<D>(g, p1, p2), ex, "spl");
  const MapPair& in = pair.in;
  auto q = empty_query("spl", g);
  dispatch<D>(
      policy, path, g, [&](const auto& p, auto fast) { decltype(fast)::type::spl(p, g, in, cap, q); },
      [&](const auto& p) { spl_host(p, g, in, cap, q); }, [&](const auto& p) { spl_generic<D>(p, g, in, cap, q); });
  return q;
}

}  // namespace detail

/// Selects every pixel of the inconsistency mask M. With `cap`, keeps at most ⌊cap·H·W⌋ pixels per
/// image: those with the largest Σ_c |p1 − p2| (ties → lower linear index y·W + x).
/// With an exclusion E (pixels labeled in earlier rounds) the rule runs on M' = M ∧ ¬E: every pixel
/// of M', the cap ⌊cap·H·W⌋ unchanged and applied over M'.
/// Query: per image the selected pixels ascending, `classes` = ŷ = argmax (p1 + p2)/2, no scores.
struct SplSampler {
  /// Per-image cap as a fraction of H·W in (0, 1]; none: every pixel of M.
  std::optional<double> cap;

  [[nodiscard]] std::string_view name() const { return "spl"; }

  /// Selection on maps `p1`, `p2` (N×C×H×W or C×H×W, same shape, probabilities) in the memory of
  /// device D, run by a Thrust execution policy of that device (thrust::omp::par, thrust::cpp::par on
  /// host memory; thrust::cuda::par or par_nosync.on(stream) on GPU memory). Throws labor::Error for
  /// mismatched shapes, values that are not probabilities, or a cap outside (0, 1].
  /// A host system on host memory runs the host fast path (detail::spl_host: vector block sweep over
  /// staged tiles); a CUDA system on device memory (nvcc) the CUDA fast path (FastSamplers<cuda>: one
  /// fused sweep over both maps, results copied to the host once); other systems the generic Thrust
  /// passes. All give the same Query.
  template <class Policy, class T, Device D>
  [[nodiscard]] Query select(const Policy& policy, TensorView<T, D> p1, TensorView<T, D> p2) const {
    return select(policy, p1, p2, exclude_nothing<D>());
  }

  /// select without the pixels of `exclude` (N×H×W, or H×W for C×H×W maps, on device D; non-zero =
  /// excluded; empty = nothing excluded, the same Query as select(policy, p1, p2)): the rule on
  /// M' = M ∧ ¬exclude. Throws labor::Error naming "exclude" for a mask of another shape.
  template <class Policy, class T, Device D>
  [[nodiscard]] Query select(const Policy& policy, TensorView<T, D> p1, TensorView<T, D> p2,
                             std::type_identity_t<ExcludeView<D>> exclude) const {
    static_assert(std::is_same_v<std::remove_const_t<T>, float>, "samplers take float probability maps");
    return detail::spl_select<Policy, D>(policy, cap, p1, p2, detail::Path::automatic, exclude);
  }

  /// select on host maps with the OpenMP system.
  [[nodiscard]] Query select(TensorView<const float, cpu> p1, TensorView<const float, cpu> p2) const {
    return select(detail::host_policy(), p1, p2);
  }

  /// select on host maps with the OpenMP system, without the pixels of `exclude`.
  [[nodiscard]] Query select(TensorView<const float, cpu> p1, TensorView<const float, cpu> p2,
                             ExcludeView<cpu> exclude) const {
    return select(detail::host_policy(), p1, p2, exclude);
  }
};

}  // namespace labor::samplers

#if defined(__CUDACC__)
#include "labor/backend/cuda/samplers.cuh"
#endif
