#pragma once
/// @file file_oracle.hpp
/// The human in the loop: a selection round exported to a folder, answered outside labor, and
/// imported back.
///
/// Folder layout (image ids `<i>` as given to export_queries, 0..N-1 by default):
/// - `mask_<i>.png`: 8-bit grayscale H×W, 255 at queried pixels, 0 elsewhere.
/// - `queries.json`: `{"strategy": s, "images": [{"index": i, "height": H, "width": W,
///   "pixels": [[y, x], ...], "classes": [k, ...]}], "selected_pixels": n, "fraction": f}` with
///   pixels in ascending linear index y·W + x; "classes" (the class each point was chosen for)
///   only for strategy "ppl".
/// Answers, one of:
/// - `labels_<i>.png`: an 8-bit grayscale (or palette) H×W label map per image; only the queried
///   pixels are read, the rest may hold anything.
/// - `answers.json`: either a list with one list of labels per image in queries.json order,
///   `[[l, ...], ...]`, or `{"images": [{"index": i, "labels": [l, ...], "pixels": [[y, x], ...]}]}`
///   where "pixels" is optional and, when present, must repeat the query's pixels.
/// Labels are in [0, C) or 255 (ignore).
///
/// Every file is replaced atomically; masks are written before queries.json, so a complete
/// queries.json always describes masks that are all in place. Masks of an earlier export with
/// other image ids are left alone (queries.json lists the current ones).

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "labor/annotate/answers.hpp"
#include "labor/annotate/detail/checks.hpp"
#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/io/atomic_file.hpp"
#include "labor/io/json.hpp"
#include "labor/io/png.hpp"
#include "labor/samplers/query.hpp"

namespace labor::annotate {

/// A query read back from queries.json, with the dataset ids of its images.
struct ExportedQueries {
  samplers::Query query;
  std::vector<std::int64_t> image_ids;
};

/// Where import_answers reads the answers from.
enum class AnswerFormat {
  automatic,  ///< answers.json if present, else labels_<i>.png; an error when both kinds exist
  json,       ///< answers.json
  png,        ///< labels_<i>.png
};

namespace detail {

inline std::filesystem::path mask_path(const std::filesystem::path& dir, std::int64_t id) {
  return dir / ("mask_" + std::to_string(id) + ".png");
}
inline std::filesystem::path labels_path(const std::filesystem::path& dir, std::int64_t id) {
  return dir / ("labels_" + std::to_string(id) + ".png");
}

using io::read_json;

/// An integer field; throws naming `file` and `what` unless it is an integer that fits in int64.
inline std::int64_t json_int(const nlohmann::json& j, const std::string& file, const std::string& what) {
  LABOR_CHECK(j.is_number_integer() && !(j.is_number_unsigned() &&
                                         j.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)),
              "json '{}': {}: expected an integer (64-bit), got {}", file, what, io::quote(j));
  return j.get<std::int64_t>();
}

inline const nlohmann::json& json_field(const nlohmann::json& obj, const char* key, const std::string& file,
                                        const std::string& what) {
  LABOR_CHECK(obj.is_object() && obj.contains(key), "json '{}': {}: missing field \"{}\"", file, what, key);
  return obj[key];
}

/// Reads [[y, x], ...] as linear indices, checking every coordinate against H×W (a size that
/// passed check_image_size, so y·W + x cannot overflow).
inline std::vector<std::int64_t> json_pixels(const nlohmann::json& j, std::int64_t height, std::int64_t width,
                                             std::int64_t image, const std::string& file) {
  LABOR_CHECK(j.is_array(), "json '{}': image {}: pixels: expected a list of [y, x], got {}", file, image,
              j.type_name());
  std::vector<std::int64_t> out;
  out.reserve(j.size());
  for (std::size_t k = 0; k < j.size(); ++k) {
    const auto& yx = j[k];
    LABOR_CHECK(yx.is_array() && yx.size() == 2, "json '{}': image {}: pixel {}: expected [y, x], got {}", file, image,
                k, io::quote(yx));
    const auto y = json_int(yx[0], file, fmt::format("image {}: pixel {} y", image, k));
    const auto x = json_int(yx[1], file, fmt::format("image {}: pixel {} x", image, k));
    LABOR_CHECK(y >= 0 && y < height && x >= 0 && x < width,
                "json '{}': image {}: pixel {} (y {}, x {}): outside the {}x{} image", file, image, k, y, x, height,
                width);
    out.push_back(y * width + x);
  }
  return out;
}

/// Labels of one image from answers.json, validated against the query image.
inline std::vector<std::int32_t> json_labels(const nlohmann::json& j, const samplers::ImageQuery& q, std::int64_t id,
                                             std::int32_t num_classes, const std::string& file) {
  LABOR_CHECK(j.is_array(), "json '{}': image {}: labels: expected a list, got {}", file, id, j.type_name());
  LABOR_CHECK(j.size() == q.pixels.size(), "json '{}': image {}: label count: expected {} (queried pixels), got {}",
              file, id, q.pixels.size(), j.size());
  std::vector<std::int32_t> labels;
  labels.reserve(j.size());
  for (std::size_t k = 0; k < j.size(); ++k) {
    const auto p = q.pixels[k];
    LABOR_CHECK(j[k].is_number_integer(), "json '{}': image {}: pixel (y {}, x {}): label: expected an integer, got {}",
                file, id, p / q.width, p % q.width, io::quote(j[k]));
    const auto v = j[k].get<std::int64_t>();
    check_label(fmt::format("json '{}'", file), id, p, q.width, v, num_classes);
    labels.push_back(static_cast<std::int32_t>(v));
  }
  return labels;
}

}  // namespace detail

/// The answers to `query` (image ids `ids`) in the parsed answers.json document `j`, read from
/// `file` (named in errors); the format is in this file's comment. Checks counts, the repeated
/// pixels and label ranges. @throws labor::Error naming the file, the image, the pixel and the value.
inline Answers answers_from_json(const nlohmann::json& j, const std::string& file, const samplers::Query& query,
                                 const std::vector<std::int64_t>& ids, std::int32_t num_classes) {
  using namespace detail;
  LABOR_CHECK(ids.size() == query.images.size(), "json '{}': image ids: expected {} (one per queried image), got {}",
              file, query.images.size(), ids.size());
  check_query(fmt::format("json '{}'", file), query, ids);
  Answers out;
  if (j.is_array()) {
    LABOR_CHECK(j.size() == query.images.size(), "json '{}': image count: expected {} (queried images), got {}", file,
                query.images.size(), j.size());
    for (std::size_t i = 0; i < query.images.size(); ++i) {
      const auto& q = query.images[i];
      out.images.push_back({ids[i], q.height, q.width, q.pixels, json_labels(j[i], q, ids[i], num_classes, file)});
    }
    return out;
  }
  const auto& images = json_field(j, "images", file, "answers");
  LABOR_CHECK(images.is_array(), "json '{}': images: expected a list, got {}", file, images.type_name());
  std::map<std::int64_t, const nlohmann::json*> by_id;
  for (const auto& e : images) {
    const auto id = json_int(json_field(e, "index", file, "answers image"), file, "image index");
    LABOR_CHECK(by_id.emplace(id, &e).second, "json '{}': image {} is answered twice", file, id);
  }
  const std::set<std::int64_t> queried(ids.begin(), ids.end());
  for (const auto& [id, e] : by_id)
    LABOR_CHECK(queried.contains(id), "json '{}': image {}: answered but not queried", file, id);
  for (std::size_t i = 0; i < query.images.size(); ++i) {
    const auto& q = query.images[i];
    const auto it = by_id.find(ids[i]);
    LABOR_CHECK(it != by_id.end(), "json '{}': image {}: no answers (it has {} queried pixels)", file, ids[i],
                q.pixels.size());
    const auto& e = *it->second;
    if (e.contains("pixels")) {
      const auto pixels = json_pixels(e["pixels"], q.height, q.width, ids[i], file);
      LABOR_CHECK(pixels.size() == q.pixels.size(), "json '{}': image {}: pixel count: expected {} (queried), got {}",
                  file, ids[i], q.pixels.size(), pixels.size());
      for (std::size_t k = 0; k < pixels.size(); ++k)
        LABOR_CHECK(pixels[k] == q.pixels[k],
                    "json '{}': image {}: pixel {}: expected the queried (y {}, x {}), got (y {}, x {})", file, ids[i],
                    k, q.pixels[k] / q.width, q.pixels[k] % q.width, pixels[k] / q.width, pixels[k] % q.width);
    }
    out.images.push_back({ids[i], q.height, q.width, q.pixels,
                          json_labels(json_field(e, "labels", file, "answers image"), q, ids[i], num_classes, file)});
  }
  return out;
}

namespace detail {

inline Answers import_json(const std::filesystem::path& dir, const samplers::Query& query,
                           const std::vector<std::int64_t>& ids, std::int32_t num_classes) {
  const auto path = dir / "answers.json";
  return annotate::answers_from_json(read_json(path), path.string(), query, ids, num_classes);
}

inline Answers import_png(const std::filesystem::path& dir, const samplers::Query& query,
                          const std::vector<std::int64_t>& ids, std::int32_t num_classes) {
  Answers out;
  for (std::size_t i = 0; i < query.images.size(); ++i) {
    const auto& q = query.images[i];
    const auto path = labels_path(dir, ids[i]);
    const auto map = io::read_png_gray(path);
    LABOR_CHECK(map.size(0) == q.height && map.size(1) == q.width,
                "png '{}': image {}: label map size: expected {}x{}, got {}x{}", path.string(), ids[i], q.height,
                q.width, map.size(0), map.size(1));
    ImageAnswers a{ids[i], q.height, q.width, q.pixels, {}};
    a.labels.reserve(q.pixels.size());
    for (auto p : q.pixels) {
      const std::int32_t v = map[p];
      check_label(fmt::format("png '{}'", path.string()), ids[i], p, q.width, v, num_classes);
      a.labels.push_back(v);
    }
    out.images.push_back(std::move(a));
  }
  return out;
}

}  // namespace detail

/// Exports a selection round to `dir` (created if missing): `mask_<id>.png` per image, then
/// `queries.json` (layout in the file comment). `image_ids` gives each query image's dataset id
/// (default 0..N-1). Throws labor::Error for an invalid query, or when `dir` is not a folder or a
/// file cannot be written; files are replaced atomically, so none is ever half-written.
inline void export_queries(const samplers::Query& query, const std::filesystem::path& dir,
                           std::span<const std::int64_t> image_ids = {}) {
  const auto ids = detail::resolve_ids("export_queries", query, image_ids);
  detail::check_query("export_queries", query, ids);
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    LABOR_CHECK(std::filesystem::is_directory(dir, ec), "export_queries: output '{}': exists and is not a folder",
                dir.string());
  } else {
    std::filesystem::create_directories(dir, ec);
    LABOR_CHECK(!ec, "export_queries: output '{}': cannot create the folder: {}", dir.string(), ec.message());
  }
  nlohmann::json images = nlohmann::json::array();
  const bool with_classes = query.strategy == "ppl";
  for (std::size_t i = 0; i < query.images.size(); ++i) {
    const auto& q = query.images[i];
    auto mask = Tensor<std::uint8_t, cpu>(Shape{q.height, q.width});
    nlohmann::json pixels = nlohmann::json::array();
    for (auto p : q.pixels) {
      mask[p] = 255;
      pixels.push_back({p / q.width, p % q.width});
    }
    io::write_png(detail::mask_path(dir, ids[i]), mask);
    nlohmann::json entry = {{"index", ids[i]}, {"height", q.height}, {"width", q.width}, {"pixels", std::move(pixels)}};
    if (with_classes) {
      LABOR_CHECK(q.classes.size() == q.pixels.size(),
                  "export_queries: image {}: ppl classes: expected {} (one per point), got {}", ids[i], q.pixels.size(),
                  q.classes.size());
      entry["classes"] = q.classes;
    }
    images.push_back(std::move(entry));
  }
  const nlohmann::json doc = {{"strategy", query.strategy},
                              {"images", std::move(images)},
                              {"selected_pixels", query.selected_pixels()},
                              {"fraction", query.fraction()}};
  io::atomic_write(dir / "queries.json", "json", doc.dump() + "\n");
}

/// Reads `dir/queries.json` back. The Query gets `num_classes`; "classes" is filled for PPL and
/// left empty otherwise; scores are not exported and stay empty. Throws labor::Error naming the
/// file for a missing or malformed file, coordinates outside an image, pixels out of order,
/// or counts that disagree with "selected_pixels".
inline ExportedQueries load_queries(const std::filesystem::path& dir, std::int32_t num_classes) {
  const auto path = dir / "queries.json";
  const std::string file = path.string();
  const auto j = detail::read_json(path);
  ExportedQueries out;
  const auto& strategy = detail::json_field(j, "strategy", file, "queries");
  LABOR_CHECK(strategy.is_string(), "json '{}': strategy: expected a string, got {}", file, io::quote(strategy));
  out.query.strategy = strategy.get<std::string>();
  out.query.num_classes = num_classes;
  const auto& images = detail::json_field(j, "images", file, "queries");
  LABOR_CHECK(images.is_array(), "json '{}': images: expected a list, got {}", file, images.type_name());
  for (const auto& e : images) {
    const auto id = detail::json_int(detail::json_field(e, "index", file, "queries image"), file, "image index");
    samplers::ImageQuery q;
    q.height = detail::json_int(detail::json_field(e, "height", file, "queries image"), file, "height");
    q.width = detail::json_int(detail::json_field(e, "width", file, "queries image"), file, "width");
    detail::check_image_size(fmt::format("json '{}'", file), id, q.height, q.width);
    q.pixels = detail::json_pixels(detail::json_field(e, "pixels", file, "queries image"), q.height, q.width, id, file);
    if (e.contains("classes")) {
      const auto& c = e["classes"];
      LABOR_CHECK(c.is_array() && c.size() == q.pixels.size(),
                  "json '{}': image {}: classes: expected a list of {} (one per pixel), got {}", file, id,
                  q.pixels.size(), io::quote(c));
      for (const auto& k : c) {
        const auto v = detail::json_int(k, file, fmt::format("image {}: class", id));
        LABOR_CHECK(v >= 0 && v < num_classes, "json '{}': image {}: class {}: expected in [0, {})", file, id, v,
                    num_classes);
        q.classes.push_back(static_cast<std::int32_t>(v));
      }
    }
    out.image_ids.push_back(id);
    out.query.images.push_back(std::move(q));
  }
  const auto ids = detail::resolve_ids(file, out.query, out.image_ids);
  detail::check_query(fmt::format("json '{}'", file), out.query, ids);
  const auto n = detail::json_int(detail::json_field(j, "selected_pixels", file, "queries"), file, "selected_pixels");
  LABOR_CHECK(n == out.query.selected_pixels(), "json '{}': selected_pixels: expected {} (pixels listed), got {}", file,
              out.query.selected_pixels(), n);
  return out;
}

/// Imports the answers to `query` from `dir` (formats in the file comment). `image_ids` as given
/// to export_queries. Throws labor::Error naming the file, the image, the pixel and the value for
/// a missing file, a label map of the wrong size, a count that differs from the query's, pixels
/// outside the image or other than the queried ones, or labels ≥ num_classes other than 255.
inline Answers import_answers(const std::filesystem::path& dir, const samplers::Query& query, std::int32_t num_classes,
                              std::span<const std::int64_t> image_ids = {},
                              AnswerFormat format = AnswerFormat::automatic) {
  LABOR_CHECK(num_classes > 0 && num_classes <= ignore_label,
              "import_answers: num_classes: expected in [1, {}], got {}", ignore_label, num_classes);
  const auto ids = detail::resolve_ids("import_answers", query, image_ids);
  detail::check_query("import_answers", query, ids);
  if (format == AnswerFormat::automatic) {
    std::error_code ec;
    const bool json = std::filesystem::exists(dir / "answers.json", ec);
    bool png = false;
    for (auto id : ids) png = png || std::filesystem::exists(detail::labels_path(dir, id), ec);
    LABOR_CHECK(!(json && png),
                "import_answers: '{}' holds both answers.json and labels_<i>.png files: remove one or pass a format",
                dir.string());
    LABOR_CHECK(json || png || ids.empty(), "import_answers: '{}': no answers.json and no labels_<i>.png files",
                dir.string());
    format = json ? AnswerFormat::json : AnswerFormat::png;
  }
  auto answers = format == AnswerFormat::json ? detail::import_json(dir, query, ids, num_classes)
                                              : detail::import_png(dir, query, ids, num_classes);
  validate_answers(answers, num_classes);
  return answers;
}

/// An Oracle backed by a folder: ask() exports a round for a human, answer() imports what they
/// wrote. Satisfies Oracle.
class FileOracle {
 public:
  /// Oracle over `dir` for maps with `num_classes` classes.
  FileOracle(std::filesystem::path dir, std::int32_t num_classes, AnswerFormat format = AnswerFormat::automatic)
      : dir_(std::move(dir)), num_classes_(num_classes), format_(format) {}

  [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }

  /// export_queries(query, dir, image_ids).
  void ask(const samplers::Query& query, std::span<const std::int64_t> image_ids = {}) const {
    export_queries(query, dir_, image_ids);
  }

  /// import_answers(dir, query, num_classes, image_ids, format).
  [[nodiscard]] Answers answer(const samplers::Query& query, std::span<const std::int64_t> image_ids = {}) const {
    return import_answers(dir_, query, num_classes_, image_ids, format_);
  }

 private:
  std::filesystem::path dir_;
  std::int32_t num_classes_;
  AnswerFormat format_;
};

}  // namespace labor::annotate
