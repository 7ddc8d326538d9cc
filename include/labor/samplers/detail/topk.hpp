#pragma once
/// @file topk.hpp
/// Per-image top-k of a per-pixel key (ties → lower linear index) among the pixels an exclusion
/// leaves, shared by the entropy and margin samplers.

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

#include <thrust/sequence.h>
#include <thrust/sort.h>

#include "labor/samplers/detail/exclude.hpp"
#include "labor/samplers/detail/passes.hpp"
#include "labor/samplers/query.hpp"

namespace labor::samplers::detail {

/// key[i] = `sentinel` at excluded pixels (mask[i] non-zero): a key every candidate beats, so the
/// excluded pixels sort after all candidates.
template <class Key>
struct ExcludeKeys {
  const std::uint8_t* mask;
  Key* key;
  Key sentinel;
  LABOR_HOST_DEVICE void operator()(std::int64_t i) const {
    if (mask[i] != 0) key[i] = sentinel;
  }
};

/// For each image n, the `k[n]` pixels that come first under `comp` on key[n·hw .. (n+1)·hw) (the
/// stable sort keeps ascending pixel order among equal keys), written ascending with their ŷ
/// into q.images[n]. Reorders `key`.
template <Device D, class Key, class Compare, class Policy>
void top_k_per_image(const Policy& policy, const Geometry& g, const MapPair& in, Key* key, Compare comp,
                     const std::vector<std::int64_t>& k, Query& q) {
  auto idx = scratch<std::int64_t, D>(g.hw);
  auto cls = scratch<std::int32_t, D>(*std::max_element(k.begin(), k.end()));
  for (std::int64_t n = 0; n < g.n; ++n) {
    const std::int64_t kn = k[static_cast<std::size_t>(n)];
    if (kn == 0) continue;
    Key* key_n = key + n * g.hw;
    thrust::sequence(policy, idx.data(), idx.data() + g.hw, n * g.hw);
    thrust::stable_sort_by_key(policy, key_n, key_n + g.hw, idx.data(), comp);
    thrust::sort(policy, idx.data(), idx.data() + kn);
    classes_at<D>(policy, in, idx.data(), cls.data(), kn);
    auto& im = q.images[static_cast<std::size_t>(n)];
    im.pixels.resize(static_cast<std::size_t>(kn));
    im.classes.resize(static_cast<std::size_t>(kn));
    copy_to_host<D>(policy, im.pixels.data(), idx.data(), kn);
    copy_to_host<D>(policy, im.classes.data(), cls.data(), kn);
    for (auto& p : im.pixels) p -= n * g.hw;
  }
}

/// Computes the per-pixel key of every image with KeyPass<What> (validating both maps) and keeps
/// per image the top min(`points`, candidates) under `comp` among its candidates: the pixels `ex`
/// does not exclude, whose keys are replaced by `sentinel` (a key that sorts after every key of a
/// valid pixel under `comp`). Without an exclusion every pixel is a candidate.
template <unsigned What, class Key, class Compare, Device D, class Policy>
void select_by_key(const Policy& policy, const Geometry& g, const MapPair& in, Exclusion ex, Compare comp, Key sentinel,
                   std::int64_t points, std::string_view who, Query& q) {
  auto key = scratch<Key, D>(g.pixels());
  auto bad = scratch<std::int64_t, D>(g.blocks());
  thrust::for_each(policy, items(0), items(g.blocks()),
                   KeyPass<block_pixels<Policy>, What, Key>{in, key.data(), bad.data()});
  check_bad_pixels<D>(policy, g, bad.data(), in, who);
  auto k = candidates_per_image<D>(policy, g, ex);
  for (auto& kn : k) kn = std::min(kn, points);
  if (ex.active())
    thrust::for_each(policy, items(0), items(g.pixels()), ExcludeKeys<Key>{ex.mask, key.data(), sentinel});
  top_k_per_image<D>(policy, g, in, key.data(), comp, k, q);
}

}  // namespace labor::samplers::detail
