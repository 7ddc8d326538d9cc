#pragma once
/// @file checks.hpp
/// Input validation shared by the loss functions on both devices: positions of offending elements
/// and the messages of the value checks (the CPU scans host memory, the GPU flags the first
/// offending index in a kernel; both report through the functions here).

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "labor/core/error.hpp"
#include "labor/core/shape.hpp"
#include "labor/loss/detail/pixel_math.hpp"

namespace labor::loss::detail {

/// The position of flat index `i` in `shape`: "(n=0, c=2, y=1, x=3)" for rank 4,
/// "(n=0, y=1, x=3)" for rank 3, "[i0, i1, ...]" otherwise.
inline std::string format_position(const Shape& shape, std::int64_t i) {
  std::int64_t idx[Shape::max_rank] = {};
  for (int k = shape.rank() - 1; k >= 0; --k) {
    const std::int64_t e = shape[k];
    idx[k] = e > 0 ? i % e : 0;
    i = e > 0 ? i / e : 0;
  }
  if (shape.rank() == 4) return fmt::format("(n={}, c={}, y={}, x={})", idx[0], idx[1], idx[2], idx[3]);
  if (shape.rank() == 3) return fmt::format("(n={}, y={}, x={})", idx[0], idx[1], idx[2]);
  std::string s = "[";
  for (int k = 0; k < shape.rank(); ++k) s += (k ? ", " : "") + std::to_string(idx[k]);
  return s + "]";
}

/// Throws labor::Error for the non-finite `value` found at flat index `i` of `argument` (of `shape`).
[[noreturn]] inline void fail_non_finite_at(std::string_view function, std::string_view argument, const Shape& shape,
                                            std::int64_t i, double value) {
  fail("{}: {} at {}: expected a finite value, got {}", function, argument, format_position(shape, i), value);
}

/// Scans `data` (host memory of `shape`) and throws labor::Error naming the first non-finite
/// element. Called on the error path only, after a kernel has flagged a non-finite value.
template <class T>
[[noreturn]] void throw_non_finite(std::string_view function, std::string_view argument, const T* data,
                                   const Shape& shape) {
  for (std::int64_t i = 0; i < shape.numel(); ++i)
    if (!is_finite(data[i])) fail_non_finite_at(function, argument, shape, i, static_cast<double>(data[i]));
  fail("{}: {}: expected finite values, got a non-finite intermediate", function, argument);
}

/// Throws unless `shape` is N×C×H×W with every extent positive.
inline void check_nchw(std::string_view function, std::string_view argument, const Shape& shape) {
  LABOR_CHECK(shape.rank() == 4, "{}: {}: expected rank 4 (N×C×H×W), got rank {} (shape {})", function, argument,
              shape.rank(), shape);
  LABOR_CHECK(shape.numel() > 0, "{}: {}: expected a non-empty N×C×H×W tensor, got shape {}", function, argument,
              shape);
}

}  // namespace labor::loss::detail
