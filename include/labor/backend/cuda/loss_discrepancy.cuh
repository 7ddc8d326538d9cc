#pragma once
/// @file loss_discrepancy.cuh
/// discrepancy and discrepancy_probs on the GPU: one deterministic sum each, one thread per pixel
/// (discrepancy_pixel with stride H·W) or per element, writing both gradients and flagging the
/// first non-finite value of each input.

#include <cstdint>
#include <string_view>
#include <utility>

#include "labor/backend/cuda/loss_common.cuh"
#include "labor/core/shape.hpp"
#include "labor/core/tensor.hpp"
#include "labor/loss/detail/checks.hpp"
#include "labor/loss/detail/pixel_math.hpp"
#include "labor/loss/discrepancy.hpp"
#include "labor/loss/loss_result.hpp"

namespace labor::loss::detail {

/// Per pixel of the logit discrepancy: both gradients and Σ_c |p_c − q_c|.
template <class T>
struct DiscrepancyPixel {
  const T* a;
  const T* b;
  T* ga;
  T* gb;
  std::int64_t channels, plane;
  T scale;
  unsigned long long* bad_a;
  unsigned long long* bad_b;

  __device__ double operator()(std::int64_t i) const {
    const std::int64_t offset = pixel_offset(i, channels, plane);
    bool finite = true;
    const T sum = discrepancy_pixel(a + offset, b + offset, ga + offset, gb + offset, channels, plane, scale, finite);
    if (!finite) {
      flag_first_channel(bad_a, a + offset, offset, channels, plane, NotFinite{});
      flag_first_channel(bad_b, b + offset, offset, channels, plane, NotFinite{});
    }
    return static_cast<double>(sum);
  }
};

/// Per element of the probability discrepancy: both gradients and |p − q|.
template <class T>
struct DiscrepancyProbsElement {
  const T* p;
  const T* q;
  T* ga;
  T* gb;
  T scale;
  unsigned long long* bad_a;
  unsigned long long* bad_b;

  __device__ double operator()(std::int64_t i) const {
    if (!is_finite(p[i])) flag_index(bad_a, i);
    if (!is_finite(q[i])) flag_index(bad_b, i);
    return static_cast<double>(discrepancy_probs_element(p[i], q[i], scale, ga[i], gb[i]));
  }
};

template <>
struct DiscrepancyKernels<cuda> {
  /// discrepancy of two validated N×C×H×W logit maps of one shape.
  template <class T>
  static PairLossResult<T, cuda> logits(const Tensor<T, cuda>& a, const Tensor<T, cuda>& b) {
    const std::int64_t channels = a.size(1), plane = a.size(2) * a.size(3);
    const std::int64_t pixels = a.size(0) * plane;
    auto ga = Tensor<T, cuda>::uninitialized(a.shape());
    auto gb = Tensor<T, cuda>::uninitialized(a.shape());
    DeviceLossStatus status;  // index 0: non-finite in a, index 1: non-finite in b
    const T scale = static_cast<T>(1.0 / static_cast<double>(a.numel()));
    queue_sum(pixels,
              DiscrepancyPixel<T>{a.data(), b.data(), ga.data(), gb.data(), channels, plane, scale, status.first_bad(0),
                                  status.first_bad(1)},
              status.sum(0));
    return finish(status, "discrepancy", "logits_a", "logits_b", a, b, std::move(ga), std::move(gb));
  }

  /// discrepancy_probs of two non-empty maps of one shape.
  template <class T>
  static PairLossResult<T, cuda> probs(const Tensor<T, cuda>& p, const Tensor<T, cuda>& q) {
    auto ga = Tensor<T, cuda>::uninitialized(p.shape());
    auto gb = Tensor<T, cuda>::uninitialized(p.shape());
    DeviceLossStatus status;
    const T scale = static_cast<T>(1.0 / static_cast<double>(p.numel()));
    queue_sum(p.numel(),
              DiscrepancyProbsElement<T>{p.data(), q.data(), ga.data(), gb.data(), scale, status.first_bad(0),
                                         status.first_bad(1)},
              status.sum(0));
    return finish(status, "discrepancy_probs", "probs_a", "probs_b", p, q, std::move(ga), std::move(gb));
  }

 private:
  /// Reads the status; throws for the first non-finite value of the first input, else of the second
  /// (the CPU's order); else returns the mean and the gradients.
  template <class T>
  static PairLossResult<T, cuda> finish(const DeviceLossStatus& status, std::string_view fn, std::string_view name_a,
                                        std::string_view name_b, const Tensor<T, cuda>& a, const Tensor<T, cuda>& b,
                                        Tensor<T, cuda> ga, Tensor<T, cuda> gb) {
    const LossStatus s = status.read();
    if (s.first_bad[0] != no_index) {
      const std::int64_t i = flagged(s.first_bad[0]);
      fail_non_finite_at(fn, name_a, a.shape(), i, static_cast<double>(read_element(a.data(), i)));
    }
    if (s.first_bad[1] != no_index) {
      const std::int64_t i = flagged(s.first_bad[1]);
      fail_non_finite_at(fn, name_b, b.shape(), i, static_cast<double>(read_element(b.data(), i)));
    }
    return {static_cast<T>(s.sum[0] / static_cast<double>(a.numel())), std::move(ga), std::move(gb)};
  }
};

}  // namespace labor::loss::detail
