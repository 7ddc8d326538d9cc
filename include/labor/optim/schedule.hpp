#pragma once
/// @file schedule.hpp
/// Learning-rate schedules.

#include <cmath>
#include <cstdint>

#include "labor/core/error.hpp"

namespace labor::optim {

/// The "poly" schedule: base_lr·(1 − iter/max_iter)^power (DeepLab, AdaptSeg). Equals base_lr at
/// iter 0 and 0 at iter = max_iter.
/// @throws labor::Error for max_iter ≤ 0, iter outside [0, max_iter], or a negative or non-finite
///         base_lr or power.
inline double poly_lr(double base_lr, std::int64_t iter, std::int64_t max_iter, double power = 0.9) {
  LABOR_CHECK(max_iter > 0, "poly_lr: max_iter: expected > 0, got {}", max_iter);
  LABOR_CHECK(iter >= 0 && iter <= max_iter, "poly_lr: iter: expected in [0, max_iter = {}], got {}", max_iter, iter);
  LABOR_CHECK(std::isfinite(base_lr) && base_lr >= 0, "poly_lr: base_lr: expected a finite value >= 0, got {}",
              base_lr);
  LABOR_CHECK(std::isfinite(power) && power >= 0, "poly_lr: power: expected a finite value >= 0, got {}", power);
  return base_lr * std::pow(1.0 - static_cast<double>(iter) / static_cast<double>(max_iter), power);
}

}  // namespace labor::optim
