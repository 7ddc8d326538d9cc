#pragma once
// Command-line pieces labor_train and labor share: the one-line error, sizes and lists.

#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include <labor/core/error.hpp>

namespace labor_train {

/// Prints "PROGRAM: error: MESSAGE" as one line on stderr (line breaks in the message become spaces).
inline void print_error(const char* program, std::string message) {
  for (auto& ch : message)
    if (ch == '\n' || ch == '\r') ch = ' ';
  std::fprintf(stderr, "%s: error: %s\n", program, message.c_str());
}

/// "HxW" (or "HXW") as (H, W), both > 0. @throws labor::Error naming `flag` otherwise.
inline std::pair<std::int64_t, std::int64_t> parse_size(const std::string& text, const char* flag) {
  const auto x = text.find_first_of("xX");
  std::int64_t h = 0, w = 0;
  try {
    std::size_t n1 = 0, n2 = 0;
    if (x != std::string::npos) {
      h = std::stoll(text.substr(0, x), &n1);
      w = std::stoll(text.substr(x + 1), &n2);
    }
    if (n1 != x || n2 != text.size() - x - 1) h = w = 0;
  } catch (const std::exception&) {
    h = w = 0;
  }
  LABOR_CHECK(h > 0 && w > 0, "{}: expected HxW with positive sizes (e.g. 256x512), got '{}'", flag, text);
  return {h, w};
}

/// Comma-separated items (empty text: none).
inline std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  std::size_t start = 0;
  while (true) {
    const auto comma = text.find(',', start);
    out.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

}  // namespace labor_train
