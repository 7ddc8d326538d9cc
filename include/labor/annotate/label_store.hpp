#pragma once
/// @file label_store.hpp
/// LabelStore: the sparse target labels an oracle gave, per image, across selection rounds, and
/// their file format.
///
/// File format (all integers little-endian):
///   magic "LABORLS\0" (8 bytes) · u32 version (1) · u32 num_classes · u64 image count ·
///   per image, ids ascending: i64 id · i64 height · i64 width · u64 count ·
///     count × (i64 linear index y·W + x, strictly ascending · i32 label) ·
///   u64 FNV-1a 64-bit hash of every byte before it.
/// load() checks every field (magic, version, class count, sizes, order, ranges, hash, length),
/// so a truncated or corrupt file is reported, never half-read. Image sizes follow the rule merge()
/// applies (detail::check_image_size), so every store that can be saved can be loaded.

#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "labor/annotate/answers.hpp"
#include "labor/annotate/detail/checks.hpp"
#include "labor/core/error.hpp"
#include "labor/core/hash.hpp"
#include "labor/core/tensor.hpp"
#include "labor/io/atomic_file.hpp"

namespace labor::annotate {

namespace detail {

static_assert(std::endian::native == std::endian::little, "LabelStore files are written in host byte order");

inline constexpr std::string_view store_magic{"LABORLS\0", 8};
inline constexpr std::uint32_t store_version = 1;

using labor::fnv1a64;

template <class T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

/// Bounds-checked reader over a file's bytes; errors name the file and the offset.
class ByteReader {
 public:
  ByteReader(std::string_view bytes, std::string file) : bytes_(bytes), file_(std::move(file)) {}
  template <class T>
  T get(const char* what) {
    LABOR_CHECK(bytes_.size() - pos_ >= sizeof(T), "label store '{}': truncated: {} at byte {} of {}", file_, what,
                pos_, bytes_.size());
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  [[nodiscard]] std::size_t remaining() const { return bytes_.size() - pos_; }
  [[nodiscard]] std::size_t pos() const { return pos_; }

 private:
  std::string_view bytes_;
  std::string file_;
  std::size_t pos_ = 0;
};

}  // namespace detail

/// Sparse target labels per dataset image across selection rounds.
///
/// Each image keeps its H×W size and (linear index y·W + x, label) pairs sorted by index. Labels
/// are in [0, C) or ignore_label: an ignore answer is stored (the pixel was queried and paid for;
/// it is counted by queried_pixels() but not labeled_pixels(), and stays 255 in dense()).
/// Re-labeling: when a later merge answers a pixel the store already holds, the later answer
/// replaces the earlier one (the latest answer wins, including an ignore answer).
/// Every mutating call has the strong guarantee: on an exception the store is unchanged.
class LabelStore {
 public:
  /// One stored label.
  struct Entry {
    std::int64_t index = 0;  ///< linear index y·W + x
    std::int32_t label = 0;  ///< in [0, C) or ignore_label
    friend bool operator==(const Entry&, const Entry&) = default;
  };
  /// The stored labels of one image.
  struct ImageLabels {
    std::int64_t height = 0;
    std::int64_t width = 0;
    std::vector<Entry> entries;  ///< strictly ascending by index
    friend bool operator==(const ImageLabels&, const ImageLabels&) = default;
  };

  /// An empty store for label maps with `num_classes` classes (1 to 255).
  explicit LabelStore(std::int32_t num_classes) : num_classes_(num_classes) {
    LABOR_CHECK(num_classes > 0 && num_classes <= ignore_label, "LabelStore: num_classes: expected in [1, {}], got {}",
                ignore_label, num_classes);
  }

  [[nodiscard]] std::int32_t num_classes() const { return num_classes_; }

  /// Adds a round's answers (validated first: sizes, pixels, labels, and an image's H×W must match
  /// what the store already holds for it). Latest answer wins for a pixel answered before. An
  /// image answered with no pixels is recorded with its size. Throws labor::Error; the store is
  /// then unchanged.
  void merge(const Answers& answers) {
    validate_answers(answers, num_classes_);
    std::map<std::int64_t, ImageLabels> updated;
    for (const auto& a : answers.images) {
      auto it = updated.find(a.image);
      if (it == updated.end()) {
        const auto old = images_.find(a.image);
        it = updated.emplace(a.image, old != images_.end() ? old->second : ImageLabels{a.height, a.width, {}}).first;
      }
      ImageLabels& im = it->second;
      LABOR_CHECK(im.height == a.height && im.width == a.width,
                  "LabelStore::merge: image {}: size: expected {}x{} (stored), got {}x{}", a.image, im.height, im.width,
                  a.height, a.width);
      std::vector<Entry> merged;
      merged.reserve(im.entries.size() + a.pixels.size());
      std::size_t i = 0, j = 0;
      while (i < im.entries.size() || j < a.pixels.size()) {
        if (j == a.pixels.size() || (i < im.entries.size() && im.entries[i].index < a.pixels[j])) {
          merged.push_back(im.entries[i++]);
        } else {
          if (i < im.entries.size() && im.entries[i].index == a.pixels[j]) ++i;  // replaced
          merged.push_back({a.pixels[j], a.labels[j]});
          ++j;
        }
      }
      im.entries = std::move(merged);
    }
    // Commit without allocating: swap contents or move whole map nodes across.
    while (!updated.empty()) {
      auto node = updated.extract(updated.begin());
      const auto old = images_.find(node.key());
      if (old != images_.end()) {
        std::swap(old->second, node.mapped());
      } else {
        images_.insert(std::move(node));
      }
    }
  }

  /// Whether the store holds image `id`.
  [[nodiscard]] bool contains(std::int64_t id) const { return images_.contains(id); }
  /// The stored labels of image `id`; throws labor::Error when absent.
  [[nodiscard]] const ImageLabels& image(std::int64_t id) const {
    const auto it = images_.find(id);
    LABOR_CHECK(it != images_.end(), "LabelStore: image {}: not in the store ({} images)", id, images_.size());
    return it->second;
  }
  /// Ids of the stored images, ascending.
  [[nodiscard]] std::vector<std::int64_t> image_ids() const {
    std::vector<std::int64_t> ids;
    for (const auto& [id, im] : images_) ids.push_back(id);
    return ids;
  }
  /// Number of stored images.
  [[nodiscard]] std::int64_t num_images() const { return static_cast<std::int64_t>(images_.size()); }

  /// Stored pixels (ignore answers included), over all images or for image `id` (0 when absent).
  [[nodiscard]] std::int64_t queried_pixels() const {
    std::int64_t n = 0;
    for (const auto& [id, im] : images_) n += static_cast<std::int64_t>(im.entries.size());
    return n;
  }
  [[nodiscard]] std::int64_t queried_pixels(std::int64_t id) const {
    const auto it = images_.find(id);
    return it == images_.end() ? 0 : static_cast<std::int64_t>(it->second.entries.size());
  }
  /// Stored pixels with a class label (ignore answers excluded).
  [[nodiscard]] std::int64_t labeled_pixels() const {
    std::int64_t n = 0;
    for (const auto& c : class_counts()) n += c;
    return n;
  }
  /// Stored pixels per class (size num_classes).
  [[nodiscard]] std::vector<std::int64_t> class_counts() const {
    std::vector<std::int64_t> counts(static_cast<std::size_t>(num_classes_), 0);
    for (const auto& [id, im] : images_)
      for (const auto& e : im.entries)
        if (e.label != ignore_label) ++counts[static_cast<std::size_t>(e.label)];
    return counts;
  }

  /// Image `id` as a dense H×W label map: stored labels, ignore_label (255) elsewhere. Throws
  /// labor::Error when the image is absent.
  [[nodiscard]] Tensor<std::int32_t, cpu> dense(std::int64_t id) const {
    const auto& im = image(id);
    auto out = Tensor<std::int32_t, cpu>::full(Shape{im.height, im.width}, ignore_label);
    for (const auto& e : im.entries) out[e.index] = e.label;
    return out;
  }

  /// The file image of the store (format in the file comment).
  [[nodiscard]] std::string serialize() const {
    std::string out(detail::store_magic);
    detail::put(out, detail::store_version);
    detail::put(out, static_cast<std::uint32_t>(num_classes_));
    detail::put(out, static_cast<std::uint64_t>(images_.size()));
    for (const auto& [id, im] : images_) {
      detail::put(out, id);
      detail::put(out, im.height);
      detail::put(out, im.width);
      detail::put(out, static_cast<std::uint64_t>(im.entries.size()));
      for (const auto& e : im.entries) {
        detail::put(out, e.index);
        detail::put(out, e.label);
      }
    }
    detail::put(out, detail::fnv1a64(out));
    return out;
  }

  /// Writes the store to `path` atomically (temporary file in the same folder, fsync, rename,
  /// folder fsync). Throws labor::Error naming the file on failure; an existing file at `path` is
  /// then untouched and no temporary file is left behind.
  void save(const std::filesystem::path& path) const { io::atomic_write(path, "label store", serialize()); }

  /// Replaces the contents with the store saved at `path`, whose class count must equal this
  /// store's. Throws labor::Error naming the file for a missing, truncated, corrupt or mismatched
  /// file; the store is then unchanged.
  void load(const std::filesystem::path& path) {
    LabelStore loaded = read(path);
    LABOR_CHECK(loaded.num_classes_ == num_classes_, "label store '{}': num_classes: expected {}, got {}",
                path.string(), num_classes_, loaded.num_classes_);
    *this = std::move(loaded);
  }

  /// The store saved at `path` (any class count). Throws labor::Error as load().
  [[nodiscard]] static LabelStore read(const std::filesystem::path& path) {
    const std::string file = path.string();
    std::ifstream in(path, std::ios::binary);
    LABOR_CHECK(in.good(), "label store '{}': cannot open file", file);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    LABOR_CHECK(!in.bad(), "label store '{}': read failed", file);
    return deserialize(bytes, file);
  }

  /// The store from a file image; `file` names it in errors.
  [[nodiscard]] static LabelStore deserialize(std::string_view bytes, const std::string& file = "<memory>") {
    LABOR_CHECK(bytes.size() >= detail::store_magic.size() && bytes.substr(0, 8) == detail::store_magic,
                "label store '{}': not a label store file (bad magic)", file);
    LABOR_CHECK(bytes.size() >= 8 + 4 + 4 + 8 + 8, "label store '{}': truncated: {} bytes", file, bytes.size());
    const auto body = bytes.substr(0, bytes.size() - 8);
    detail::ByteReader r(bytes, file);
    (void)r.get<std::uint64_t>("magic");
    const auto version = r.get<std::uint32_t>("version");
    LABOR_CHECK(version == detail::store_version, "label store '{}': version: expected {}, got {}", file,
                detail::store_version, version);
    const auto classes = r.get<std::uint32_t>("num_classes");
    LABOR_CHECK(classes >= 1 && classes <= static_cast<std::uint32_t>(ignore_label),
                "label store '{}': num_classes: expected in [1, {}], got {}", file, ignore_label, classes);
    {
      std::uint64_t stored;
      std::memcpy(&stored, bytes.data() + body.size(), sizeof stored);
      LABOR_CHECK(stored == detail::fnv1a64(body),
                  "label store '{}': checksum mismatch: the file is corrupt or truncated ({} bytes)", file,
                  bytes.size());
    }
    LabelStore store(static_cast<std::int32_t>(classes));
    const auto count = r.get<std::uint64_t>("image count");
    constexpr std::size_t image_header = 32, entry_bytes = 12;
    LABOR_CHECK(count <= r.remaining() / image_header, "label store '{}': image count {} exceeds the file size", file,
                count);
    std::int64_t prev_id = -1;
    for (std::uint64_t k = 0; k < count; ++k) {
      const auto id = r.get<std::int64_t>("image id");
      LABOR_CHECK(id > prev_id, "label store '{}': image ids must be non-negative and ascending: {} after {}", file, id,
                  prev_id);
      prev_id = id;
      ImageLabels im;
      im.height = r.get<std::int64_t>("height");
      im.width = r.get<std::int64_t>("width");
      detail::check_image_size(fmt::format("label store '{}'", file), id, im.height, im.width);
      const auto n = r.get<std::uint64_t>("entry count");
      LABOR_CHECK(r.remaining() >= 8 && n <= (r.remaining() - 8) / entry_bytes,
                  "label store '{}': image {}: entry count {} exceeds the file", file, id, n);
      im.entries.reserve(n);
      for (std::uint64_t e = 0; e < n; ++e) {
        Entry entry;
        entry.index = r.get<std::int64_t>("pixel index");
        entry.label = r.get<std::int32_t>("label");
        LABOR_CHECK(entry.index >= 0 && entry.index < im.height * im.width &&
                        (im.entries.empty() || im.entries.back().index < entry.index),
                    "label store '{}': image {}: pixel index {} out of range or order", file, id, entry.index);
        detail::check_label(fmt::format("label store '{}'", file), id, entry.index, im.width, entry.label,
                            static_cast<std::int32_t>(classes));
        im.entries.push_back(entry);
      }
      store.images_.emplace(id, std::move(im));
    }
    LABOR_CHECK(r.remaining() == 8, "label store '{}': {} unexpected bytes after the last image", file,
                r.remaining() - 8);
    return store;
  }

  friend bool operator==(const LabelStore&, const LabelStore&) = default;

 private:
  std::int32_t num_classes_;
  std::map<std::int64_t, ImageLabels> images_;
};

}  // namespace labor::annotate
