#pragma once
/// @file json.hpp
/// Reading JSON files that someone else wrote: one function, whose errors name the file.

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "labor/core/error.hpp"

namespace labor::io {

/// Parses the JSON file `file`.
/// @throws labor::Error naming the file when it cannot be opened or is not valid JSON.
inline nlohmann::json read_json(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  LABOR_CHECK(in.good(), "json '{}': cannot open file", file.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail("json '{}': malformed: {}", file.string(), e.what());
  }
}

}  // namespace labor::io
