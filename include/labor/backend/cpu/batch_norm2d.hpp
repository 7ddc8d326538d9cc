#pragma once
/// @file batch_norm2d.hpp
/// BatchNorm2d on the host (BatchNormKernels<cpu>). Forward: batch statistics from per-plane sums of
/// (x − shift) and (x − shift)² in double (shift = the channel's first value, so the one-pass
/// variance does not cancel catastrophically), reduced over the images in a fixed order; then one
/// pass per plane writes y (and x̂). Backward: per-plane Σg and Σg·x̂ in double reduced the same
/// way, the parameter gradients, then dx per plane. Every sum uses lane_sums' eight accumulators,
/// so results do not depend on the thread count.

#include <cstdint>
#include <vector>

#include "labor/core/parallel.hpp"
#include "labor/nn/batch_norm2d.hpp"

namespace labor::nn::detail {

/// Σ_{i<n} f(i) and Σ_{i<n} h(i) in double with eight independent accumulators (vectorisable,
/// and the result does not depend on the thread count).
template <class F, class H>
void lane_sums(std::int64_t n, F f, H h, double& sum_f, double& sum_h) {
  double a[8] = {}, b[8] = {};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) {
      a[j] += f(i + j);
      b[j] += h(i + j);
    }
  }
  for (; i < n; ++i) {
    a[0] += f(i);
    b[0] += h(i);
  }
  sum_f = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
  sum_h = ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7]));
}

template <>
struct BatchNormKernels<cpu> {
  /// y = affine(normalize(x)) per channel, with the batch statistics (and the running averages
  /// updated) or the running statistics; x̂ kept when a.xhat is not null.
  template <class T>
  static void forward(const BatchNormForwardPass<T>& a) {
    const std::int64_t n = a.n, c = a.c, hw = a.hw;
    if (a.batch_stats) {
      batch_statistics(a);
    } else {
      for (std::int64_t k = 0; k < c; ++k)
        batch_norm_running_channel(a.running_mean[k], a.running_var[k], a.eps, a.mean[k], a.invstd[k]);
    }
    parallel_for(
        0, n * c,
        [&](std::int64_t plane) {
          const std::int64_t k = plane % c;
          const auto op = batch_norm_channel(a.mean[k], a.invstd[k], a.weight, a.bias, k);
          const T* LABOR_RESTRICT xs = a.x + plane * hw;
          T* LABOR_RESTRICT ys = a.y + plane * hw;
          if (a.xhat) {
            T* LABOR_RESTRICT hs = a.xhat + plane * hw;
            for (std::int64_t i = 0; i < hw; ++i) {
              const T h = op.normalize(xs[i]);
              hs[i] = h;
              ys[i] = op.affine(h);
            }
          } else {
            for (std::int64_t i = 0; i < hw; ++i) ys[i] = op.affine(op.normalize(xs[i]));
          }
        },
        1);
  }

  /// dx, and Σg·x̂ / Σg added to the weight / bias gradients when they are not null.
  template <class T>
  static void backward(const BatchNormBackwardPass<T>& a) {
    const std::int64_t n = a.n, c = a.c, hw = a.hw;
    const std::int64_t count = n * hw;

    // Per-channel Σg and Σg·x̂, from per-plane partial sums reduced in a fixed order.
    std::vector<double> sum_g, sum_gx;
    if (a.batch_stats || a.weight_grad || a.bias_grad) {
      std::vector<double> plane_g(static_cast<std::size_t>(n * c)), plane_gx(static_cast<std::size_t>(n * c));
      parallel_for(
          0, n * c,
          [&](std::int64_t plane) {
            const T* gs = a.grad_out + plane * hw;
            const auto p = static_cast<std::size_t>(plane);
            if (a.xhat) {
              const T* hs = a.xhat + plane * hw;
              lane_sums(
                  hw, [&](std::int64_t i) { return static_cast<double>(gs[i]); },
                  [&](std::int64_t i) { return static_cast<double>(gs[i]) * static_cast<double>(hs[i]); }, plane_g[p],
                  plane_gx[p]);
            } else {
              double unused = 0;
              lane_sums(
                  hw, [&](std::int64_t i) { return static_cast<double>(gs[i]); }, [](std::int64_t) { return 0.0; },
                  plane_g[p], unused);
              plane_gx[p] = 0;
            }
          },
          1);
      sum_g.assign(static_cast<std::size_t>(c), 0.0);
      sum_gx.assign(static_cast<std::size_t>(c), 0.0);
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t k = 0; k < c; ++k) {
          sum_g[static_cast<std::size_t>(k)] += plane_g[static_cast<std::size_t>(i * c + k)];
          sum_gx[static_cast<std::size_t>(k)] += plane_gx[static_cast<std::size_t>(i * c + k)];
        }
    }
    if (a.weight_grad)
      for (std::int64_t k = 0; k < c; ++k) a.weight_grad[k] += static_cast<T>(sum_gx[static_cast<std::size_t>(k)]);
    if (a.bias_grad)
      for (std::int64_t k = 0; k < c; ++k) a.bias_grad[k] += static_cast<T>(sum_g[static_cast<std::size_t>(k)]);

    parallel_for(
        0, n * c,
        [&](std::int64_t plane) {
          const std::int64_t k = plane % c;
          const auto kk = static_cast<std::size_t>(k);
          const double w = a.weight ? static_cast<double>(a.weight[k]) : 1.0;
          const T* LABOR_RESTRICT gs = a.grad_out + plane * hw;
          T* LABOR_RESTRICT ds = a.dx + plane * hw;
          if (a.batch_stats) {
            const auto op = batch_norm_batch_grad<T>(w, a.invstd[k], sum_g[kk], sum_gx[kk], static_cast<double>(count));
            const T* LABOR_RESTRICT hs = a.xhat + plane * hw;
            for (std::int64_t i = 0; i < hw; ++i) ds[i] = op(gs[i], hs[i]);
          } else {
            const T scale = static_cast<T>(w * a.invstd[k]);
            for (std::int64_t i = 0; i < hw; ++i) ds[i] = gs[i] * scale;
          }
        },
        1);
  }

 private:
  /// Batch mean and invstd per channel into a.mean / a.invstd, and the running-statistics update.
  template <class T>
  static void batch_statistics(const BatchNormForwardPass<T>& a) {
    const std::int64_t n = a.n, c = a.c, hw = a.hw;
    const double count = static_cast<double>(n * hw);
    std::vector<double> s1(static_cast<std::size_t>(n * c)), s2(static_cast<std::size_t>(n * c));
    const T* px = a.x;
    parallel_for(
        0, n * c,
        [&](std::int64_t plane) {
          const T* xs = px + plane * hw;
          const double shift = static_cast<double>(px[(plane % c) * hw]);
          const auto p = static_cast<std::size_t>(plane);
          lane_sums(
              hw, [&](std::int64_t i) { return static_cast<double>(xs[i]) - shift; },
              [&](std::int64_t i) {
                const double d = static_cast<double>(xs[i]) - shift;
                return d * d;
              },
              s1[p], s2[p]);
        },
        1);
    for (std::int64_t k = 0; k < c; ++k) {
      double sa = 0, sb = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        sa += s1[static_cast<std::size_t>(i * c + k)];
        sb += s2[static_cast<std::size_t>(i * c + k)];
      }
      batch_norm_batch_channel(static_cast<double>(px[k * hw]), sa, sb, count, a.eps, a.momentum, a.running_mean[k],
                               a.running_var[k], a.mean[k], a.invstd[k]);
    }
  }
};

}  // namespace labor::nn::detail
