#pragma once
/// @file sampler.hpp
/// The Sampler concept: anything that turns a pair of probability maps into a Query, given the
/// pixels it must not select (those labeled in earlier rounds).

#include <concepts>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "labor/core/device.hpp"
#include "labor/core/tensor.hpp"
#include "labor/samplers/detail/system.hpp"  // device_policy<D>(), the policy select() takes on device maps
#include "labor/samplers/query.hpp"

namespace labor::samplers {

/// Pixels a sampler must not select: N×H×W (or H×W for C×H×W maps) bytes on the maps' device,
/// non-zero = excluded (labeled in an earlier round). An empty view (numel() == 0; a
/// default-constructed view is one) excludes nothing.
template <Device D>
using ExcludeView = TensorView<const std::uint8_t, D>;

/// The exclusion that excludes nothing (an empty view), for callers that pass one call form.
template <Device D>
ExcludeView<D> exclude_nothing() {
  return ExcludeView<D>(nullptr, Shape{0});
}

/// The Thrust execution policy a sampler's select takes for maps in the memory of device D: on cpu
/// the OpenMP system (the sequential one without OpenMP), on cuda Thrust's CUDA system on labor's
/// stream without a synchronisation after each algorithm.
using detail::device_policy;

/// The call forms every sampler offers, written once. A sampler `S` derives from SelectForms<S>,
/// brings these in with `using SelectForms<S>::select;` and defines only the rule,
///
///     template <class Policy, class T, Device D>
///     Query select(const Policy& policy, TensorView<T, D> p1, TensorView<T, D> p2,
///                  std::type_identity_t<ExcludeView<D>> exclude) const;
///
/// on maps in the memory of device D run by a Thrust execution policy of that device. The forms
/// below call it: without an exclusion (exclude_nothing, the same Query as an empty mask), and on
/// host maps with the host policy (detail::host_policy: OpenMP, or sequential without OpenMP).
template <class S>
struct SelectForms {
  /// The rule with nothing excluded.
  template <class Policy, class T, Device D>
  [[nodiscard]] Query select(const Policy& policy, TensorView<T, D> p1, TensorView<T, D> p2) const {
    return self().select(policy, p1, p2, exclude_nothing<D>());
  }

  /// The rule on host maps with the host policy, nothing excluded.
  [[nodiscard]] Query select(TensorView<const float, cpu> p1, TensorView<const float, cpu> p2) const {
    return self().select(detail::host_policy(), p1, p2, exclude_nothing<cpu>());
  }

  /// The rule on host maps with the host policy, without the pixels of `exclude`.
  [[nodiscard]] Query select(TensorView<const float, cpu> p1, TensorView<const float, cpu> p2,
                             ExcludeView<cpu> exclude) const {
    return self().select(detail::host_policy(), p1, p2, exclude);
  }

 private:
  [[nodiscard]] const S& self() const { return static_cast<const S&>(*this); }
};

namespace detail {

/// The host form of a sampler: select(p1, p2) on host maps with the host policy.
template <class S>
concept HostSelect = requires(const S& s, TensorView<const float, cpu> p) {
  { s.select(p, p) } -> std::same_as<Query>;
};

}  // namespace detail

/// A pixel sampler on maps in the memory of device D (cpu by default): `s.name()` names it, and
/// `s.select(device_policy<D>(), p1, p2, exclude)` takes two N×C×H×W (or C×H×W)
/// probability maps on D (the two heads of LabOR's pixel selector; a model with one head passes the
/// same map twice) and the pixels it must not select (ExcludeView), and returns the selection for
/// every image. This is the one call LaborTrainer::select makes, on every device. On cpu a sampler
/// also keeps the host form `s.select(p1, p2)` (nothing excluded). Deterministic: the same inputs
/// and options give the same Query.
template <class S, class D = cpu>
concept Sampler = Device<D> && requires(const S& s, TensorView<const float, D> p, ExcludeView<D> exclude) {
  { s.name() } -> std::convertible_to<std::string_view>;
  { s.select(device_policy<D>(), p, p, exclude) } -> std::same_as<Query>;
} &&(!std::is_same_v<D, cpu> || detail::HostSelect<S>);

}  // namespace labor::samplers
