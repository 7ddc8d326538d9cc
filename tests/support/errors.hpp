#pragma once
// Assertions on labor::Error: that a call throws it, and that its message says what was wrong.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <labor/core/error.hpp>

namespace labor::testing {

/// Calls `f` and expects a labor::Error whose message contains every one of `parts`.
template <class F>
void expect_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected labor::Error mentioning '" << (parts.empty() ? std::string() : parts.front()) << "'";
  } catch (const labor::Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message: " << msg << "\nmissing: " << p;
  }
}

/// Calls `f` and expects a labor::Error whose message contains `part`.
template <class F>
void expect_error(F&& f, const char* part) {
  expect_error(std::forward<F>(f), std::vector<std::string>{part});
}

/// The message of the labor::Error `f` throws; a test failure and "" when it throws none.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const labor::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a labor::Error";
  return {};
}

}  // namespace labor::testing
