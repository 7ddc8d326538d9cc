#pragma once
/// @file ripu.hpp
/// The passes of RIPU (region impurity × prediction uncertainty), shared by every Thrust system:
/// a block sweep over the two maps (ŷ and the pixel entropy of p̄), a row sweep that slides the
/// (2k+1)² window along each image row (class histogram and entropy sum), and the greedy choice of
/// window centres with suppression of their neighbourhoods, walked on the host in score order.
///
/// Numerics, chosen so that ties are exact and the result does not depend on the thread count:
/// the pixel entropy is a sum of fixed-point terms (entropy24_term); the impurity of a window with
/// n pixels and class counts n_c is n·H = n·log n − Σ_c n_c·log n_c, formed from a table of
/// fixed-point c·log c; a score is one double product and one division of those integers.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include <thrust/sequence.h>
#include <thrust/sort.h>

#include "labor/core/config.hpp"
#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/samplers/detail/common.hpp"
#include "labor/samplers/detail/exclude.hpp"
#include "labor/samplers/detail/passes.hpp"
#include "labor/samplers/detail/pixel_math.hpp"
#include "labor/samplers/detail/system.hpp"
#include "labor/samplers/query.hpp"

namespace labor::samplers::detail {

/// Fixed-point scale of the c·log c table (c ≤ 129² gives values below 2^58).
inline constexpr double impurity_scale = 1099511627776.0;  // 2^40
/// Largest window radius k RIPU accepts (a (2k+1)² window of at most 16641 pixels).
inline constexpr std::int64_t ripu_max_radius = 64;

/// round(c·log c · 2^40) for c = 0 .. area (0·log 0 = 0): the impurity table of windows of at
/// most `area` pixels.
inline std::vector<std::int64_t> clogc_table(std::int64_t area) {
  std::vector<std::int64_t> t(static_cast<std::size_t>(area + 1), 0);
  for (std::int64_t c = 2; c <= area; ++c) {
    const double v = static_cast<double>(c) * std::log(static_cast<double>(c));
    t[static_cast<std::size_t>(c)] = to_fixed(v, impurity_scale);
  }
  return t;
}

/// RIPU's score of a window of `count` pixels with impurity numerator `impurity` (count·H in the
/// table's fixed point) and entropy `entropy` (region mode: the window's sum, pixel mode: the
/// centre pixel's): region = H × mean entropy, pixel = H × the pixel's entropy (both up to the
/// constant factors RIPU divides by, log C and the scales, which do not change the order).
LABOR_HOST_DEVICE inline double ripu_score(std::int64_t impurity, std::int64_t entropy, std::int64_t count,
                                           bool region) {
  const double i = static_cast<double>(impurity > 0 ? impurity : 0), e = static_cast<double>(entropy),
               n = static_cast<double>(count);
  return region ? i * e / (n * n) : i * e / n;
}

/// yhat[n·hw + i] = ŷ, entropy[n·hw + i] = fixed-point entropy of p̄; bad[b] = first bad pixel.
template <int B>
struct RipuPixelPass {
  MapPair in;
  std::int32_t* yhat;
  std::int32_t* entropy;
  std::int64_t* bad;

  LABOR_HOST_DEVICE void operator()(std::int64_t b) const {
    BlockStats<B, stat_entropy24> s;
    std::int64_t base;
    int len;
    in.sweep(b, s, base, len);
    for (int j = 0; j < len; ++j) {
      yhat[base + j] = s.yhat[j];
      entropy[base + j] = s.entropy24[j];
    }
    bad[b] = first_bad(s, base, len);
  }
};

/// The scores of one image row (item r ↦ row `first_row + r` of the batch, = n·H + y): the window of
/// radius k around each pixel, clipped to the image, slides along the row with a class histogram
/// (hist: `channels` counters per item) and a running entropy sum. key = the score, −1 at excluded
/// pixels (below every score, which is ≥ 0).
struct RipuRowPass {
  const std::int32_t* yhat;
  const std::int32_t* entropy;
  const std::int64_t* clogc;
  const std::uint8_t* mask;  ///< exclusion (null: none)
  std::int32_t* hist;
  double* key;
  std::int64_t first_row, h, w, k;
  int channels;
  bool region;

  LABOR_HOST_DEVICE void operator()(std::int64_t r) const {
    const std::int64_t row = first_row + r, n = row / h, y = row - n * h, hw = h * w;
    const std::int64_t y0 = y - k > 0 ? y - k : 0, y1 = y + k < h - 1 ? y + k : h - 1, rows = y1 - y0 + 1;
    std::int32_t* hc = hist + r * channels;
    for (int c = 0; c < channels; ++c) hc[c] = 0;
    const std::int32_t* lab = yhat + n * hw;
    const std::int32_t* ent = entropy + n * hw;
    std::int64_t sum_clogc = 0, sum_entropy = 0;
    for (std::int64_t x = 0; x <= k && x < w; ++x) column(lab, ent, hc, x, y0, y1, 1, sum_clogc, sum_entropy);
    for (std::int64_t x = 0; x < w; ++x) {
      const std::int64_t x0 = x - k > 0 ? x - k : 0, x1 = x + k < w - 1 ? x + k : w - 1;
      const std::int64_t count = rows * (x1 - x0 + 1), i = y * w + x;
      const double s = ripu_score(clogc[count] - sum_clogc, region ? sum_entropy : ent[i], count, region);
      key[n * hw + i] = mask != nullptr && mask[n * hw + i] != 0 ? -1.0 : s;
      if (x + k + 1 < w) column(lab, ent, hc, x + k + 1, y0, y1, 1, sum_clogc, sum_entropy);
      if (x - k >= 0) column(lab, ent, hc, x - k, y0, y1, -1, sum_clogc, sum_entropy);
    }
  }

 private:
  /// Adds (sign 1) or removes (sign −1) column x of rows [y0, y1] from the window.
  LABOR_HOST_DEVICE void column(const std::int32_t* lab, const std::int32_t* ent, std::int32_t* hc, std::int64_t x,
                                std::int64_t y0, std::int64_t y1, int sign, std::int64_t& sum_clogc,
                                std::int64_t& sum_entropy) const {
    for (std::int64_t yy = y0; yy <= y1; ++yy) {
      const std::int64_t i = yy * w + x;
      const std::int32_t c = lab[i], before = hc[c], after = before + sign;
      hc[c] = after;
      sum_clogc += clogc[after] - clogc[before];
      sum_entropy += sign * static_cast<std::int64_t>(ent[i]);
    }
  }
};

/// The settings of one RIPU selection.
struct RipuRule {
  bool region = true;       ///< region mode (label each chosen window) or pixel mode (its centre)
  std::int64_t budget = 0;  ///< labeled pixels per image the budget is stated in
  std::int64_t radius = 1;  ///< k: windows of (2k+1)² pixels

  /// Window centres per image: ⌈budget / (2k+1)²⌉ regions, or `budget` pixels.
  [[nodiscard]] std::int64_t centres() const {
    const std::int64_t area = (2 * radius + 1) * (2 * radius + 1);
    return region ? (budget + area - 1) / area : budget;
  }
  /// Radius of the neighbourhood a chosen centre suppresses: 2k for regions (so that regions never
  /// overlap), k for pixels.
  [[nodiscard]] std::int64_t suppression() const { return region ? 2 * radius : radius; }
};

/// The greedy choice on one image of the scores `key` (in score order: `order[t]` the pixel with
/// the t-th score, `sorted[t]` its score; −1 = excluded, the end of the candidates): take the best
/// pixel not yet suppressed as a centre, suppress the Chebyshev neighbourhood of radius
/// rule.suppression() around it, until rule.centres() centres. Returns the labeled pixels, ascending:
/// the centres' windows (clipped to the image) minus `excluded` pixels in region mode, the centres in
/// pixel mode. Walking t in order is the same as taking the argmax of the remaining scores each
/// time (lowest index on ties), because suppression only removes pixels.
inline std::vector<std::int64_t> ripu_walk(const RipuRule& rule, std::int64_t h, std::int64_t w,
                                           const std::vector<double>& sorted, const std::vector<std::int64_t>& order,
                                           const std::uint8_t* excluded) {
  std::vector<std::uint8_t> suppressed(static_cast<std::size_t>(h * w), 0);
  std::vector<std::int64_t> out;
  const std::int64_t want = rule.centres(), s = rule.suppression(), k = rule.radius;
  std::int64_t taken = 0;
  for (std::size_t t = 0; t < order.size() && taken < want; ++t) {
    if (sorted[t] < 0.0) break;
    const std::int64_t p = order[t];
    if (suppressed[static_cast<std::size_t>(p)] != 0) continue;
    ++taken;
    const std::int64_t y = p / w, x = p - y * w;
    for (std::int64_t yy = std::max<std::int64_t>(0, y - s); yy <= std::min(h - 1, y + s); ++yy)
      for (std::int64_t xx = std::max<std::int64_t>(0, x - s); xx <= std::min(w - 1, x + s); ++xx)
        suppressed[static_cast<std::size_t>(yy * w + xx)] = 1;
    if (!rule.region) {
      out.push_back(p);
      continue;
    }
    for (std::int64_t yy = std::max<std::int64_t>(0, y - k); yy <= std::min(h - 1, y + k); ++yy)
      for (std::int64_t xx = std::max<std::int64_t>(0, x - k); xx <= std::min(w - 1, x + k); ++xx)
        if (excluded == nullptr || excluded[yy * w + xx] == 0) out.push_back(yy * w + xx);
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// Rows of a row pass at a time, so that its class histograms stay within 64 MiB whatever C.
inline std::int64_t ripu_row_chunk(const Geometry& g) {
  return std::max<std::int64_t>(1, std::min<std::int64_t>(g.n * g.h, (std::int64_t{1} << 24) / g.c));
}

/// RIPU's score of every pixel of checked inputs (N·H·W doubles on D, −1 at excluded pixels):
/// validates both maps (`who` starts the messages), then the pixel pass and the row pass.
template <Device D, class Policy>
Tensor<double, D> ripu_scores(const Policy& policy, const Geometry& g, const MapPair& in, Exclusion ex,
                              const RipuRule& rule, std::string_view who) {
  constexpr int B = block_pixels<Policy>;
  auto yhat = scratch<std::int32_t, D>(g.pixels());
  auto entropy = scratch<std::int32_t, D>(g.pixels());
  {
    auto bad = scratch<std::int64_t, D>(g.blocks());
    thrust::for_each(policy, items(0), items(g.blocks()),
                     RipuPixelPass<B>{in, yhat.data(), entropy.data(), bad.data()});
    check_bad_pixels<D>(policy, g, bad.data(), in, who);
  }
  const std::int64_t area = (2 * rule.radius + 1) * (2 * rule.radius + 1);
  const auto table = clogc_table(area);
  auto clogc = scratch<std::int64_t, D>(area + 1);
  copy_from_host<D>(policy, clogc.data(), table.data(), area + 1);
  auto key = scratch<double, D>(g.pixels());
  const std::int64_t rows = g.n * g.h, chunk = ripu_row_chunk(g);
  auto hist = scratch<std::int32_t, D>(chunk * g.c);
  for (std::int64_t r0 = 0; r0 < rows; r0 += chunk)
    thrust::for_each(policy, items(0), items(std::min(chunk, rows - r0)),
                     RipuRowPass{yhat.data(), entropy.data(), clogc.data(), ex.mask, hist.data(), key.data(), r0, g.h,
                                 g.w, rule.radius, static_cast<int>(g.c), rule.region});
  synchronize(policy);  // the scratch above is released on return
  return key;
}

/// RIPU on checked inputs: the scores (ripu_scores), then per image the greedy walk (ripu_walk) in
/// score order; `who` starts the messages.
template <Device D, class Policy>
void ripu_select(const Policy& policy, const Geometry& g, const MapPair& in, Exclusion ex, const RipuRule& rule,
                 std::string_view who, Query& q) {
  auto key = ripu_scores<D>(policy, g, in, ex, rule, who);
  // Walked on the host in score order: the first `depth` pixels always suffice, since each centre
  // suppresses at most (2s+1)² of the pixels walked.
  const std::int64_t side = 2 * rule.suppression() + 1;
  const std::int64_t depth = std::min(g.hw, rule.centres() * std::min(side * side, g.hw));
  auto idx = scratch<std::int64_t, D>(g.hw);
  std::vector<double> sorted(static_cast<std::size_t>(depth));
  std::vector<std::int64_t> order(static_cast<std::size_t>(depth));
  std::vector<std::uint8_t> excluded(ex.active() ? static_cast<std::size_t>(g.hw) : 0);
  auto cls = scratch<std::int32_t, D>(g.hw);
  for (std::int64_t n = 0; n < g.n; ++n) {
    double* key_n = key.data() + n * g.hw;
    thrust::sequence(policy, idx.data(), idx.data() + g.hw, std::int64_t{0});
    thrust::stable_sort_by_key(policy, key_n, key_n + g.hw, idx.data(), thrust::greater<double>());
    copy_to_host<D>(policy, sorted.data(), key_n, depth);
    copy_to_host<D>(policy, order.data(), idx.data(), depth);
    if (ex.active()) copy_to_host<D>(policy, excluded.data(), ex.mask + n * g.hw, g.hw);
    auto& im = q.images[static_cast<std::size_t>(n)];
    im.pixels = ripu_walk(rule, g.h, g.w, sorted, order, ex.active() ? excluded.data() : nullptr);
    const auto kn = static_cast<std::int64_t>(im.pixels.size());
    if (kn == 0) continue;
    std::vector<std::int64_t> global(im.pixels);
    for (auto& p : global) p += n * g.hw;
    copy_from_host<D>(policy, idx.data(), global.data(), kn);
    classes_at<D>(policy, in, idx.data(), cls.data(), kn);
    im.classes.resize(static_cast<std::size_t>(kn));
    copy_to_host<D>(policy, im.classes.data(), cls.data(), kn);
  }
}

}  // namespace labor::samplers::detail
