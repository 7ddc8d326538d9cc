#pragma once
/// @file json.hpp
/// Reading JSON that someone else wrote: parsing with a nesting limit, and quoting a value from such
/// a document in an error message without printing (or recursing through) all of it.
///
/// Every reader of outside JSON (queries, answers, round files, checkpoint and weight metadata,
/// safetensors headers) goes through parse_json/read_json, and every message that shows a value read
/// from a file shows it through quote(). nlohmann's parser is iterative, but dump() and the value's
/// destructor recurse, so a document nested deeper than json_max_depth is refused while it is parsed.

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "labor/core/error.hpp"

namespace labor::io {

/// The deepest nesting of arrays and objects labor accepts in a JSON document. labor's own files
/// nest at most 4 deep.
inline constexpr int json_max_depth = 64;

/// Parses `text` as one JSON document; `what` names its origin in errors (e.g. "json 'a.json'").
/// @throws labor::Error naming `what` when the text is not valid JSON or nests deeper than
///         json_max_depth.
inline nlohmann::json parse_json(std::string_view text, std::string_view what) {
  const auto limit = [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    LABOR_CHECK(depth <= json_max_depth, "{}: nested deeper than {} levels", what, json_max_depth);
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), limit);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: malformed: {}", what, e.what());
  }
}

/// Parses the JSON file `file` (as parse_json, the errors name the file).
/// @throws labor::Error naming the file when it cannot be opened or read, or as parse_json.
inline nlohmann::json read_json(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  LABOR_CHECK(in.good(), "json '{}': cannot open file", file.string());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  LABOR_CHECK(!in.bad(), "json '{}': read error", file.string());
  return parse_json(text, fmt::format("json '{}'", file.string()));
}

/// A short rendering of a value read from a file, for error messages: numbers, booleans, null and
/// strings as JSON (cut to at most `max_chars` characters, "..." appended), arrays and objects by
/// their kind and size only. Never recurses.
inline std::string quote(const nlohmann::json& j, std::size_t max_chars = 60) {
  if (j.is_array()) return fmt::format("an array of {} elements", j.size());
  if (j.is_object()) return fmt::format("an object of {} keys", j.size());
  std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() > max_chars) s = s.substr(0, max_chars) + "...";
  return s;
}

}  // namespace labor::io
