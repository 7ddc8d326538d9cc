#pragma once
/// @file files.hpp
/// Datasets of image and label PNG files on disk: labor::data::FileDataset, decoded on demand, and
/// open_dataset(), which builds one from a spec string:
/// - `folder:IMAGES:LABELS` — the PNGs of two folders matched by file stem (`a.png` ↔ `a.png`);
/// - `list:FILE` — one `image label` pair per line (blank lines and `#` comments skipped), relative
///   paths taken from the list file's folder; a list of lines holding only an image path is an
///   unlabeled dataset (every line must then be a single path);
/// - `cityscapes:ROOT:SPLIT` — `ROOT/leftImg8bit/SPLIT/<city>/<stem>_leftImg8bit.png` with
///   `ROOT/gtFine/SPLIT/<city>/<stem>_gtFine_labelIds.png`, labels mapped to the 19 trainIds;
/// - `gta5:ROOT` — `ROOT/images/*.png` with `ROOT/labels/*.png` matched by stem, same mapping;
/// - `images:DIR` — every `DIR/*.png`, without labels (unlabeled target images).
///
/// Opening checks every file cheaply (existence and PNG header) and the sizes; decoding checks the
/// pixels. Every failure is a labor::Error naming the file. An unlabeled dataset (`images:`, an
/// image-only `list:`) has has_labels() false, and its label() throws.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/data/dataset.hpp"
#include "labor/data/label_map.hpp"
#include "labor/data/transforms.hpp"
#include "labor/io/png.hpp"

namespace labor::data {

/// The kinds of file dataset a spec string names.
enum class DatasetKind { folder, list, cityscapes, gta5, images };

/// A parsed dataset spec (see the file comment for the grammar).
struct DatasetSpec {
  DatasetKind kind = DatasetKind::folder;
  /// folder: IMAGES; list: FILE; cityscapes and gta5: ROOT; images: DIR.
  std::filesystem::path path;
  /// folder: LABELS; empty otherwise.
  std::filesystem::path labels;
  /// cityscapes: SPLIT (e.g. "train", "val"); empty otherwise.
  std::string split;
};

/// Options of a file dataset; usable with designated initializers.
struct FileDatasetOptions {
  /// Raw label value → class. Not set: the kind's default — cityscapes_train_ids() for cityscapes
  /// and gta5, the identity for folder and list.
  std::optional<LabelMap> label_map{};
  /// Number of classes C (1–255): decoded labels are in [0, C) or 255.
  int num_classes = 19;
  /// Fixed output size: every image is resized bilinearly, every label map by nearest neighbour, to
  /// height×width. 0, 0: the files' own size, which all files must share.
  std::int64_t height = 0, width = 0;
  /// Keep only items whose image file name starts with one of these prefixes (empty: all).
  std::vector<std::string> include{};
  /// Drop items whose image file name starts with one of these prefixes.
  std::vector<std::string> exclude{};
};

/// One item on disk: an RGB image PNG and its label PNG (an empty `label` in an unlabeled dataset).
struct FilePair {
  std::filesystem::path image;
  std::filesystem::path label;
};

namespace detail {

/// "a, b, c" for at most `max` names, then "and N more".
inline std::string name_list(const std::vector<std::string>& names, std::size_t max = 5) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < max; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > max) out += fmt::format(" and {} more", names.size() - max);
  return out;
}

inline bool has_prefix(const std::string& name, const std::vector<std::string>& prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](const std::string& p) { return name.compare(0, p.size(), p) == 0; });
}

/// Whether an image file name passes the include/exclude prefixes.
inline bool selected(const std::filesystem::path& image, const FileDatasetOptions& o) {
  const std::string name = image.filename().string();
  return (o.include.empty() || has_prefix(name, o.include)) && !has_prefix(name, o.exclude);
}

/// The `.png` files directly inside `dir`, sorted. @throws labor::Error when `dir` is no folder.
inline std::vector<std::filesystem::path> list_pngs(const std::filesystem::path& dir, std::string_view what) {
  std::error_code ec;
  LABOR_CHECK(std::filesystem::is_directory(dir, ec), "{}: folder '{}': not found or not a folder", what,
              dir.string());
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".png" || ext == ".PNG")) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// list_pngs(dir) without the files include/exclude drop. @throws labor::Error when `dir` is no folder.
inline std::vector<std::filesystem::path> selected_pngs(const std::filesystem::path& dir, const FileDatasetOptions& o,
                                                        std::string_view what) {
  auto files = list_pngs(dir, what);
  std::erase_if(files, [&](const std::filesystem::path& p) { return !selected(p, o); });
  return files;
}

/// Pairs the PNGs of two folders by stem. @throws labor::Error listing the unmatched files.
inline std::vector<FilePair> match_folders(const std::filesystem::path& images, const std::filesystem::path& labels,
                                           const FileDatasetOptions& o, std::string_view what) {
  std::vector<std::filesystem::path> im = selected_pngs(images, o, what), lb = selected_pngs(labels, o, what);
  const auto stem_less = [](const std::filesystem::path& a, const std::filesystem::path& b) {
    return a.stem() < b.stem();
  };
  std::sort(im.begin(), im.end(), stem_less);
  std::sort(lb.begin(), lb.end(), stem_less);
  std::vector<FilePair> pairs;
  std::vector<std::string> no_label, no_image;
  std::size_t i = 0, j = 0;
  while (i < im.size() || j < lb.size()) {
    if (j == lb.size() || (i < im.size() && im[i].stem() < lb[j].stem())) {
      no_label.push_back(im[i++].string());
    } else if (i == im.size() || lb[j].stem() < im[i].stem()) {
      no_image.push_back(lb[j++].string());
    } else {
      pairs.push_back({im[i++], lb[j++]});
    }
  }
  LABOR_CHECK(no_label.empty(), "{}: {} image(s) without a label in '{}': {}", what, no_label.size(), labels.string(),
              name_list(no_label));
  LABOR_CHECK(no_image.empty(), "{}: {} label(s) without an image in '{}': {}", what, no_image.size(), images.string(),
              name_list(no_image));
  return pairs;
}

/// The items of a list file: `image label` pairs, or single image paths (empty labels). The first
/// item line decides which; every other line must have as many paths.
/// @throws labor::Error naming the file and line for a malformed line or a mix of the two forms.
inline std::vector<FilePair> read_list(const std::filesystem::path& file, const FileDatasetOptions& o,
                                       std::string_view what) {
  std::error_code ec;
  std::ifstream in(file);
  LABOR_CHECK(std::filesystem::is_regular_file(file, ec) && in.good(), "{}: list file '{}': cannot open", what,
              file.string());
  const std::filesystem::path base = file.parent_path();
  std::vector<FilePair> pairs;
  std::string line;
  std::size_t first = 0, arity = 0;  // the first item line and its number of paths (1 or 2)
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    std::string_view l = line;
    l = l.substr(0, l.find('#'));
    std::vector<std::string> tokens;
    std::size_t pos = 0;
    while ((pos = l.find_first_not_of(" \t\r", pos)) != std::string_view::npos) {
      const std::size_t end = l.find_first_of(" \t\r", pos);
      tokens.emplace_back(l.substr(pos, end == std::string_view::npos ? l.size() - pos : end - pos));
      pos = end == std::string_view::npos ? l.size() : end;
    }
    if (tokens.empty()) continue;
    if (arity == 0) {
      LABOR_CHECK(tokens.size() <= 2,
                  "{}: list file '{}': line {}: expected 'image label' or a single image path, got '{}'", what,
                  file.string(), n, line);
      first = n;
      arity = tokens.size();
    }
    LABOR_CHECK(tokens.size() == arity,
                "{}: list file '{}': line {}: expected {} like line {} (a list is all pairs or all single paths), "
                "got '{}'",
                what, file.string(), n, arity == 2 ? "'image label'" : "a single image path", first, line);
    const std::filesystem::path image = base / tokens[0];
    if (selected(image, o))
      pairs.push_back(
          {image.lexically_normal(), arity == 2 ? (base / tokens[1]).lexically_normal() : std::filesystem::path{}});
  }
  return pairs;
}

/// The PNGs directly inside `dir` that pass include/exclude, as items without labels.
/// @throws labor::Error when `dir` is no folder.
inline std::vector<FilePair> image_folder(const std::filesystem::path& dir, const FileDatasetOptions& o,
                                          std::string_view what) {
  std::vector<FilePair> items;
  for (auto& p : selected_pngs(dir, o, what)) items.push_back({std::move(p), {}});
  return items;
}

/// The pairs of a Cityscapes split. @throws labor::Error for a missing folder or label files.
inline std::vector<FilePair> cityscapes_pairs(const std::filesystem::path& root, const std::string& split,
                                              const FileDatasetOptions& o, std::string_view what) {
  const std::filesystem::path images = root / "leftImg8bit" / split, labels = root / "gtFine" / split;
  std::error_code ec;
  LABOR_CHECK(std::filesystem::is_directory(images, ec), "{}: folder '{}': not found or not a folder", what,
              images.string());
  std::vector<std::filesystem::path> cities;
  for (const auto& e : std::filesystem::directory_iterator(images))
    if (e.is_directory()) cities.push_back(e.path());
  std::sort(cities.begin(), cities.end());
  static constexpr std::string_view image_suffix = "_leftImg8bit.png";
  std::vector<FilePair> pairs;
  std::vector<std::string> missing;
  for (const auto& city : cities)
    for (const auto& p : list_pngs(city, what)) {
      const std::string name = p.filename().string();
      if (name.size() <= image_suffix.size() ||
          name.compare(name.size() - image_suffix.size(), image_suffix.size(), image_suffix) != 0 || !selected(p, o))
        continue;
      const std::string stem = name.substr(0, name.size() - image_suffix.size());
      const std::filesystem::path label = labels / city.filename() / (stem + "_gtFine_labelIds.png");
      if (!std::filesystem::exists(label, ec)) missing.push_back(label.string());
      pairs.push_back({p, label});
    }
  LABOR_CHECK(missing.empty(), "{}: {} label file(s) missing: {}", what, missing.size(), name_list(missing));
  return pairs;
}

}  // namespace detail

/// Parses a dataset spec: `folder:IMAGES:LABELS`, `list:FILE`, `cityscapes:ROOT:SPLIT`, `gta5:ROOT`
/// or `images:DIR` (paths must not contain ':'; cityscapes' SPLIT is the part after the last ':').
/// @throws labor::Error for an unknown kind or a wrong number of parts.
inline DatasetSpec parse_dataset_spec(std::string_view spec) {
  const std::size_t colon = spec.find(':');
  const std::string_view kind = spec.substr(0, colon);
  const std::string_view rest = colon == std::string_view::npos ? std::string_view{} : spec.substr(colon + 1);
  std::vector<std::string_view> parts;
  for (std::size_t pos = 0; colon != std::string_view::npos;) {
    const std::size_t next = rest.find(':', pos);
    parts.push_back(rest.substr(pos, next == std::string_view::npos ? rest.size() - pos : next - pos));
    if (next == std::string_view::npos) break;
    pos = next + 1;
  }
  const bool no_empty = std::none_of(parts.begin(), parts.end(), [](std::string_view p) { return p.empty(); });
  const auto expect = [&](std::size_t n, const char* form) {
    LABOR_CHECK(parts.size() == n && no_empty, "dataset spec '{}': expected {}, got {} non-empty part(s) after '{}:'",
                spec, form, no_empty ? parts.size() : 0, kind);
  };
  DatasetSpec s;
  if (kind == "folder") {
    expect(2, "folder:IMAGES:LABELS");
    s = {DatasetKind::folder, std::filesystem::path(parts[0]), std::filesystem::path(parts[1]), {}};
  } else if (kind == "list") {
    expect(1, "list:FILE");
    s = {DatasetKind::list, std::filesystem::path(parts[0]), {}, {}};
  } else if (kind == "cityscapes") {
    expect(2, "cityscapes:ROOT:SPLIT");
    s = {DatasetKind::cityscapes, std::filesystem::path(parts[0]), {}, std::string(parts[1])};
  } else if (kind == "gta5") {
    expect(1, "gta5:ROOT");
    s = {DatasetKind::gta5, std::filesystem::path(parts[0]), {}, {}};
  } else if (kind == "images") {
    expect(1, "images:DIR");
    s = {DatasetKind::images, std::filesystem::path(parts[0]), {}, {}};
  } else {
    fail(
        "dataset spec '{}': unknown kind '{}': expected folder:IMAGES:LABELS, list:FILE, cityscapes:ROOT:SPLIT, "
        "gta5:ROOT or images:DIR",
        spec, kind);
  }
  return s;
}

/// Image PNGs, with or without label PNGs, decoded on demand; satisfies Dataset. Items are sorted
/// by image path. Construction checks every file's PNG header: all exist, each label map has its
/// image's size and, without a fixed output size, all images share one size. Safe to read from
/// several threads. Either every item has a label file (has_labels()) or none has: label() of an
/// unlabeled dataset throws.
class FileDataset {
 public:
  /// Builds a dataset from explicit items (include/exclude are not applied here): all with a label
  /// file, or all with an empty `label` (an unlabeled dataset).
  /// @param name names the dataset in errors (e.g. its spec string).
  /// @throws labor::Error for no items, a mix of labeled and unlabeled items, a missing or
  /// unreadable file, size mismatches, or bad options.
  FileDataset(std::vector<FilePair> pairs, FileDatasetOptions options = {}, std::string name = "file dataset")
      : pairs_(std::move(pairs)), options_(std::move(options)), name_(std::move(name)) {
    const auto& o = options_;
    LABOR_CHECK(o.num_classes >= 1 && o.num_classes <= 255, "{}: num_classes: expected in [1, 255], got {}", name_,
                o.num_classes);
    LABOR_CHECK((o.height == 0 && o.width == 0) || (o.height > 0 && o.width > 0),
                "{}: output size: expected both 0 (the files' size) or both > 0, got {}×{}", name_, o.height, o.width);
    LABOR_CHECK(!pairs_.empty(), "{}: empty: expected at least one image, got none (after include/exclude)", name_);
    if (!options_.label_map) options_.label_map = LabelMap{};
    std::sort(pairs_.begin(), pairs_.end(), [](const FilePair& a, const FilePair& b) {
      return a.image != b.image ? a.image < b.image : a.label < b.label;
    });
    labeled_ = !pairs_.front().label.empty();
    sizes_.reserve(pairs_.size());
    for (const auto& p : pairs_) {
      LABOR_CHECK(p.label.empty() != labeled_,
                  "{}: image '{}': expected {} like image '{}' (all items or none have labels), got {}", name_,
                  p.image.string(), labeled_ ? "a label file" : "no label file", pairs_.front().image.string(),
                  labeled_ ? "none" : fmt::format("label '{}'", p.label.string()));
      const io::PngSize is = io::png_size(p.image);
      if (labeled_) {
        const io::PngSize ls = io::png_size(p.label);
        LABOR_CHECK(is.height == ls.height && is.width == ls.width,
                    "{}: label '{}' is {}×{} (H×W), expected {}×{}, the size of image '{}'", name_, p.label.string(),
                    ls.height, ls.width, is.height, is.width, p.image.string());
      }
      if (o.height == 0)
        LABOR_CHECK(sizes_.empty() || (is.height == sizes_.front().height && is.width == sizes_.front().width),
                    "{}: image '{}' is {}×{} (H×W), expected {}×{} like '{}'; all files must share one size unless "
                    "an output size is set",
                    name_, p.image.string(), is.height, is.width, sizes_.front().height, sizes_.front().width,
                    pairs_.front().image.string());
      sizes_.push_back(is);
    }
  }

  /// Number of items.
  [[nodiscard]] std::int64_t size() const { return static_cast<std::int64_t>(pairs_.size()); }
  /// Height of every decoded item.
  [[nodiscard]] std::int64_t height() const { return options_.height > 0 ? options_.height : sizes_.front().height; }
  /// Width of every decoded item.
  [[nodiscard]] std::int64_t width() const { return options_.width > 0 ? options_.width : sizes_.front().width; }
  /// Number of classes labels are decoded for.
  [[nodiscard]] int num_classes() const { return options_.num_classes; }
  /// Whether the items have label maps: false for `images:` and image-only `list:` datasets.
  [[nodiscard]] bool has_labels() const { return labeled_; }
  /// The files of item `i` (`label` empty when !has_labels()). @throws labor::Error for i outside [0, size()).
  [[nodiscard]] const FilePair& files(std::int64_t i) const { return pairs_[checked(i)]; }
  /// The image file of item `i` (e.g. to name per-image outputs by its stem).
  /// @throws labor::Error for i outside [0, size()).
  [[nodiscard]] const std::filesystem::path& image_file(std::int64_t i) const { return pairs_[checked(i)].image; }
  /// The name given at construction (the spec string for open_dataset).
  [[nodiscard]] const std::string& name() const { return name_; }
  /// The label map labels are decoded with.
  [[nodiscard]] const LabelMap& label_map() const { return *options_.label_map; }

  /// Image `i` decoded: 3×height()×width() RGB in [0, 1] (resized bilinearly for a fixed size).
  /// @throws labor::Error naming the file for a corrupt PNG or one whose size changed since opening.
  [[nodiscard]] Tensor<float, cpu> image(std::int64_t i) const {
    const std::size_t k = checked(i);
    const auto raw = io::read_png_rgb(pairs_[k].image);
    check_size(raw.size(0), raw.size(1), pairs_[k].image, k);
    const std::int64_t h = raw.size(0), w = raw.size(1), hw = h * w;
    auto out = Tensor<float, cpu>::uninitialized(Shape{3, h, w});
    const std::uint8_t* src = raw.data();
    for (std::int64_t p = 0; p < hw; ++p)
      for (std::int64_t c = 0; c < 3; ++c) out[c * hw + p] = static_cast<float>(src[p * 3 + c]) * (1.0f / 255.0f);
    return out.size(1) == height() && out.size(2) == width() ? out : resize_bilinear(out, height(), width());
  }

  /// Label map `i` decoded through the label map: height()×width() int32 in [0, C) or 255
  /// (resized by nearest neighbour for a fixed size).
  /// @throws labor::Error when !has_labels(), for i outside [0, size()), and naming the file for a
  /// corrupt PNG, a changed size, or a raw value outside the label map (with the value and the pixel).
  [[nodiscard]] Tensor<std::int32_t, cpu> label(std::int64_t i) const {
    LABOR_CHECK(labeled_,
                "{}: label {}: the dataset has no labels (images: or an image-only list:); pass a labeled spec "
                "(folder:, list: with pairs, cityscapes:, gta5:)",
                name_, i);
    const std::size_t k = checked(i);
    const auto raw = io::read_png_gray(pairs_[k].label);
    check_size(raw.size(0), raw.size(1), pairs_[k].label, k);
    auto out = options_.label_map->apply(raw, options_.num_classes, pairs_[k].label.string());
    return out.size(0) == height() && out.size(1) == width() ? out : resize_nearest(out, height(), width());
  }

 private:
  [[nodiscard]] std::size_t checked(std::int64_t i) const {
    LABOR_CHECK(i >= 0 && i < size(), "{}: index: expected in [0, {}), got {}", name_, size(), i);
    return static_cast<std::size_t>(i);
  }

  void check_size(std::int64_t h, std::int64_t w, const std::filesystem::path& file, std::size_t k) const {
    LABOR_CHECK(h == sizes_[k].height && w == sizes_[k].width,
                "{}: '{}' is {}×{} (H×W), expected {}×{} as when the dataset was opened", name_, file.string(), h, w,
                sizes_[k].height, sizes_[k].width);
  }

  std::vector<FilePair> pairs_;
  FileDatasetOptions options_;
  std::string name_;
  bool labeled_ = true;
  std::vector<io::PngSize> sizes_;
};

/// Opens the dataset a spec string names (parse_dataset_spec), with `options`; include/exclude
/// select items by image file name before files are matched and checked. `images:` and image-only
/// `list:` specs give an unlabeled dataset (has_labels() false).
/// @throws labor::Error for a bad spec, missing folders or files, unmatched images or labels, a list
/// mixing pairs and single paths, an empty selection, unreadable PNG headers or size mismatches,
/// each naming the file.
inline FileDataset open_dataset(std::string_view spec, FileDatasetOptions options = {}) {
  const DatasetSpec s = parse_dataset_spec(spec);
  const std::string what = fmt::format("dataset '{}'", spec);
  std::vector<FilePair> pairs;
  switch (s.kind) {
    case DatasetKind::folder:
      pairs = detail::match_folders(s.path, s.labels, options, what);
      break;
    case DatasetKind::list:
      pairs = detail::read_list(s.path, options, what);
      break;
    case DatasetKind::cityscapes:
      pairs = detail::cityscapes_pairs(s.path, s.split, options, what);
      if (!options.label_map) options.label_map = cityscapes_train_ids();
      break;
    case DatasetKind::gta5:
      pairs = detail::match_folders(s.path / "images", s.path / "labels", options, what);
      if (!options.label_map) options.label_map = cityscapes_train_ids();
      break;
    case DatasetKind::images:
      pairs = detail::image_folder(s.path, options, what);
      break;
  }
  return FileDataset(std::move(pairs), std::move(options), what);
}

}  // namespace labor::data
