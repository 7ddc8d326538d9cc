#pragma once
/// @file error.hpp
/// labor::Error and the checking macros every module uses to report bad input.

#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace labor {

/// The one exception type labor throws for bad input and failed operations.
/// Its message names the argument, what was expected and what was found.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// Throws labor::Error with a fmt-formatted message.
template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace labor

/// Throws labor::Error with a fmt-formatted message when `cond` is false.
/// Usage: `LABOR_CHECK(x.rank() == 4, "conv2d: input rank: expected 4, got {}", x.rank());`
#define LABOR_CHECK(cond, ...)    \
  do {                            \
    if (!(cond)) {                \
      ::labor::fail(__VA_ARGS__); \
    }                             \
  } while (false)
