#pragma once
/// @file npy.hpp
/// NumPy .npy files (format versions 1.0-3.0): read and write little-endian, C-order arrays of
/// float32, float64, int32, int64 and uint8 as host tensors of rank 0 to 4.

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "labor/core/error.hpp"
#include "labor/core/shape.hpp"
#include "labor/core/tensor.hpp"
#include "labor/io/detail/atomic_file.hpp"

namespace labor::io {

namespace detail {

template <class T>
constexpr std::string_view npy_descr() {
  if constexpr (std::is_same_v<T, float>)
    return "<f4";
  else if constexpr (std::is_same_v<T, double>)
    return "<f8";
  else if constexpr (std::is_same_v<T, std::int32_t>)
    return "<i4";
  else if constexpr (std::is_same_v<T, std::int64_t>)
    return "<i8";
  else if constexpr (std::is_same_v<T, std::uint8_t>)
    return "|u1";
  else
    static_assert(sizeof(T) == 0, "npy: unsupported element type");
}

/// At most the first 80 characters of `text`, other bytes than printable ASCII as '?', "..." when
/// cut: a header or field as quoted in an error message.
inline std::string npy_excerpt(std::string_view text) {
  constexpr std::size_t max_chars = 80;
  std::string s;
  for (std::size_t i = 0; i < text.size() && i < max_chars; ++i) s += text[i] >= ' ' && text[i] <= '~' ? text[i] : '?';
  if (text.size() > max_chars) s += "...";
  return s;
}

/// Value of `key` in the header dict, as the raw text up to the next top-level comma or brace (a
/// parenthesised tuple as a whole).
inline std::string npy_field(const std::string& header, std::string_view key, const std::string& path) {
  std::string quoted(1, '\'');
  quoted.append(key).push_back('\'');
  const auto k = header.find(quoted);
  LABOR_CHECK(k != std::string::npos, "npy '{}': header has no '{}' field: {}", path, key, npy_excerpt(header));
  auto p = header.find(':', k + quoted.size());
  LABOR_CHECK(p != std::string::npos, "npy '{}': malformed header: {}", path, npy_excerpt(header));
  ++p;
  while (p < header.size() && header[p] == ' ') ++p;
  std::size_t e = p;
  if (p < header.size() && header[p] == '(') {
    e = header.find(')', p);
    LABOR_CHECK(e != std::string::npos, "npy '{}': malformed shape in header: {}", path, npy_excerpt(header));
    ++e;
  } else {
    while (e < header.size() && header[e] != ',' && header[e] != '}') ++e;
  }
  auto v = header.substr(p, e - p);
  while (!v.empty() && v.back() == ' ') v.pop_back();
  return v;
}

/// The extents of a shape field, "()", "(3,)" or "(2, 3, 4)" (Python 2's "3L" accepted).
/// @throws labor::Error naming the file for anything else: a negative extent or one that does not
///         fit in int64, another character, more than Shape::max_rank extents.
inline std::vector<std::int64_t> npy_shape(std::string_view text, const std::string& path) {
  const auto bad = [&](std::string_view why) {
    fail("npy '{}': shape: expected a tuple of at most {} non-negative integers, got {} ({})", path, Shape::max_rank,
         npy_excerpt(text), why);
  };
  if (text.size() < 2 || text.front() != '(' || text.back() != ')') bad("not a tuple");
  std::vector<std::int64_t> dims;
  const char* p = text.data() + 1;
  const char* const end = text.data() + text.size() - 1;
  const auto skip_spaces = [&] {
    while (p < end && *p == ' ') ++p;
  };
  skip_spaces();
  while (p < end) {
    if (*p == '-') bad("a negative extent");
    std::int64_t d = 0;
    const auto [next, ec] = std::from_chars(p, end, d);
    if (ec == std::errc::result_out_of_range) bad("an extent above the int64 range");
    if (ec != std::errc()) bad("not an integer");
    if (dims.size() == static_cast<std::size_t>(Shape::max_rank)) bad("too many extents");
    dims.push_back(d);
    p = next;
    if (p < end && *p == 'L') ++p;
    skip_spaces();
    if (p < end) {
      if (*p != ',') bad("extents not separated by commas");
      ++p;
      skip_spaces();
    }
  }
  return dims;
}

}  // namespace detail

/// Reads a .npy file into a host tensor of element type T. Throws labor::Error naming the file
/// for a missing or truncated file, another dtype, big-endian data, Fortran order, a malformed
/// shape, rank > 4 or an element count that overflows int64. The declared header and data sizes are
/// checked against the file's length before anything is allocated, so memory use is bounded by the
/// file's size (the file must be a regular file).
template <class T>
Tensor<T, cpu> read_npy(const std::filesystem::path& file) {
  const std::string path = file.string();
  std::ifstream in(file, std::ios::binary);
  LABOR_CHECK(in.good(), "npy '{}': cannot open file", path);
  std::error_code ec;
  const std::uintmax_t file_size = std::filesystem::file_size(file, ec);
  LABOR_CHECK(!ec, "npy '{}': cannot determine the file's size (not a regular file?): {}", path, ec.message());
  char magic[8];
  in.read(magic, 8);
  LABOR_CHECK(in.gcount() == 8 && std::string_view(magic, 6) == "\x93NUMPY", "npy '{}': not a .npy file (bad magic)",
              path);
  const int major = static_cast<unsigned char>(magic[6]);
  LABOR_CHECK(major >= 1 && major <= 3, "npy '{}': format version: expected 1-3, got {}", path, major);
  std::uint32_t header_len = 0;
  if (major == 1) {
    unsigned char b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<std::uint32_t>(b[3]) << 24);
  }
  LABOR_CHECK(in.good(), "npy '{}': truncated header", path);
  const std::uintmax_t prefix = major == 1 ? 10 : 12;
  LABOR_CHECK(header_len <= file_size - prefix,
              "npy '{}': truncated header: it declares {} bytes, the {}-byte file holds {} after the prefix", path,
              header_len, file_size, file_size - prefix);
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);
  LABOR_CHECK(in.gcount() == static_cast<std::streamsize>(header_len), "npy '{}': truncated header", path);

  std::string descr = detail::npy_field(header, "descr", path);
  if (descr.size() >= 2 && (descr.front() == '\'' || descr.front() == '"')) descr = descr.substr(1, descr.size() - 2);
  const auto expected = detail::npy_descr<T>();
  if (descr != expected) {
    const bool other_endian =
        descr.size() == 3 && expected.size() == 3 && descr[0] == '>' && descr.substr(1) == expected.substr(1);
    LABOR_CHECK(!other_endian, "npy '{}': byte order: expected little-endian '{}', got big-endian '{}'", path, expected,
                descr);
    fail("npy '{}': dtype: expected '{}', got '{}'", path, expected, detail::npy_excerpt(descr));
  }
  const auto fortran = detail::npy_field(header, "fortran_order", path);
  LABOR_CHECK(fortran == "False", "npy '{}': fortran_order: expected False (C order), got {}", path,
              detail::npy_excerpt(fortran));

  const auto dims = detail::npy_shape(detail::npy_field(header, "shape", path), path);
  const std::string what = fmt::format("npy '{}': shape", path);
  const Shape shape(dims, what);
  const std::int64_t bytes = checked_mul(shape.numel(), static_cast<std::int64_t>(sizeof(T)), what + ": data size");
  const std::uintmax_t left = file_size - prefix - header_len;
  LABOR_CHECK(static_cast<std::uintmax_t>(bytes) <= left,
              "npy '{}': truncated data: expected {} bytes for shape {}, got {}", path, bytes, shape, left);
  auto t = Tensor<T, cpu>::uninitialized(shape);
  in.read(reinterpret_cast<char*>(t.data()), static_cast<std::streamsize>(t.bytes()));
  LABOR_CHECK(in.gcount() == static_cast<std::streamsize>(t.bytes()),
              "npy '{}': truncated data: expected {} bytes for shape {}, got {}", path, t.bytes(), shape, in.gcount());
  return t;
}

/// Writes a host tensor as a version 1.0 .npy file (little-endian, C order) with an atomic
/// replacement (io/detail/atomic_file.hpp): a reader never sees half a file, and a failed write
/// leaves an existing file untouched.
template <class T>
void write_npy(const std::filesystem::path& file, TensorView<const T, cpu> t) {
  std::string shape = "(";
  for (int i = 0; i < t.rank(); ++i)
    shape += std::to_string(t.size(i)) + (t.rank() == 1 ? "," : (i + 1 < t.rank() ? ", " : ""));
  shape += ")";
  std::string header =
      "{'descr': '" + std::string(detail::npy_descr<T>()) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  const std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  detail::AtomicFile out(file, "npy");
  const unsigned char len[2] = {static_cast<unsigned char>(header.size() & 0xff),
                                static_cast<unsigned char>(header.size() >> 8)};
  out.write("\x93NUMPY\x01\x00", 8);
  out.write(len, 2);
  out.write(header.data(), header.size());
  out.write(t.data(), static_cast<std::size_t>(t.numel()) * sizeof(T));
  out.commit();
}

template <class T>
void write_npy(const std::filesystem::path& file, const Tensor<T, cpu>& t) {
  write_npy<T>(file, t.view());
}

}  // namespace labor::io
