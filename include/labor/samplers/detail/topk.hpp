#pragma once
/// @file topk.hpp
/// Per-image top-k of a per-pixel key (ties → lower linear index), shared by the entropy and
/// margin samplers.

#include <cstdint>

#include <thrust/sequence.h>
#include <thrust/sort.h>

#include "labor/samplers/detail/passes.hpp"
#include "labor/samplers/query.hpp"

namespace labor::samplers::detail {

/// For each image n, the `k` pixels that come first under `comp` on key[n·hw .. (n+1)·hw) (the
/// stable sort keeps ascending pixel order among equal keys), written ascending with their ŷ
/// into q.images[n]. Reorders `key`.
template <Device D, class Key, class Compare, class Policy>
void top_k_per_image(const Policy& policy, const Geometry& g, const MapPair& in, Key* key, Compare comp, std::int64_t k,
                     Query& q) {
  auto idx = scratch<std::int64_t, D>(g.hw);
  auto cls = scratch<std::int32_t, D>(k);
  for (std::int64_t n = 0; n < g.n; ++n) {
    Key* kn = key + n * g.hw;
    thrust::sequence(policy, idx.data(), idx.data() + g.hw, n * g.hw);
    thrust::stable_sort_by_key(policy, kn, kn + g.hw, idx.data(), comp);
    thrust::sort(policy, idx.data(), idx.data() + k);
    classes_at<D>(policy, in, idx.data(), cls.data(), k);
    auto& im = q.images[static_cast<std::size_t>(n)];
    im.pixels.resize(static_cast<std::size_t>(k));
    im.classes.resize(static_cast<std::size_t>(k));
    copy_to_host<D>(policy, im.pixels.data(), idx.data(), k);
    copy_to_host<D>(policy, im.classes.data(), cls.data(), k);
    for (auto& p : im.pixels) p -= n * g.hw;
  }
}

/// Computes the per-pixel key of every image with KeyPass<What> (validating both maps) and keeps
/// the top `k` per image under `comp`.
template <unsigned What, class Key, class Compare, Device D, class Policy>
void select_by_key(const Policy& policy, const Geometry& g, const MapPair& in, Compare comp, std::int64_t k,
                   std::string_view who, Query& q) {
  auto key = scratch<Key, D>(g.pixels());
  auto bad = scratch<std::int64_t, D>(g.blocks());
  thrust::for_each(policy, items(0), items(g.blocks()),
                   KeyPass<block_pixels<Policy>, What, Key>{in, key.data(), bad.data()});
  check_bad_pixels<D>(policy, g, bad.data(), in, who);
  top_k_per_image<D>(policy, g, in, key.data(), comp, k, q);
}

}  // namespace labor::samplers::detail
