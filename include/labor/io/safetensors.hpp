#pragma once
/// @file safetensors.hpp
/// The safetensors format: named dense tensors behind a JSON header.
///
/// Layout: u64 little-endian header size N · N bytes of UTF-8 JSON
/// `{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
///   "__metadata__": {"key": "value", ...}}` (padded with spaces to a multiple of 8) · the data
/// buffer, offsets relative to its start, little-endian, row-major.
/// labor writes F32 (and I32 for integer maps); it reads F32, F16, BF16 (converted to float), F64
/// (rounded to float) and I32. read_safetensors checks the whole header (offsets inside the buffer,
/// sizes that match dtype × shape, no overlap, no trailing bytes) before anything is returned, and
/// every error names the file.

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "labor/core/error.hpp"
#include "labor/core/shape.hpp"
#include "labor/core/tensor.hpp"
#include "labor/io/detail/atomic_file.hpp"
#include "labor/io/json.hpp"

namespace labor::io {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

/// One tensor of a safetensors file: its dtype name, shape and raw little-endian bytes.
struct SafetensorsEntry {
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::string bytes;
};

/// A parsed safetensors file: tensors by name and the string metadata.
struct SafetensorsFile {
  std::filesystem::path path;
  std::map<std::string, SafetensorsEntry> tensors;
  std::map<std::string, std::string> metadata;

  /// Whether the file holds tensor `name`.
  [[nodiscard]] bool contains(const std::string& name) const { return tensors.count(name) != 0; }

  /// Tensor `name` as float (F32 as stored; F16, BF16 and F64 converted).
  /// @throws labor::Error naming the file and the key when it is absent, of another dtype, or of
  ///         a rank above 4.
  [[nodiscard]] Tensor<float, cpu> to_float(const std::string& name) const;

  /// Tensor `name` as int32 (I32 only). @throws labor::Error as to_float.
  [[nodiscard]] Tensor<std::int32_t, cpu> to_int32(const std::string& name) const;
};

namespace detail {

inline std::int64_t dtype_size(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL" || dtype == "F8_E4M3" || dtype == "F8_E5M2") return 1;
  return 0;
}

inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits = 0;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf / nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant != 0) {  // subnormal: normalise
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400u) == 0);
    bits = sign | (static_cast<std::uint32_t>(112 - e) << 23) | ((mant & 0x3ffu) << 13);
  } else {
    bits = sign;
  }
  return std::bit_cast<float>(bits);
}

/// `name` as quoted in an error message: at most 80 characters, "..." appended when cut.
inline std::string tensor_name(std::string_view name) {
  constexpr std::size_t max_chars = 80;
  return name.size() <= max_chars ? std::string(name) : std::string(name.substr(0, max_chars)) + "...";
}

/// The Shape of entry `name` (rank 0 becomes [1]).
/// @throws labor::Error naming the file and the key for a rank above 4 or an overflowing shape.
inline Shape entry_shape(const std::filesystem::path& path, const std::string& name, const SafetensorsEntry& e) {
  if (e.shape.empty()) return Shape{1};
  return Shape(e.shape, fmt::format("safetensors {}: tensor '{}': shape", path.string(), tensor_name(name)));
}

/// The bytes of entry `name`, checked against its dtype and shape (an entry made by hand may
/// disagree; read_safetensors' never do).
/// @throws labor::Error naming the file and the key when they disagree.
inline std::string_view entry_bytes(const std::filesystem::path& path, const std::string& name,
                                    const SafetensorsEntry& e, const Shape& shape) {
  const std::int64_t expected =
      checked_mul(shape.numel(), dtype_size(e.dtype),
                  fmt::format("safetensors {}: tensor '{}': byte size", path.string(), tensor_name(name)));
  LABOR_CHECK(static_cast<std::int64_t>(e.bytes.size()) == expected,
              "safetensors {}: tensor '{}': byte size: expected {} ({} × {} elements), got {}", path.string(),
              tensor_name(name), expected, e.dtype, shape.numel(), e.bytes.size());
  return e.bytes;
}

inline const SafetensorsEntry& find_entry(const SafetensorsFile& f, const std::string& name) {
  const auto it = f.tensors.find(name);
  LABOR_CHECK(it != f.tensors.end(), "safetensors {}: tensor '{}': expected in the file, not found", f.path.string(),
              tensor_name(name));
  return it->second;
}

}  // namespace detail

inline Tensor<float, cpu> SafetensorsFile::to_float(const std::string& name) const {
  const SafetensorsEntry& e = detail::find_entry(*this, name);
  LABOR_CHECK(e.dtype == "F32" || e.dtype == "F64" || e.dtype == "F16" || e.dtype == "BF16",
              "safetensors {}: tensor '{}': dtype: expected F32, F16, BF16 or F64, got {}", path.string(),
              detail::tensor_name(name), detail::tensor_name(e.dtype));
  const Shape shape = detail::entry_shape(path, name, e);
  const std::string_view bytes = detail::entry_bytes(path, name, e, shape);
  auto t = Tensor<float, cpu>::uninitialized(shape);
  const std::int64_t n = t.numel();
  if (n == 0) return t;
  const char* src = bytes.data();
  float* dst = t.data();
  if (e.dtype == "F32") {
    std::memcpy(dst, src, static_cast<std::size_t>(n) * 4);
  } else if (e.dtype == "F64") {
    for (std::int64_t i = 0; i < n; ++i) {
      double v;
      std::memcpy(&v, src + 8 * i, 8);
      dst[i] = static_cast<float>(v);
    }
  } else {
    const bool bf = e.dtype == "BF16";
    for (std::int64_t i = 0; i < n; ++i) {
      std::uint16_t v;
      std::memcpy(&v, src + 2 * i, 2);
      dst[i] = bf ? std::bit_cast<float>(static_cast<std::uint32_t>(v) << 16) : detail::half_to_float(v);
    }
  }
  return t;
}

inline Tensor<std::int32_t, cpu> SafetensorsFile::to_int32(const std::string& name) const {
  const SafetensorsEntry& e = detail::find_entry(*this, name);
  LABOR_CHECK(e.dtype == "I32", "safetensors {}: tensor '{}': dtype: expected I32, got {}", path.string(),
              detail::tensor_name(name), detail::tensor_name(e.dtype));
  const Shape shape = detail::entry_shape(path, name, e);
  const std::string_view bytes = detail::entry_bytes(path, name, e, shape);
  auto t = Tensor<std::int32_t, cpu>::uninitialized(shape);
  if (!bytes.empty()) std::memcpy(t.data(), bytes.data(), bytes.size());
  return t;
}

/// A tensor to write: a name and a view of float or int32 host data.
struct SafetensorsWrite {
  std::string name;
  std::string dtype;  ///< "F32" or "I32"
  Shape shape;
  const void* data = nullptr;

  SafetensorsWrite(std::string n, TensorView<const float, cpu> v)
      : name(std::move(n)), dtype("F32"), shape(v.shape()), data(v.data()) {}
  SafetensorsWrite(std::string n, TensorView<const std::int32_t, cpu> v)
      : name(std::move(n)), dtype("I32"), shape(v.shape()), data(v.data()) {}
};

/// Writes `tensors` and `metadata` to `file` atomically (temporary file, fsync, rename): a reader
/// sees the old file or the complete new one. Tensors are stored in the given order.
/// @throws labor::Error for a duplicate or empty name, a name "__metadata__", or an I/O failure
///         (naming the file); the file is then unchanged.
inline void write_safetensors(const std::filesystem::path& file, const std::vector<SafetensorsWrite>& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::int64_t offset = 0;
  for (const auto& t : tensors) {
    LABOR_CHECK(!t.name.empty() && t.name != "__metadata__",
                "write_safetensors {}: tensor name: expected a non-empty name other than __metadata__, got '{}'",
                file.string(), t.name);
    LABOR_CHECK(!header.contains(t.name), "write_safetensors {}: tensor '{}': expected unique names, got it twice",
                file.string(), t.name);
    std::vector<std::int64_t> dims;
    for (int d = 0; d < t.shape.rank(); ++d) dims.push_back(t.shape[d]);
    const std::int64_t bytes = t.shape.numel() * 4;
    header[t.name] = {{"dtype", t.dtype}, {"shape", dims}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  const std::uint64_t n = json.size();
  detail::AtomicFile out(file, "write_safetensors");
  out.write(&n, sizeof n);
  out.write(json.data(), json.size());
  for (const auto& t : tensors) out.write(t.data, static_cast<std::size_t>(t.shape.numel()) * 4);
  out.commit();
}

namespace detail {

/// nlohmann SAX handler that stops at the first key found twice in one object (nlohmann's parser
/// keeps the last silently). Run on text parse_json accepted, so the nesting is bounded.
struct JsonDuplicateKey {
  std::vector<std::set<std::string>> open;  // the keys seen in each open object or array
  std::string duplicate;
  bool found = false;

  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(std::int64_t) { return true; }
  bool number_unsigned(std::uint64_t) { return true; }
  bool number_float(double, const std::string&) { return true; }
  bool string(std::string&) { return true; }
  bool binary(nlohmann::json::binary_t&) { return true; }
  bool start_object(std::size_t) {
    open.emplace_back();
    return true;
  }
  bool end_object() {
    open.pop_back();
    return true;
  }
  bool start_array(std::size_t n) { return start_object(n); }
  bool end_array() { return end_object(); }
  bool key(std::string& k) {
    found = !open.back().insert(k).second;
    if (found) duplicate = k;
    return !found;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::json::exception&) { return false; }
};

/// A non-negative integer JSON value (at most INT64_MAX) as int64; nullopt for anything else.
inline std::optional<std::int64_t> json_size(const nlohmann::json& j) {
  if (!j.is_number_unsigned()) return std::nullopt;
  const auto v = j.get<std::uint64_t>();
  if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
  return static_cast<std::int64_t>(v);
}

}  // namespace detail

/// Reads and validates a whole safetensors file. Memory use is bounded by a small multiple of the
/// file's size: the header is checked (types, sizes, offsets, tiling) before any tensor's bytes are
/// copied.
/// @throws labor::Error naming the file for a missing or unreadable file, a truncated file, a
///         header that is not valid JSON (or nests deeper than io::json_max_depth, or repeats a key
///         in one object) or not the format above, an unknown dtype, a shape whose element or byte
///         count overflows int64, offsets outside the buffer or not matching dtype × shape,
///         overlapping tensors or trailing bytes.
inline SafetensorsFile read_safetensors(const std::filesystem::path& file) {
  const std::string fn = file.string();
  std::ifstream in(file, std::ios::binary);
  LABOR_CHECK(in.good(), "read_safetensors {}: cannot open the file", fn);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  LABOR_CHECK(bytes.size() >= 8, "read_safetensors {}: file size: expected at least 8 bytes, got {}", fn, bytes.size());
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  LABOR_CHECK(n <= bytes.size() - 8, "read_safetensors {}: header size {} runs past the end of the {}-byte file", fn, n,
              bytes.size());
  const std::string_view text(bytes.data() + 8, static_cast<std::size_t>(n));
  const std::string what = fmt::format("read_safetensors {}: JSON header", fn);
  const nlohmann::json header = parse_json(text, what);
  {
    detail::JsonDuplicateKey sax;
    const bool unique = nlohmann::json::sax_parse(text.begin(), text.end(), &sax);
    LABOR_CHECK(unique || !sax.found, "{}: key '{}' appears twice in one object", what,
                detail::tensor_name(sax.duplicate));
  }
  LABOR_CHECK(header.is_object(), "read_safetensors {}: header: expected a JSON object, got {}", fn, quote(header));
  const std::string_view buffer(bytes.data() + 8 + n, bytes.size() - 8 - n);
  const auto buffer_size = static_cast<std::int64_t>(buffer.size());
  SafetensorsFile out;
  out.path = file;
  struct Range {
    std::int64_t begin, end;
    const std::string* name;
  };
  std::vector<Range> ranges;
  for (const auto& [name, v] : header.items()) {
    const std::string key = detail::tensor_name(name);
    if (name == "__metadata__") {
      LABOR_CHECK(v.is_object(), "read_safetensors {}: __metadata__: expected an object of strings, got {}", fn,
                  quote(v));
      for (const auto& [k, s] : v.items()) {
        LABOR_CHECK(s.is_string(), "read_safetensors {}: __metadata__ '{}': expected a string, got {}", fn,
                    detail::tensor_name(k), quote(s));
        out.metadata[k] = s.get<std::string>();
      }
      continue;
    }
    LABOR_CHECK(v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"),
                "read_safetensors {}: tensor '{}': expected {{dtype, shape, data_offsets: [begin, end]}}, got {}", fn,
                key, quote(v));
    const auto& dtype = v["dtype"];
    const auto& shape = v["shape"];
    const auto& off = v["data_offsets"];
    LABOR_CHECK(dtype.is_string(), "read_safetensors {}: tensor '{}': dtype: expected a string, got {}", fn, key,
                quote(dtype));
    LABOR_CHECK(shape.is_array(), "read_safetensors {}: tensor '{}': shape: expected an array, got {}", fn, key,
                quote(shape));
    LABOR_CHECK(off.is_array() && off.size() == 2,
                "read_safetensors {}: tensor '{}': data_offsets: expected [begin, end], got {}", fn, key, quote(off));
    SafetensorsEntry e;
    e.dtype = dtype.get<std::string>();
    const std::int64_t size = detail::dtype_size(e.dtype);
    LABOR_CHECK(size > 0, "read_safetensors {}: tensor '{}': unknown dtype {}", fn, key, quote(dtype));
    for (const auto& d : shape) {
      const auto extent = detail::json_size(d);
      LABOR_CHECK(extent.has_value(),
                  "read_safetensors {}: tensor '{}': shape: expected non-negative integers (int64), got {}", fn, key,
                  quote(d));
      e.shape.push_back(*extent);
    }
    const std::string shape_what = fmt::format("read_safetensors {}: tensor '{}': shape", fn, key);
    const std::int64_t numel = checked_numel(e.shape, shape_what);
    const std::int64_t expected = checked_mul(numel, size, shape_what + ": byte size");
    const auto begin = detail::json_size(off[0]), end = detail::json_size(off[1]);
    LABOR_CHECK(begin.has_value() && end.has_value(),
                "read_safetensors {}: tensor '{}': data_offsets: expected non-negative integers (int64), got [{}, {}]",
                fn, key, quote(off[0]), quote(off[1]));
    LABOR_CHECK(*begin <= *end && *end <= buffer_size,
                "read_safetensors {}: tensor '{}': data_offsets [{}, {}] outside the {}-byte buffer (truncated file?)",
                fn, key, *begin, *end, buffer_size);
    LABOR_CHECK(*end - *begin == expected,
                "read_safetensors {}: tensor '{}': byte size: expected {} ({} × {} elements), got {}", fn, key,
                expected, e.dtype, numel, *end - *begin);
    const auto [it, inserted] = out.tensors.emplace(name, std::move(e));
    ranges.push_back({*begin, *end, &it->first});
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  std::int64_t covered = 0;
  for (const auto& r : ranges) {
    LABOR_CHECK(r.begin == covered,
                "read_safetensors {}: data buffer: expected tensors to tile it, found a {} at byte {} (tensor '{}')",
                fn, r.begin < covered ? "overlap" : "gap", std::min(r.begin, covered), detail::tensor_name(*r.name));
    covered = r.end;
  }
  LABOR_CHECK(covered == buffer_size, "read_safetensors {}: data buffer: {} trailing bytes after the last tensor", fn,
              buffer_size - covered);
  // The ranges tile the buffer, so the copies below add up to its size.
  for (const auto& r : ranges)
    out.tensors[*r.name].bytes.assign(
        buffer.substr(static_cast<std::size_t>(r.begin), static_cast<std::size_t>(r.end - r.begin)));
  return out;
}

}  // namespace labor::io
