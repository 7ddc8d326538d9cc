#pragma once
// Random probability-map pairs for the sampler tests (host and GPU test sources share them).

#include <cmath>
#include <cstdint>
#include <vector>

#include <labor/core.hpp>

namespace labor::testing {

struct Maps {
  Tensor<float> p1, p2;
};

/// Maps built from a small palette of quantised probability vectors (integer weights 0..3,
/// normalised, plus channel permutations of them), so argmax ties, equal |p1 − p2| sums, equal
/// entropies, margins and PPL scores occur on purpose. `agree` = chance that p2 uses p1's vector.
inline Maps palette_maps(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, std::uint64_t seed,
                         double agree = 0.6, int palette_size = 7) {
  labor::Rng rng(seed);
  std::vector<std::vector<float>> palette;
  for (int v = 0; v < palette_size; ++v) {
    std::vector<int> wt(static_cast<std::size_t>(c));
    int sum = 0;
    while (sum == 0) {
      sum = 0;
      for (auto& x : wt) sum += (x = static_cast<int>(rng.uniform_int(4)));
    }
    std::vector<float> p(static_cast<std::size_t>(c));
    for (std::size_t k = 0; k < p.size(); ++k) p[k] = static_cast<float>(wt[k]) / static_cast<float>(sum);
    palette.push_back(p);
    std::vector<float> r(p.rbegin(), p.rend());  // a permutation: same entropy, same sorted values
    palette.push_back(r);
  }
  Maps m{Tensor<float>(Shape{n, c, h, w}), Tensor<float>(Shape{n, c, h, w})};
  const std::int64_t hw = h * w;
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t px = 0; px < hw; ++px) {
      const auto a = rng.uniform_int(palette.size());
      const auto b = rng.uniform<double>() < agree ? a : rng.uniform_int(palette.size());
      for (std::int64_t k = 0; k < c; ++k) {
        m.p1[(i * c + k) * hw + px] = palette[a][static_cast<std::size_t>(k)];
        m.p2[(i * c + k) * hw + px] = palette[b][static_cast<std::size_t>(k)];
      }
    }
  return m;
}

/// Continuous maps: softmax of random logits, p2 a noisy copy of p1.
inline Maps smooth_maps(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, std::uint64_t seed) {
  labor::Rng rng(seed);
  Maps m{Tensor<float>(Shape{n, c, h, w}), Tensor<float>(Shape{n, c, h, w})};
  const std::int64_t hw = h * w;
  std::vector<double> z(static_cast<std::size_t>(c)), e(static_cast<std::size_t>(c));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t px = 0; px < hw; ++px) {
      double s1 = 0, s2 = 0;
      for (std::int64_t k = 0; k < c; ++k) {
        z[k] = std::exp(2.0 * rng.take(1).normal<double>(0));
        e[k] = z[k] * std::exp(0.7 * rng.take(1).normal<double>(0));
        s1 += z[k];
        s2 += e[k];
      }
      for (std::int64_t k = 0; k < c; ++k) {
        m.p1[(i * c + k) * hw + px] = static_cast<float>(z[k] / s1);
        m.p2[(i * c + k) * hw + px] = static_cast<float>(e[k] / s2);
      }
    }
  return m;
}

/// A random N×H×W exclusion mask (non-zero = excluded) with images of every kind: image i with
/// i % 4 == 0 excludes nothing, i % 4 == 1 everything, the others a random share (30% for i % 4 == 2,
/// 90% for i % 4 == 3) marked with assorted non-zero bytes.
inline Tensor<std::uint8_t> exclusion_mask(std::int64_t n, std::int64_t h, std::int64_t w, std::uint64_t seed) {
  labor::Rng rng(seed);
  Tensor<std::uint8_t> mask(Shape{n, h, w});
  const std::int64_t hw = h * w;
  for (std::int64_t i = 0; i < n; ++i) {
    const double share = i % 4 == 0 ? 0.0 : i % 4 == 1 ? 1.0 : i % 4 == 2 ? 0.3 : 0.9;
    for (std::int64_t px = 0; px < hw; ++px)
      if (share >= 1.0 || rng.uniform<double>() < share)
        mask[i * hw + px] = static_cast<std::uint8_t>(1 + rng.uniform_int(255));
  }
  return mask;
}

}  // namespace labor::testing
