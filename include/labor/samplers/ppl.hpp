#pragma once
/// @file ppl.hpp
/// PPL, prototypical pixel labeling: per image, points near the class prototypes of the
/// inconsistent pixels, allocated to classes by their share of M.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

#include <thrust/copy.h>
#include <thrust/gather.h>
#include <thrust/sequence.h>
#include <thrust/sort.h>

#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/samplers/detail/common.hpp"
#include "labor/samplers/detail/dispatch.hpp"
#include "labor/samplers/detail/exclude.hpp"
#include "labor/samplers/detail/passes.hpp"
#include "labor/samplers/query.hpp"
#include "labor/samplers/sampler.hpp"

namespace labor::samplers {

namespace detail {

/// pbar[e·C + c] = p̄_c of compacted pixel e, the exact mean of the two floats in double. Gathered
/// once: the prototype sums and the scores then read it contiguously instead of the two maps.
/// (A channel-outer variant over blocks of 64 compacted pixels measured 30% slower on the host.)
struct GatherMean {
  MapPair in;
  const std::int64_t* pixel;
  double* pbar;
  LABOR_HOST_DEVICE void operator()(std::int64_t e) const {
    const std::int64_t g = pixel[e], n = g / in.hw, i = g - n * in.hw;
    const float* a = in.p1 + n * in.chw + i;
    const float* b = in.p2 + n * in.chw + i;
    double* out = pbar + e * in.channels;
    for (int c = 0; c < in.channels; ++c) out[c] = mean_prob(a[c * in.hw], b[c * in.hw]);
  }
};

/// Per-chunk partial sums of p̄ (fixed point) and pixel counts for every row = image·C + class,
/// over the compacted inconsistent pixels [chunk·size, (chunk + 1)·size). Integer sums: the
/// result does not depend on the chunking, the thread count or the device.
struct PrototypeChunk {
  MapPair in;
  const std::int64_t* pixel;
  const std::int32_t* cls;
  const double* pbar;
  std::int64_t size, total, rows;
  std::int64_t* part_sum;    // [chunks][rows·C]
  std::int64_t* part_count;  // [chunks][rows]
  LABOR_HOST_DEVICE void operator()(std::int64_t chunk) const {
    const std::int64_t c_n = in.channels;
    std::int64_t* ps = part_sum + chunk * rows * c_n;
    std::int64_t* pc = part_count + chunk * rows;
    for (std::int64_t r = 0; r < rows * c_n; ++r) ps[r] = 0;
    for (std::int64_t r = 0; r < rows; ++r) pc[r] = 0;
    const std::int64_t end = (chunk + 1) * size < total ? (chunk + 1) * size : total;
    for (std::int64_t e = chunk * size; e < end; ++e) {
      const std::int64_t n = pixel[e] / in.hw, row = n * c_n + cls[e];
      const double* v = pbar + e * c_n;
      ++pc[row];
      std::int64_t* acc = ps + row * c_n;
      for (std::int64_t c = 0; c < c_n; ++c) acc[c] += to_fixed(v[c], proto_scale);
    }
  }
};

/// Sums the chunk partials: count[row] and the prototype mu[row·C + c] = mean of p̄_c over the row.
struct PrototypeReduce {
  const std::int64_t* part_sum;
  const std::int64_t* part_count;
  std::int64_t chunks, rows, channels;
  double* mu;
  std::int64_t* count;
  LABOR_HOST_DEVICE void operator()(std::int64_t r) const {
    const std::int64_t row = r / channels;
    std::int64_t s = 0, k = 0;
    for (std::int64_t ch = 0; ch < chunks; ++ch) {
      s += part_sum[ch * rows * channels + r];
      k += part_count[ch * rows + row];
    }
    mu[r] = k > 0 ? static_cast<double>(s) / proto_scale / static_cast<double>(k) : 0.0;
    if (r % channels == 0) count[row] = k;
  }
};

/// ‖p̄ − μ‖² over `channels` values in double: channel order, explicit fma.
LABOR_HOST_DEVICE inline double prototype_score(const double* v, const double* m, int channels) {
  double s = 0.0;
  for (int c = 0; c < channels; ++c) {
    const double d = v[c] - m[c];
    s = std::fma(d, d, s);
  }
  return s;
}

/// score[e] = ‖p̄(x) − μ_ŷ‖² (prototype_score) and row[e] = image·C + ŷ.
struct PrototypeScore {
  MapPair in;
  const std::int64_t* pixel;
  const std::int32_t* cls;
  const double* pbar;
  const double* mu;
  double* score;
  std::int32_t* row;
  LABOR_HOST_DEVICE void operator()(std::int64_t e) const {
    const std::int64_t n = pixel[e] / in.hw, r = n * in.channels + cls[e];
    score[e] = prototype_score(pbar + e * in.channels, mu + r * in.channels, in.channels);
    row[e] = static_cast<std::int32_t>(r);
  }
};

/// PPL's allocation of `points` over the classes of one image with |D(k)| = `size[k]` (DESIGN §1):
/// classes with non-empty D(k) ordered by size descending (ties → lower k); points ≤ K: one each for
/// the first `points`; otherwise one each, then rounds of proportional quotas over the open classes
/// (floor, remainder by largest fractional part, ties → lower k), cut back to |D(k)|, until nothing
/// is left or no class is open. Returns the points per class.
inline std::vector<std::int64_t> ppl_allocation(const std::vector<std::int64_t>& size, std::int64_t points) {
  const std::size_t c_n = size.size();
  std::vector<std::int64_t> alloc(c_n, 0);
  std::vector<std::size_t> order;
  for (std::size_t k = 0; k < c_n; ++k)
    if (size[k] > 0) order.push_back(k);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return size[a] > size[b]; });
  const auto classes = static_cast<std::int64_t>(order.size());
  if (points <= classes) {
    for (std::int64_t t = 0; t < points; ++t) alloc[order[static_cast<std::size_t>(t)]] = 1;
    return alloc;
  }
  for (auto k : order) alloc[k] = 1;
  std::int64_t rest = points - classes;
  while (rest > 0) {
    std::vector<std::size_t> open;
    std::int64_t open_size = 0;
    for (std::size_t k = 0; k < c_n; ++k)
      if (size[k] > 0 && alloc[k] < size[k]) {
        open.push_back(k);
        open_size += size[k];
      }
    if (open.empty()) break;
    // q_k = rest·|D(k)| / Σ_open |D(k)| in exact integer arithmetic: floor and remainder numerator.
    std::vector<std::int64_t> add(c_n, 0), frac(c_n, 0);
    std::int64_t dealt = 0;
    for (auto k : open) {
      add[k] = rest * size[k] / open_size;
      frac[k] = rest * size[k] % open_size;
      dealt += add[k];
    }
    std::vector<std::size_t> by_frac = open;
    std::stable_sort(by_frac.begin(), by_frac.end(), [&](std::size_t a, std::size_t b) { return frac[a] > frac[b]; });
    for (std::int64_t t = 0; t < rest - dealt; ++t) ++add[by_frac[static_cast<std::size_t>(t)]];
    rest = 0;
    for (auto k : open) {
      alloc[k] += add[k];
      if (alloc[k] > size[k]) {
        rest += alloc[k] - size[k];
        alloc[k] = size[k];
      }
    }
  }
  return alloc;
}

/// A chosen PPL point: in-image pixel, class, score.
using PplPoint = std::tuple<std::int64_t, std::int32_t, float>;

/// PPL's walk over the candidates of one class of one image in (score, pixel) order, as the host
/// paths run it: offer() takes a candidate unless `want` are taken already or it is
/// chebyshev_close to one taken before (only tested when min_distance > 1: distinct pixels are at
/// distance >= 1). walk_kernel applies the same rule on CUDA.
class ClassWalk {
 public:
  ClassWalk(std::int64_t want, std::int64_t width, double min_distance)
      : want_(want), width_(width), min_distance_(min_distance) {}

  [[nodiscard]] bool full() const { return static_cast<std::int64_t>(taken_.size()) >= want_; }

  /// Takes in-image pixel `i` if the rule allows it; returns whether it did.
  bool offer(std::int64_t i) {
    if (full()) return false;
    if (min_distance_ > 1.0)
      for (auto j : taken_)
        if (chebyshev_close(i, j, width_, min_distance_)) return false;
    taken_.push_back(i);
    return true;
  }

 private:
  std::int64_t want_, width_;
  double min_distance_;
  std::vector<std::int64_t> taken_;
};

/// Generic path: walks one class's candidates (device arrays sorted by score, then pixel; global
/// pixel indices of image `image`) and appends up to `want` points to `chosen`, honouring min_distance.
template <Device D, class Policy>
void take_class(const Policy& policy, const Geometry& g, double min_distance, const std::int64_t* pixel,
                const double* score, std::int64_t size, std::int64_t want, std::int64_t image, std::int32_t k,
                std::vector<PplPoint>& chosen) {
  std::vector<std::int64_t> px;
  std::vector<double> sc;
  ClassWalk walk(want, g.w, min_distance);
  std::int64_t pos = 0;
  while (!walk.full() && pos < size) {
    // Candidates come to the host in pieces: a longer one when min_distance may skip some.
    const std::int64_t piece = std::min(size - pos, min_distance > 1.0 ? std::max<std::int64_t>(4 * want, 1024) : want);
    px.resize(static_cast<std::size_t>(piece));
    sc.resize(static_cast<std::size_t>(piece));
    copy_to_host<D>(policy, px.data(), pixel + pos, piece);
    copy_to_host<D>(policy, sc.data(), score + pos, piece);
    for (std::int64_t t = 0; t < piece && !walk.full(); ++t) {
      const std::int64_t i = px[static_cast<std::size_t>(t)] - image * g.hw;
      if (walk.offer(i)) chosen.emplace_back(i, k, static_cast<float>(sc[static_cast<std::size_t>(t)]));
    }
    pos += piece;
  }
}

/// Writes the chosen points of one image, ascending in pixel, to `im`.
inline void store_points(std::vector<PplPoint>& chosen, ImageQuery& im) {
  std::sort(chosen.begin(), chosen.end());
  for (const auto& [p, k, s] : chosen) {
    im.pixels.push_back(p);
    im.classes.push_back(k);
    im.scores.push_back(s);
  }
}

/// PPL on the generic passes: compaction, gathered p̄, prototype sums, scores, then every candidate
/// in (row, score, pixel) order by two stable sorts, walked per class.
template <Device D, class Policy>
void ppl_generic(const Policy& policy, const Geometry& g, const MapPair& in, std::int64_t points, double min_distance,
                 Query& q) {
  auto sel = compact_inconsistent<false, D>(policy, g, in, "ppl");
  const std::int64_t m = sel.size;
  if (m == 0) return;

  // p̄ of the inconsistent pixels, gathered once from the two maps.
  auto pbar = scratch<double, D>(m * g.c);
  thrust::for_each(policy, items(0), items(m), GatherMean{in, sel.pixel.data(), pbar.data()});

  // Prototypes: privatised integer sums per chunk, then one reduction per (row, channel).
  const std::int64_t rows = g.n * g.c, chunk = proto_chunk<Policy>, chunks = (m + chunk - 1) / chunk;
  auto part_sum = scratch<std::int64_t, D>(chunks * rows * g.c);
  auto part_count = scratch<std::int64_t, D>(chunks * rows);
  thrust::for_each(policy, items(0), items(chunks),
                   PrototypeChunk{in, sel.pixel.data(), sel.cls.data(), pbar.data(), chunk, m, rows, part_sum.data(),
                                  part_count.data()});
  auto mu = scratch<double, D>(rows * g.c);
  auto count = scratch<std::int64_t, D>(rows);
  thrust::for_each(policy, items(0), items(rows * g.c),
                   PrototypeReduce{part_sum.data(), part_count.data(), chunks, rows, g.c, mu.data(), count.data()});

  // Scores, then every candidate in (row, score, pixel) order: two stable key/value sorts of a
  // permutation (the compacted order is ascending in pixel), then gathers.
  auto score = scratch<double, D>(m);
  auto row = scratch<std::int32_t, D>(m);
  thrust::for_each(
      policy, items(0), items(m),
      PrototypeScore{in, sel.pixel.data(), sel.cls.data(), pbar.data(), mu.data(), score.data(), row.data()});
  auto key = scratch<double, D>(m);
  thrust::copy(policy, score.data(), score.data() + m, key.data());
  auto perm = scratch<std::int64_t, D>(m);
  thrust::sequence(policy, perm.data(), perm.data() + m);
  thrust::stable_sort_by_key(policy, key.data(), key.data() + m, perm.data());
  auto row_sorted = scratch<std::int32_t, D>(m);
  thrust::gather(policy, perm.data(), perm.data() + m, row.data(), row_sorted.data());
  thrust::stable_sort_by_key(policy, row_sorted.data(), row_sorted.data() + m, perm.data());
  auto pixel = scratch<std::int64_t, D>(m);
  thrust::gather(policy, perm.data(), perm.data() + m, sel.pixel.data(), pixel.data());
  thrust::gather(policy, perm.data(), perm.data() + m, score.data(), key.data());

  std::vector<std::int64_t> size(static_cast<std::size_t>(rows));
  copy_to_host<D>(policy, size.data(), count.data(), rows);
  std::int64_t row_start = 0;
  for (std::int64_t n = 0; n < g.n; ++n) {
    const auto b = size.begin() + n * g.c;
    const auto quota = ppl_allocation(std::vector<std::int64_t>(b, b + g.c), points);
    std::vector<PplPoint> chosen;
    for (std::int64_t k = 0; k < g.c; ++k) {
      const std::int64_t members = size[static_cast<std::size_t>(n * g.c + k)];
      const std::int64_t want = quota[static_cast<std::size_t>(k)];
      if (want > 0)
        take_class<D>(policy, g, min_distance, pixel.data() + row_start, key.data() + row_start, members, want, n,
                      static_cast<std::int32_t>(k), chosen);
      row_start += members;
    }
    store_points(chosen, q.images[static_cast<std::size_t>(n)]);
  }
}

/// PplSampler::select with the implementation chosen by `path` (tests compare the two). Under an
/// exclusion every path runs on exclude_from_mask's pair, whose M is M ∧ ¬exclude.
template <class Policy, Device D>
Query ppl_select(const Policy& policy, std::int64_t points, double min_distance, TensorView<const float, D> p1,
                 TensorView<const float, D> p2, Path path, std::type_identity_t<ExcludeView<D>> exclude = {}) {
  const auto g = blocked<Policy>(check_probability_pair("ppl", p1.shape(), p2.shape()));
  check_points("ppl", points, g);
  LABOR_CHECK(min_distance >= 0.0 && std::isfinite(min_distance),
              "ppl: min_distance: expected a finite value >= 0, got {}", min_distance);
  LABOR_CHECK(g.hw <= (std::int64_t{1} << 27), "ppl: image size: expected at most 2^27 pixels, got {}", g.hw);
  const auto ex = check_exclude<D>("ppl", p1.shape(), g, exclude);
  const auto pair = exclude_from_mask<D>(policy, g, map_pair<D>(g, p1, p2), ex, "ppl");
  const MapPair& in = pair.in;
  auto q = empty_query("ppl", g);
  dispatch<D>(
      policy, path, g, [&](const auto& p, auto fast) { decltype(fast)::type::ppl(p, g, in, points, min_distance, q); },
      [&](const auto& p) { ppl_generic<D>(p, g, in, points, min_distance, q); });
  return q;
}

}  // namespace detail

/// Selects `points` pixels per image near the class prototypes of the inconsistent pixels:
/// D(k) = {x ∈ M : ŷ(x) = k}, μ_k = mean of p̄ over D(k), score ‖p̄(x) − μ_k‖²; points are
/// allocated to classes as in DESIGN §1 (see detail::ppl_allocation) and taken per class in
/// ascending (score, linear index) order, skipping a candidate whose Chebyshev distance to an
/// already chosen point of its class is < `min_distance`. An image with empty M gets no points.
/// With an exclusion E (pixels labeled in earlier rounds) all of it runs on M' = M ∧ ¬E:
/// D(k) = {x ∈ M' : ŷ(x) = k}, the prototypes, the allocation and the min_distance walk over M'.
/// Query: pixels ascending, `classes` = the class each point was chosen for (= ŷ), `scores`.
struct PplSampler : SelectForms<PplSampler> {
  /// Points per image, 1 ≤ points ≤ H·W.
  std::int64_t points = 0;
  /// Minimum Chebyshev distance between chosen points of one class (>= 0; <= 1 has no effect).
  double min_distance = 0.0;

  PplSampler() = default;
  /// The sampler taking `points` per image at least `min_distance` apart within a class.
  explicit PplSampler(std::int64_t points, double min_distance = 0.0) : points(points), min_distance(min_distance) {}

  [[nodiscard]] std::string_view name() const { return "ppl"; }

  using SelectForms<PplSampler>::select;

  /// The rule on maps `p1`, `p2` (N×C×H×W or C×H×W, same shape, probabilities) in the memory of
  /// device D, run by a Thrust execution policy of that device, without the pixels of `exclude`
  /// (N×H×W, or H×W for C×H×W maps, on D; non-zero = excluded; empty = nothing excluded): the rule
  /// on M' = M ∧ ¬exclude. The path (host fast, CUDA fast, generic Thrust) is chosen by
  /// detail::dispatch; all give the same Query. Throws labor::Error for mismatched shapes, values
  /// that are not probabilities, points outside [1, H·W], a negative min_distance, or a mask of
  /// another shape (naming "exclude").
  template <class Policy, class T, Device D>
  [[nodiscard]] Query select(const Policy& policy, TensorView<T, D> p1, TensorView<T, D> p2,
                             std::type_identity_t<ExcludeView<D>> exclude) const {
    static_assert(std::is_same_v<std::remove_const_t<T>, float>, "samplers take float probability maps");
    return detail::ppl_select<Policy, D>(policy, points, min_distance, p1, p2, detail::Path::automatic, exclude);
  }
};

}  // namespace labor::samplers

#include "labor/backend/cpu/samplers.hpp"
#if defined(__CUDACC__)
#include "labor/backend/cuda/samplers.cuh"
#endif
