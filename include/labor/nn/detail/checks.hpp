#pragma once
/// @file checks.hpp
/// Argument checks shared by the nn layers (labor::nn::detail).

#include "labor/core/error.hpp"
#include "labor/core/shape.hpp"

namespace labor::nn::detail {

/// Throws labor::Error unless `s` is a non-empty N×C×H×W shape. `op` names the layer, `arg` the
/// argument ("input", "grad_out").
inline void check_nchw(const char* op, const char* arg, const Shape& s) {
  LABOR_CHECK(s.rank() == 4, "{}: {} rank: expected 4 (N×C×H×W), got {} (shape {})", op, arg, s.rank(), s);
  LABOR_CHECK(s[0] > 0 && s[1] > 0 && s[2] > 0 && s[3] > 0, "{}: {}: expected a non-empty N×C×H×W tensor, got shape {}",
              op, arg, s);
}

/// Throws labor::Error unless a forward preceded this backward and `grad_out` has shape `expected`
/// (the shape of that forward's output).
inline void check_backward(const char* op, bool have_forward, const Shape& grad_out, const Shape& expected) {
  LABOR_CHECK(have_forward, "{}: backward called before forward (or after a forward under NoGradGuard)", op);
  LABOR_CHECK(grad_out == expected, "{}: backward grad_out shape: expected {}, got {}", op, expected, grad_out);
}

}  // namespace labor::nn::detail
