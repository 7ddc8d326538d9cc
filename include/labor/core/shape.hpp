#pragma once
/// @file shape.hpp
/// labor::Shape: the extents of a dense row-major tensor of rank 0 to 4 (NCHW order for 4-D).

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include <fmt/format.h>

#include "labor/core/config.hpp"
#include "labor/core/error.hpp"

namespace labor {

/// Extents of a dense, row-major tensor, at most 4 dimensions. 4-D tensors are N×C×H×W.
class Shape {
 public:
  static constexpr int max_rank = 4;

  /// Rank-0 shape (one element).
  constexpr Shape() = default;

  /// Shape from extents, e.g. `Shape{8, 64, 32, 32}`. Throws labor::Error for more than 4
  /// extents or a negative extent.
  Shape(std::initializer_list<std::int64_t> dims) {
    LABOR_CHECK(dims.size() <= max_rank, "Shape: rank: expected at most {}, got {}", max_rank, dims.size());
    for (auto d : dims) {
      LABOR_CHECK(d >= 0, "Shape: extent {}: expected >= 0, got {}", rank_, d);
      dims_[rank_++] = d;
    }
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
