#pragma once
// The data labor_train compares on: the embedded synthetic benchmark, or datasets read from files.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <labor/data.hpp>
#include <labor/io/atomic_file.hpp>
#include <labor/io/png.hpp>

#include "experiment.hpp"
#include "visuals.hpp"

namespace labor_train {

/// Refuses an unlabeled dataset for `flag` (labor_train trains on the source's labels, simulates the
/// annotator from the pool's and evaluates on the test split's); `got` says what it is.
/// @throws labor::Error "FLAG 'SPEC': expected a labeled dataset (...), got GOT; ..." when !labeled.
inline void require_labels(std::string_view flag, std::string_view spec, bool labeled, std::string_view got) {
  const std::string_view why = flag == "--source"   ? "the source stages train on its labels"
                               : flag == "--target" ? "the comparison's simulated annotator reads the pool's labels"
                                                    : "the comparison evaluates mIoU on its labels";  // test, val
  LABOR_CHECK(labeled,
              "{} '{}': expected a labeled dataset ({}), got {}; use the `labor` workflow program for unlabeled "
              "target images",
              flag, spec, why, got);
}

/// Refuses a target image file that is in two of the target splits: `a` and `b` are the datasets
/// of `flag_a` and `flag_b` (files compared by their canonical paths).
/// @throws labor::Error "FLAG_B 'FILE': expected images apart from FLAG_A's, ..." for the first shared file.
template <class A, class B>
void require_disjoint(std::string_view flag_a, const A& a, std::string_view flag_b, const B& b) {
  namespace fs = std::filesystem;
  const auto key = [](const fs::path& p) {
    std::error_code ec;
    const fs::path c = fs::weakly_canonical(p, ec);
    return (ec ? p : c).lexically_normal().string();
  };
  std::unordered_set<std::string> seen;
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(a.size()); ++i) seen.insert(key(a.image_file(i)));
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(b.size()); ++i) {
    const fs::path f = b.image_file(i);
    LABOR_CHECK(seen.count(key(f)) == 0,
                "{} '{}': expected images apart from {}'s, got a file that is in both; a split that shares images "
                "with another measures nothing",
                flag_b, f.string(), flag_a);
  }
}

/// The splits of `cfg`: generated from cfg.data, or opened from cfg.files (every file is
/// checked before anything is trained; the target splits must not share an image file).
/// @throws labor::Error for bad options, unreadable data, an unlabeled spec (images:, an
/// image-only list:) for any split, or an image in two target splits.
inline Splits make_splits(const Config& cfg) {
  using namespace labor;
  Splits s;
  if (cfg.files.enabled()) {
    const FileData& f = cfg.files;
    using Flag = std::pair<std::string_view, std::string_view>;
    for (const auto& [flag, spec] : {Flag{"--source", f.source}, Flag{"--target", f.target},
                                     Flag{"--target-test", f.target_test}, Flag{"--target-val", f.target_val}})
      if (!spec.empty())  // before any other check or read
        require_labels(flag, spec, data::parse_dataset_spec(spec).kind != data::DatasetKind::images,
                       "unlabeled images");
    const bool labeled_kind = f.source.rfind("cityscapes:", 0) == 0 || f.source.rfind("gta5:", 0) == 0;
    data::FileDatasetOptions o{.num_classes = static_cast<int>(f.num_classes), .height = f.height, .width = f.width};
    if (o.num_classes == 0) {
      LABOR_CHECK(labeled_kind, "--num-classes: expected the number of classes for folder: and list: data, got none");
      o.num_classes = 19;
    }
    if (!f.label_map.empty()) o.label_map = data::LabelMap::from_argument(f.label_map);
    data::FileDatasetOptions so = o;
    if (f.source_height > 0) {
      so.height = f.source_height;
      so.width = f.source_width;
    }
    const auto open = [](std::string_view flag, const std::string& spec, const data::FileDatasetOptions& opts) {
      auto d = data::open_dataset(spec, opts);
      require_labels(flag, spec, d.has_labels(), "an image-only list (no labels)");
      return d;
    };
    auto source = open("--source", f.source, so);
    auto pool = open("--target", f.target, o);
    auto test = open("--target-test", f.target_test, o);
    // Pool and test images are batched together by the selection and the evaluation: one size
    // (each file dataset already has one size: its files' or --resize's).
    LABOR_CHECK(test.height() == pool.height() && test.width() == pool.width(),
                "--target-test: expected the target pool's image size {}×{}, got {}×{}; pass --resize HxW",
                pool.height(), pool.width(), test.height(), test.width());
    require_disjoint("--target", pool, "--target-test", test);
    std::optional<data::FileDataset> val;
    if (!f.target_val.empty()) {
      val.emplace(open("--target-val", f.target_val, o));
      LABOR_CHECK(val->height() == pool.height() && val->width() == pool.width(),
                  "--target-val: expected the target pool's image size {}×{}, got {}×{}; pass --resize HxW",
                  pool.height(), pool.width(), val->height(), val->width());
      require_disjoint("--target", pool, "--target-val", *val);
      require_disjoint("--target-test", test, "--target-val", *val);
    }
    s.height = pool.height();
    s.width = pool.width();
    s.class_names = f.class_names;
    if (s.class_names.empty() && o.num_classes == 19 && labeled_kind)
      s.class_names.assign(data::cityscapes_class_names.begin(), data::cityscapes_class_names.end());
    if (s.class_names.empty())
      for (int c = 0; c < o.num_classes; ++c) s.class_names.push_back(fmt::format("class_{}", c));
    LABOR_CHECK(static_cast<int>(s.class_names.size()) == o.num_classes,
                "--class-names: expected {} names (one per class), got {}", o.num_classes, s.class_names.size());
    s.description = fmt::format(
        "{} source, {} target pool, {} target validation, {} target test images; target "
        "images {}×{}",
        source.size(), pool.size(), val ? val->size() : 0, test.size(), s.height, s.width);
    s.source = data::AnyDataset(std::move(source));
    s.pool = data::AnyDataset(std::move(pool));
    s.test = data::AnyDataset(std::move(test));
    if (val) s.val = data::AnyDataset(std::move(*val));
    return s;
  }
  auto bench = data::make_synthetic_benchmark(cfg.data);
  s.class_names.assign(data::synthetic_class_names.begin(), data::synthetic_class_names.end());
  s.height = cfg.data.height;
  s.width = cfg.data.width;
  s.description =
      fmt::format("embedded benchmark: {} source, {} target pool, {} target validation, {} target test images of {}×{}",
                  bench.source.size(), bench.target_pool.size(), bench.target_val.size(), bench.target_test.size(),
                  s.height, s.width);
  s.source = data::AnyDataset(std::move(bench.source));
  s.pool = data::AnyDataset(std::move(bench.target_pool));
  s.test = data::AnyDataset(std::move(bench.target_test));
  if (bench.target_val.size() > 0) s.val = data::AnyDataset(std::move(bench.target_val));
  return s;
}

/// Writes the embedded benchmark of `cfg` as PNG files, the layout the file specs read:
/// DIR/<split>/images/NNNN.png (RGB) and DIR/<split>/labels/NNNN.png (class indices, 8-bit gray)
/// for split = source, target_pool, target_test and target_val (when the benchmark has one), and DIR/<split>.txt lists
/// of "image label" pairs. Existing files of the same names are replaced (each atomically).
inline void export_benchmark(const Config& cfg, const std::filesystem::path& dir) {
  using namespace labor;
  namespace fs = std::filesystem;
  LABOR_CHECK(!fs::exists(dir) || fs::is_directory(dir), "--export-data '{}': expected a folder, got a file",
              dir.string());
  const auto bench = data::make_synthetic_benchmark(cfg.data);
  const auto write_split = [&](const std::string& name, const data::InMemoryDataset& d) {
    fs::create_directories(dir / name / "images");
    fs::create_directories(dir / name / "labels");
    std::string list;
    for (std::int64_t i = 0; i < d.size(); ++i) {
      const std::string file = fmt::format("{:04d}.png", i);
      io::write_png(dir / name / "images" / file, image_panel(d.image(i)));
      const auto& l = d.label(i);
      Tensor<std::uint8_t, cpu> gray(l.shape());
      for (std::int64_t p = 0; p < l.numel(); ++p) gray[p] = static_cast<std::uint8_t>(l[p]);
      io::write_png(dir / name / "labels" / file, gray);
      list += fmt::format("{0}/images/{1} {0}/labels/{1}\n", name, file);
    }
    io::atomic_write(dir / (name + ".txt"), "list file", list);
  };
  write_split("source", bench.source);
  write_split("target_pool", bench.target_pool);
  write_split("target_test", bench.target_test);
  if (bench.target_val.size() > 0) write_split("target_val", bench.target_val);
}

}  // namespace labor_train
