#pragma once
/// @file label_map.hpp
/// labor::data::LabelMap: how the raw 8-bit values stored in label PNGs become class indices, and
/// the Cityscapes table (labelIds → the 19 trainIds) that GTA5 label maps share.
///
/// A map is a table over the 256 raw values: each entry is a class index, 255 (ignore) or
/// uncovered. The empty map is the identity: raw values below the class count C keep their value.
/// Under every map, a raw 255 that the map does not cover stays 255 (ignore). Decoding a label
/// file through apply() throws for a raw value the map does not cover, or one it maps to a value
/// ≥ C other than 255, naming the file, the value and the pixel.

#include <array>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include "labor/core/error.hpp"
#include "labor/core/labels.hpp"
#include "labor/core/tensor.hpp"

namespace labor::data {

/// Raw label value → class index (or 255, ignore). Default-constructed: the identity map.
class LabelMap {
 public:
  /// The identity map (no entries).
  LabelMap() { table_.fill(kUncovered); }

  /// Maps raw value `raw` (0–255) to `cls` (0–255; 255 = ignore). A raw value may be set once.
  /// @throws labor::Error for values outside [0, 255] or a raw value set twice.
  void set(int raw, int cls) {
    LABOR_CHECK(raw >= 0 && raw <= 255, "LabelMap: raw value: expected in [0, 255], got {}", raw);
    LABOR_CHECK(cls >= 0 && cls <= 255, "LabelMap: class of raw value {}: expected in [0, 255], got {}", raw, cls);
    LABOR_CHECK(table_[static_cast<std::size_t>(raw)] == kUncovered,
                "LabelMap: raw value {}: mapped twice (to {} and to {})", raw, table_[static_cast<std::size_t>(raw)],
                cls);
    table_[static_cast<std::size_t>(raw)] = static_cast<std::int16_t>(cls);
    ++entries_;
  }

  /// True for the identity map (no entries).
  [[nodiscard]] bool identity() const { return entries_ == 0; }
  /// Number of raw values the map covers.
  [[nodiscard]] int entries() const { return entries_; }

  /// The class of raw value `raw` under `num_classes` classes: the entry when covered; else raw
  /// itself for the identity map and raw < num_classes; else 255 for raw == 255; else −1 (invalid).
  /// A covered value mapped to a class ≥ num_classes other than 255 is −1 too.
  [[nodiscard]] int lookup(int raw, int num_classes) const {
    if (raw < 0 || raw > 255) return -1;
    const int v = table_[static_cast<std::size_t>(raw)];
    if (v != kUncovered) return (v < num_classes || v == ignore_label) ? v : -1;
    if (identity() && raw < num_classes) return raw;
    return raw == ignore_label ? ignore_label : -1;
  }

  /// Decodes a raw H×W label map (as read by io::read_png_gray) into class indices.
  /// @param file names the source in errors.
  /// @throws labor::Error naming `file`, the value and the pixel (x, y) for the first raw value
  /// whose lookup() is −1, or for num_classes outside [1, 255].
  [[nodiscard]] Tensor<std::int32_t, cpu> apply(const Tensor<std::uint8_t, cpu>& raw, int num_classes,
                                                const std::string& file) const {
    LABOR_CHECK(num_classes >= 1 && num_classes <= 255, "label map '{}': num_classes: expected in [1, 255], got {}",
                file, num_classes);
    LABOR_CHECK(raw.rank() == 2, "label map '{}': expected an H×W map, got shape {}", file, raw.shape());
    std::array<std::int32_t, 256> lut{};
    for (int v = 0; v < 256; ++v) lut[static_cast<std::size_t>(v)] = lookup(v, num_classes);
    auto out = Tensor<std::int32_t, cpu>::uninitialized(raw.shape());
    const std::int64_t w = raw.size(1);
    for (std::int64_t i = 0; i < raw.numel(); ++i) {
      const std::int32_t c = lut[raw[i]];
      if (c < 0) {
        const int v = raw[i], m = table_[raw[i]];
        fail("label map '{}': pixel (x={}, y={}): raw value {} {} (num_classes {})", file, i % w, i / w, v,
             m == kUncovered ? std::string("is not covered by the label map")
                             : fmt::format("maps to class {}, expected < num_classes or 255", m),
             num_classes);
      }
      out[i] = c;
    }
    return out;
  }

  /// Parses entries `src:dst` separated by commas (spaces allowed), e.g. "7:0,8:1,11:2,0:255".
  /// @param origin names the text in errors.
  /// @throws labor::Error for a malformed entry, a value outside [0, 255] or a repeated raw value.
  [[nodiscard]] static LabelMap parse(std::string_view text, std::string_view origin = "label map string") {
    LabelMap m;
    std::size_t entry = 0;
    while (!text.empty()) {
      const std::size_t comma = text.find(',');
      const std::string_view item = text.substr(0, comma);
      ++entry;
      const std::size_t colon = item.find(':');
      LABOR_CHECK(colon != std::string_view::npos, "{}: entry {} '{}': expected 'src:dst'", origin, entry, item);
      m.add_entry(item.substr(0, colon), item.substr(colon + 1), origin, fmt::format("entry {} '{}'", entry, item));
      if (comma == std::string_view::npos) break;
      text.remove_prefix(comma + 1);
    }
    LABOR_CHECK(!m.identity(), "{}: expected at least one 'src:dst' entry, got none", origin);
    return m;
  }

  /// Reads a map file: one `src dst` or `src:dst` entry per line; blank lines and text after '#'
  /// are ignored. @throws labor::Error naming the file and the line for an unreadable file, a
  /// malformed line, a value outside [0, 255], a repeated raw value or a file with no entries.
  [[nodiscard]] static LabelMap read(const std::filesystem::path& file) {
    std::ifstream in(file);
    const std::string origin = fmt::format("label map file '{}'", file.string());
    LABOR_CHECK(in.good() && std::filesystem::is_regular_file(file), "{}: cannot open", origin);
    LabelMap m;
    std::string line;
    for (std::size_t n = 1; std::getline(in, line); ++n) {
      std::string_view l = line;
      l = l.substr(0, l.find('#'));
      std::string cleaned(l);
      for (char& c : cleaned)
        if (c == ':' || c == '\t' || c == '\r') c = ' ';
      std::string_view rest = cleaned;
      const auto token = [&rest]() {
        const std::size_t b = rest.find_first_not_of(' ');
        if (b == std::string_view::npos) return std::string_view{};
        rest.remove_prefix(b);
        const std::size_t e = rest.find(' ');
        const std::string_view t = rest.substr(0, e);
        rest.remove_prefix(e == std::string_view::npos ? rest.size() : e);
        return t;
      };
      const std::string_view src = token(), dst = token();
      if (src.empty()) continue;
      LABOR_CHECK(!dst.empty() && token().empty(), "{}: line {} '{}': expected 'src dst' or 'src:dst'", origin, n,
                  line);
      m.add_entry(src, dst, origin, fmt::format("line {} '{}'", n, line));
    }
    LABOR_CHECK(!m.identity(), "{}: expected at least one 'src dst' entry, got none", origin);
    return m;
  }

  /// The map an option value names: "cityscapes" (cityscapes_train_ids()), "identity" or "" (the
  /// identity), an existing file (read()), else a `src:dst,...` string (parse()).
  [[nodiscard]] static LabelMap from_argument(std::string_view arg);

 private:
  static constexpr std::int16_t kUncovered = -1;

  static int parse_value(std::string_view s, std::string_view origin, const std::string& where) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    int v = -1;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    LABOR_CHECK(ec == std::errc() && p == s.data() + s.size() && !s.empty() && v >= 0 && v <= 255,
                "{}: {}: value '{}': expected an integer in [0, 255]", origin, where, s);
    return v;
  }

  void add_entry(std::string_view src, std::string_view dst, std::string_view origin, const std::string& where) {
    const int s = parse_value(src, origin, where), d = parse_value(dst, origin, where);
    LABOR_CHECK(table_[static_cast<std::size_t>(s)] == kUncovered, "{}: {}: raw value {} mapped twice", origin, where,
                s);
    set(s, d);
  }

  std::array<std::int16_t, 256> table_{};
  int entries_ = 0;
};

/// The 19 Cityscapes evaluation classes, in trainId order.
inline constexpr std::array<std::string_view, 19> cityscapes_class_names = {
    "road",  "sidewalk",   "building", "wall",   "fence", "pole",  "traffic light", "traffic sign", "vegetation", "terrain",
    "sky",   "person",     "rider",    "car",    "truck", "bus",   "train",         "motorcycle",   "bicycle"};

/// The official Cityscapes table from labelIds (0–33, as stored in `*_gtFine_labelIds.png` and in
/// GTA5's label PNGs) to the 19 trainIds; every other raw value (including 255, the license plate's
/// −1 as stored in 8 bits) maps to 255.
inline LabelMap cityscapes_train_ids() {
  // trainId of labelId 0..33 (255: not evaluated).
  static constexpr std::uint8_t train_id[34] = {255, 255, 255, 255, 255, 255, 255, 0,   1,  255, 255, 2,
                                                3,   4,   255, 255, 255, 5,   255, 6,   7,  8,   9,   10,
                                                11,  12,  13,  14,  15,  255, 255, 16,  17, 18};
  LabelMap m;
  for (int raw = 0; raw < 256; ++raw) m.set(raw, raw < 34 ? train_id[raw] : 255);
  return m;
}

inline LabelMap LabelMap::from_argument(std::string_view arg) {
  if (arg.empty() || arg == "identity") return {};
  if (arg == "cityscapes") return cityscapes_train_ids();
  std::error_code ec;
  if (std::filesystem::is_regular_file(std::filesystem::path(arg), ec)) return read(std::filesystem::path(arg));
  return parse(arg);
}

}  // namespace labor::data
