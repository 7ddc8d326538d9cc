#pragma once
/// @file shape.hpp
/// labor::Shape: the extents of a dense row-major tensor of rank 0 to 4 (NCHW order for 4-D).

#include <array>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <span>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "labor/core/config.hpp"
#include "labor/core/error.hpp"

namespace labor {

/// The element count of a tensor with extents `dims`, checked: the rule every Shape obeys and every
/// reader of sizes from a file applies before it allocates. Zero extents are allowed, but the product
/// of the non-zero extents must still fit in int64 (so that every stride and every partial product
/// of a Shape fits too, even when another extent is 0).
/// @param what names the source in errors (e.g. "npy 'x.npy': shape").
/// @returns the product of `dims` (1 for none).
/// @throws labor::Error "<what>: extent <i>: expected >= 0, got <d>" for a negative extent, and
///         "<what>: element count overflows int64 (extents [..])" when the product does not fit.
inline std::int64_t checked_numel(std::span<const std::int64_t> dims, std::string_view what) {
  std::int64_t n = 1, nonzero = 1;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const std::int64_t d = dims[i];
    LABOR_CHECK(d >= 0, "{}: extent {}: expected >= 0, got {}", what, i, d);
    if (d == 0) {
      n = 0;
      continue;
    }
    LABOR_CHECK(nonzero <= std::numeric_limits<std::int64_t>::max() / d,
                "{}: element count overflows int64 (extents [{}])", what, fmt::join(dims, ", "));
    nonzero *= d;
    n = n == 0 ? 0 : nonzero;
  }
  return n;
}

/// `a · b` for non-negative `a` and `b`, checked. @throws labor::Error "<what>: <a> × <b> overflows
/// int64" when the product does not fit, and for a negative factor.
inline std::int64_t checked_mul(std::int64_t a, std::int64_t b, std::string_view what) {
  LABOR_CHECK(a >= 0 && b >= 0, "{}: {} × {}: expected non-negative factors", what, a, b);
  LABOR_CHECK(b == 0 || a <= std::numeric_limits<std::int64_t>::max() / b, "{}: {} × {} overflows int64", what, a, b);
  return a * b;
}

/// Extents of a dense, row-major tensor, at most 4 dimensions. 4-D tensors are N×C×H×W.
class Shape {
 public:
  static constexpr int max_rank = 4;

  /// Rank-0 shape (one element).
  constexpr Shape() = default;

  /// Shape from extents, e.g. `Shape{8, 64, 32, 32}`. Throws labor::Error for more than 4
  /// extents, a negative extent or an element count that overflows int64 (see checked_numel).
  Shape(std::initializer_list<std::int64_t> dims)
      : Shape(std::span<const std::int64_t>(dims.begin(), dims.size()), "Shape") {}

  /// Shape from extents read from outside (a file's header): as the initializer-list constructor,
  /// but the errors start with `what` (e.g. "npy 'x.npy': shape").
  /// @throws labor::Error "<what>: rank: expected at most 4, got <n>", or as checked_numel.
  Shape(std::span<const std::int64_t> dims, std::string_view what) {
    LABOR_CHECK(dims.size() <= max_rank, "{}: rank: expected at most {}, got {}", what, max_rank, dims.size());
    (void)checked_numel(dims, what);
    for (auto d : dims) dims_[static_cast<std::size_t>(rank_++)] = d;
  }

  /// Number of dimensions.
  [[nodiscard]] constexpr int rank() const { return rank_; }

  /// Extent of dimension `i`; negative `i` counts from the end. Throws for an invalid index.
  [[nodiscard]] std::int64_t operator[](int i) const {
    const int j = i < 0 ? i + rank_ : i;
    LABOR_CHECK(j >= 0 && j < rank_, "Shape{}: dimension index {} out of range for rank {}", to_string(), i, rank_);
    return dims_[static_cast<std::size_t>(j)];
  }

  /// Product of the extents (1 for rank 0).
  [[nodiscard]] constexpr std::int64_t numel() const {
    std::int64_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= dims_[static_cast<std::size_t>(i)];
    return n;
  }

  /// Row-major stride of dimension `i` in elements.
  [[nodiscard]] std::int64_t stride(int i) const {
    std::int64_t s = 1;
    for (int k = rank_ - 1; k > i; --k) s *= dims_[static_cast<std::size_t>(k)];
    return s;
  }

  [[nodiscard]] constexpr const std::array<std::int64_t, max_rank>& dims() const { return dims_; }

  friend constexpr bool operator==(const Shape& a, const Shape& b) {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i)
      if (a.dims_[static_cast<std::size_t>(i)] != b.dims_[static_cast<std::size_t>(i)]) return false;
    return true;
  }

  /// "[8, 64, 32, 32]".
  [[nodiscard]] std::string to_string() const {
    std::string s = "[";
    for (int i = 0; i < rank_; ++i) {
      if (i) s += ", ";
      s += std::to_string(dims_[static_cast<std::size_t>(i)]);
    }
    return s + "]";
  }

 private:
  std::array<std::int64_t, max_rank> dims_{};
  int rank_ = 0;
};

}  // namespace labor

template <>
struct fmt::formatter<labor::Shape> : fmt::formatter<std::string> {
  template <class Ctx>
  auto format(const labor::Shape& s, Ctx& ctx) const {
    return fmt::formatter<std::string>::format(s.to_string(), ctx);
  }
};
