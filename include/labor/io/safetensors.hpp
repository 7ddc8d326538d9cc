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
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/io/detail/atomic_file.hpp"

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

inline Shape entry_shape(const std::filesystem::path& path, const std::string& name, const SafetensorsEntry& e) {
  LABOR_CHECK(e.shape.size() <= 4, "safetensors {}: tensor '{}': rank: expected at most 4, got {}", path.string(), name,
              e.shape.size());
  Shape s{0};
  switch (e.shape.size()) {
    case 0:
      s = Shape{1};
      break;
    case 1:
      s = Shape{e.shape[0]};
      break;
    case 2:
      s = Shape{e.shape[0], e.shape[1]};
      break;
    case 3:
      s = Shape{e.shape[0], e.shape[1], e.shape[2]};
      break;
    default:
      s = Shape{e.shape[0], e.shape[1], e.shape[2], e.shape[3]};
      break;
  }
  return s;
}

inline const SafetensorsEntry& find_entry(const SafetensorsFile& f, const std::string& name) {
  const auto it = f.tensors.find(name);
  LABOR_CHECK(it != f.tensors.end(), "safetensors {}: tensor '{}': expected in the file, not found", f.path.string(),
              name);
  return it->second;
}

}  // namespace detail

inline Tensor<float, cpu> SafetensorsFile::to_float(const std::string& name) const {
  const SafetensorsEntry& e = detail::find_entry(*this, name);
  auto t = Tensor<float, cpu>::uninitialized(detail::entry_shape(path, name, e));
  const std::int64_t n = t.numel();
  const char* src = e.bytes.data();
  float* dst = t.data();
  if (e.dtype == "F32") {
    std::memcpy(dst, src, static_cast<std::size_t>(n) * 4);
  } else if (e.dtype == "F64") {
    for (std::int64_t i = 0; i < n; ++i) {
      double v;
      std::memcpy(&v, src + 8 * i, 8);
      dst[i] = static_cast<float>(v);
    }
  } else if (e.dtype == "F16" || e.dtype == "BF16") {
    const bool bf = e.dtype == "BF16";
    for (std::int64_t i = 0; i < n; ++i) {
      std::uint16_t v;
      std::memcpy(&v, src + 2 * i, 2);
      dst[i] = bf ? std::bit_cast<float>(static_cast<std::uint32_t>(v) << 16) : detail::half_to_float(v);
    }
  } else {
    fail("safetensors {}: tensor '{}': dtype: expected F32, F16, BF16 or F64, got {}", path.string(), name, e.dtype);
  }
  return t;
}

inline Tensor<std::int32_t, cpu> SafetensorsFile::to_int32(const std::string& name) const {
  const SafetensorsEntry& e = detail::find_entry(*this, name);
  LABOR_CHECK(e.dtype == "I32", "safetensors {}: tensor '{}': dtype: expected I32, got {}", path.string(), name,
              e.dtype);
  auto t = Tensor<std::int32_t, cpu>::uninitialized(detail::entry_shape(path, name, e));
  std::memcpy(t.data(), e.bytes.data(), e.bytes.size());
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

/// Reads and validates a whole safetensors file.
/// @throws labor::Error naming the file for a missing or unreadable file, a truncated file, a
///         header that is not valid JSON or not the format above, an unknown dtype, offsets outside
///         the buffer or not matching dtype × shape, overlapping tensors or trailing bytes.
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
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  } catch (const nlohmann::json::exception& e) {
    fail("read_safetensors {}: header: expected JSON, got a parse error ({})", fn, e.what());
  }
  LABOR_CHECK(header.is_object(), "read_safetensors {}: header: expected a JSON object", fn);
  const std::string_view buffer(bytes.data() + 8 + n, bytes.size() - 8 - n);
  SafetensorsFile out;
  out.path = file;
  std::vector<std::pair<std::int64_t, std::int64_t>> ranges;
  for (const auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      LABOR_CHECK(v.is_object(), "read_safetensors {}: __metadata__: expected an object of strings", fn);
      for (const auto& [k, s] : v.items()) {
        LABOR_CHECK(s.is_string(), "read_safetensors {}: __metadata__ '{}': expected a string", fn, k);
        out.metadata[k] = s.get<std::string>();
      }
      continue;
    }
    LABOR_CHECK(v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets") &&
                    v["dtype"].is_string() && v["shape"].is_array() && v["data_offsets"].is_array() &&
                    v["data_offsets"].size() == 2,
                "read_safetensors {}: tensor '{}': expected {{dtype, shape, data_offsets: [begin, end]}}", fn, name);
    SafetensorsEntry e;
    e.dtype = v["dtype"].get<std::string>();
    const std::int64_t size = detail::dtype_size(e.dtype);
    LABOR_CHECK(size > 0, "read_safetensors {}: tensor '{}': unknown dtype '{}'", fn, name, e.dtype);
    std::int64_t numel = 1;
    for (const auto& d : v["shape"]) {
      LABOR_CHECK(d.is_number_integer() && d.get<std::int64_t>() >= 0,
                  "read_safetensors {}: tensor '{}': shape: expected non-negative integers", fn, name);
      e.shape.push_back(d.get<std::int64_t>());
      numel *= e.shape.back();
    }
    const auto& off = v["data_offsets"];
    LABOR_CHECK(off[0].is_number_unsigned() && off[1].is_number_unsigned(),
                "read_safetensors {}: tensor '{}': data_offsets: expected non-negative integers", fn, name);
    const auto begin = off[0].get<std::int64_t>(), end = off[1].get<std::int64_t>();
    LABOR_CHECK(begin <= end && end <= static_cast<std::int64_t>(buffer.size()),
                "read_safetensors {}: tensor '{}': data_offsets [{}, {}] outside the {}-byte buffer (truncated file?)",
                fn, name, begin, end, buffer.size());
    LABOR_CHECK(end - begin == numel * size,
                "read_safetensors {}: tensor '{}': byte size: expected {} ({} × {} elements), got {}", fn, name,
                numel * size, e.dtype, numel, end - begin);
    e.bytes.assign(buffer.substr(static_cast<std::size_t>(begin), static_cast<std::size_t>(end - begin)));
    ranges.emplace_back(begin, end);
    out.tensors.emplace(name, std::move(e));
  }
  std::sort(ranges.begin(), ranges.end());
  std::int64_t covered = 0;
  for (const auto& [b, e] : ranges) {
    LABOR_CHECK(b == covered, "read_safetensors {}: data buffer: expected tensors to tile it, found a {} at byte {}",
                fn, b < covered ? "overlap" : "gap", std::min(b, covered));
    covered = e;
  }
  LABOR_CHECK(covered == static_cast<std::int64_t>(buffer.size()),
              "read_safetensors {}: data buffer: {} trailing bytes after the last tensor", fn,
              static_cast<std::int64_t>(buffer.size()) - covered);
  return out;
}

}  // namespace labor::io
