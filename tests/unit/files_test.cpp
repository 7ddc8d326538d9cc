// Unit tests of labor/data/label_map.hpp and labor/data/files.hpp: label map parsing and decoding,
// the Cityscapes table against the official label list, every dataset kind on small fixture trees
// (the unlabeled images: and image-only list: kinds too, and AnyDataset over them), and the errors
// for bad input.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <labor/data/any_dataset.hpp>
#include <labor/data/dataset.hpp>
#include <labor/data/files.hpp>
#include <labor/data/label_map.hpp>
#include <labor/io/png.hpp>

#include "support/errors.hpp"
#include "support/torch.hpp"

namespace {

using labor::Shape;
using labor::Tensor;
using labor::data::cityscapes_train_ids;
using labor::data::FileDataset;
using labor::data::FileDatasetOptions;
using labor::data::LabelMap;
using labor::data::open_dataset;
using labor::testing::error_of;
using labor::testing::expect_error;
using labor::testing::TempDir;
namespace fs = std::filesystem;

void write_text(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << s;
}

/// An h×w RGB pattern that differs per `seed`, written as PNG; returns the pixels (H×W×3).
Tensor<std::uint8_t> write_rgb(const fs::path& p, std::int64_t h, std::int64_t w, int seed) {
  fs::create_directories(p.parent_path());
  Tensor<std::uint8_t> t(Shape{h, w, 3});
  for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<std::uint8_t>((i * 7 + seed * 31) % 256);
  labor::io::write_png(p, t);
  return t;
}

/// An h×w grayscale label PNG holding `values` cyclically.
Tensor<std::uint8_t> write_gray(const fs::path& p, std::int64_t h, std::int64_t w, const std::vector<int>& values) {
  fs::create_directories(p.parent_path());
  Tensor<std::uint8_t> t(Shape{h, w});
  for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<std::uint8_t>(values[i % values.size()]);
  labor::io::write_png(p, t);
  return t;
}

// ---------------------------------------------------------------------------------------------
// Label maps

TEST(LabelMap, IdentityKeepsValuesBelowTheClassCountAnd255) {
  const LabelMap m;
  EXPECT_TRUE(m.identity());
  EXPECT_EQ(m.lookup(0, 5), 0);
  EXPECT_EQ(m.lookup(4, 5), 4);
  EXPECT_EQ(m.lookup(5, 5), -1);
  EXPECT_EQ(m.lookup(254, 5), -1);
  EXPECT_EQ(m.lookup(255, 5), 255);
  const auto raw = Tensor<std::uint8_t>::from(Shape{2, 3}, {0, 1, 255, 4, 3, 2});
  const auto out = m.apply(raw, 5, "x.png");
  EXPECT_EQ(std::vector<std::int32_t>(out.data(), out.data() + 6), (std::vector<std::int32_t>{0, 1, 255, 4, 3, 2}));
  // Value 5 at x = 1, y = 1 is outside [0, 5).
  const auto bad = Tensor<std::uint8_t>::from(Shape{2, 3}, {0, 1, 2, 3, 5, 2});
  expect_error([&] { (void)m.apply(bad, 5, "dir/lbl.png"); },
               {"dir/lbl.png", "raw value 5", "x=1, y=1", "not covered", "num_classes 5"});
}

TEST(LabelMap, ParsesStrings) {
  const auto m = LabelMap::parse("11:255, 7:0,8:1 ,26:13");
  EXPECT_EQ(m.entries(), 4);
  EXPECT_EQ(m.lookup(7, 19), 0);
  EXPECT_EQ(m.lookup(8, 19), 1);
  EXPECT_EQ(m.lookup(26, 19), 13);
  EXPECT_EQ(m.lookup(11, 19), 255);
  EXPECT_EQ(m.lookup(0, 19), -1);    // a map is no identity for uncovered values
  EXPECT_EQ(m.lookup(255, 19), 255);  // 255 stays ignore
  EXPECT_EQ(m.lookup(26, 10), -1);    // maps to 13 >= C
  const auto raw = Tensor<std::uint8_t>::from(Shape{1, 3}, {7, 26, 8});
  expect_error([&] { (void)m.apply(raw, 10, "l.png"); }, {"l.png", "raw value 26", "x=1, y=0", "maps to class 13"});
  const auto raw2 = Tensor<std::uint8_t>::from(Shape{2, 2}, {7, 8, 11, 9});
  expect_error([&] { (void)m.apply(raw2, 19, "m.png"); }, {"m.png", "raw value 9", "x=1, y=1", "not covered"});
}

TEST(LabelMap, StringErrors) {
  expect_error([] { (void)LabelMap::parse("7-0"); }, {"entry 1", "'7-0'", "src:dst"});
  expect_error([] { (void)LabelMap::parse("7:0,8:256"); }, {"entry 2", "'256'", "[0, 255]"});
  expect_error([] { (void)LabelMap::parse("x:1"); }, {"entry 1", "'x'"});
  expect_error([] { (void)LabelMap::parse("7:0,7:1"); }, {"raw value 7 mapped twice"});
  expect_error([] { (void)LabelMap::parse(""); }, "at least one");
}

TEST(LabelMap, ReadsFiles) {
  TempDir dir;
  write_text(dir / "map.txt", "# GTA-like\n7 0\n\n8:1   # sidewalk\n  11\t2\n0 255\n");
  const auto m = LabelMap::read(dir / "map.txt");
  EXPECT_EQ(m.entries(), 4);
  EXPECT_EQ(m.lookup(7, 19), 0);
  EXPECT_EQ(m.lookup(8, 19), 1);
  EXPECT_EQ(m.lookup(11, 19), 2);
  EXPECT_EQ(m.lookup(0, 19), 255);
  EXPECT_EQ(m.lookup(1, 19), -1);
  // from_argument: a file, a string, the Cityscapes table, the identity.
  EXPECT_EQ(LabelMap::from_argument((dir / "map.txt").string()).lookup(11, 19), 2);
  EXPECT_EQ(LabelMap::from_argument("3:1").lookup(3, 19), 1);
  EXPECT_EQ(LabelMap::from_argument("cityscapes").lookup(26, 19), 13);
  EXPECT_TRUE(LabelMap::from_argument("identity").identity());

  write_text(dir / "bad.txt", "7 0\n8 1 2\n");
  expect_error([&] { (void)LabelMap::read(dir / "bad.txt"); }, {"bad.txt", "line 2", "'8 1 2'"});
  write_text(dir / "range.txt", "7 0\n\n300 1\n");
  expect_error([&] { (void)LabelMap::read(dir / "range.txt"); }, {"range.txt", "line 3", "'300'"});
  write_text(dir / "twice.txt", "7 0\n7 1\n");
  expect_error([&] { (void)LabelMap::read(dir / "twice.txt"); }, {"twice.txt", "line 2", "mapped twice"});
  write_text(dir / "empty.txt", "# nothing\n\n");
  expect_error([&] { (void)LabelMap::read(dir / "empty.txt"); }, {"empty.txt", "at least one"});
  expect_error([&] { (void)LabelMap::read(dir / "missing.txt"); }, {"missing.txt", "cannot open"});
}

/// The official Cityscapes label list (cityscapesScripts, helpers/labels.py): name, id, trainId.
struct CityscapesLabel {
  const char* name;
  int id;
  int train_id;
};
constexpr CityscapesLabel kCityscapesLabels[] = {
    {"unlabeled", 0, 255},      {"ego vehicle", 1, 255}, {"rectification border", 2, 255},
    {"out of roi", 3, 255},     {"static", 4, 255},      {"dynamic", 5, 255},
    {"ground", 6, 255},         {"road", 7, 0},          {"sidewalk", 8, 1},
    {"parking", 9, 255},        {"rail track", 10, 255}, {"building", 11, 2},
    {"wall", 12, 3},            {"fence", 13, 4},        {"guard rail", 14, 255},
    {"bridge", 15, 255},        {"tunnel", 16, 255},     {"pole", 17, 5},
    {"polegroup", 18, 255},     {"traffic light", 19, 6}, {"traffic sign", 20, 7},
    {"vegetation", 21, 8},      {"terrain", 22, 9},      {"sky", 23, 10},
    {"person", 24, 11},         {"rider", 25, 12},       {"car", 26, 13},
    {"truck", 27, 14},          {"bus", 28, 15},         {"caravan", 29, 255},
    {"trailer", 30, 255},       {"train", 31, 16},       {"motorcycle", 32, 17},
    {"bicycle", 33, 18},        {"license plate", -1, -1},
};

TEST(LabelMap, CityscapesTableMatchesTheOfficialList) {
  const auto m = cityscapes_train_ids();
  int evaluated = 0;
  for (const auto& l : kCityscapesLabels) {
    // Ids are stored in 8 bits: the license plate's −1 is 255; trainIds 255 and −1 are ignored.
    const int raw = l.id < 0 ? 255 : l.id;
    const int expected = l.train_id < 0 ? 255 : l.train_id;
    EXPECT_EQ(m.lookup(raw, 19), expected) << l.name;
    if (expected != 255) {
      ++evaluated;
      EXPECT_EQ(labor::data::cityscapes_class_names[static_cast<std::size_t>(expected)], l.name);
    }
  }
  EXPECT_EQ(evaluated, 19);
  for (int raw = 34; raw < 256; ++raw) EXPECT_EQ(m.lookup(raw, 19), 255) << raw;
}

// ---------------------------------------------------------------------------------------------
// Dataset specs

TEST(DatasetSpec, ParsesEveryKind) {
  using labor::data::DatasetKind;
  using labor::data::parse_dataset_spec;
  auto s = parse_dataset_spec("folder:a/img:a/lbl");
  EXPECT_EQ(s.kind, DatasetKind::folder);
  EXPECT_EQ(s.path, fs::path("a/img"));
  EXPECT_EQ(s.labels, fs::path("a/lbl"));
  s = parse_dataset_spec("list:/x/train.txt");
  EXPECT_EQ(s.kind, DatasetKind::list);
  EXPECT_EQ(s.path, fs::path("/x/train.txt"));
  s = parse_dataset_spec("cityscapes:/data/cs:val");
  EXPECT_EQ(s.kind, DatasetKind::cityscapes);
  EXPECT_EQ(s.path, fs::path("/data/cs"));
  EXPECT_EQ(s.split, "val");
  s = parse_dataset_spec("gta5:/data/gta");
  EXPECT_EQ(s.kind, DatasetKind::gta5);
  EXPECT_EQ(s.path, fs::path("/data/gta"));
  s = parse_dataset_spec("images:/data/target");
  EXPECT_EQ(s.kind, DatasetKind::images);
  EXPECT_EQ(s.path, fs::path("/data/target"));
  EXPECT_TRUE(s.labels.empty());
}

TEST(DatasetSpec, RejectsBadSpecs) {
  using labor::data::parse_dataset_spec;
  expect_error([] { (void)parse_dataset_spec("foo:bar"); }, {"'foo:bar'", "unknown kind 'foo'"});
  expect_error([] { (void)parse_dataset_spec("folder:onlyone"); }, {"'folder:onlyone'", "folder:IMAGES:LABELS"});
  expect_error([] { (void)parse_dataset_spec("folder:a:"); }, {"folder:IMAGES:LABELS"});
  expect_error([] { (void)parse_dataset_spec("folder:a:b:c"); }, {"folder:IMAGES:LABELS", "got 3"});
  expect_error([] { (void)parse_dataset_spec("cityscapes:/root"); }, {"cityscapes:ROOT:SPLIT"});
  expect_error([] { (void)parse_dataset_spec("gta5"); }, {"'gta5'", "gta5:ROOT"});
  expect_error([] { (void)parse_dataset_spec("list:"); }, {"list:FILE"});
  expect_error([] { (void)parse_dataset_spec("images:"); }, {"'images:'", "images:DIR"});
  expect_error([] { (void)parse_dataset_spec("images:a:b"); }, {"images:DIR", "got 2"});
  expect_error([] { (void)open_dataset("nothing"); }, {"unknown kind 'nothing'"});
  // The list of kinds names every one.
  expect_error([] { (void)parse_dataset_spec("zip:x"); },
               {"folder:IMAGES:LABELS", "list:FILE", "cityscapes:ROOT:SPLIT", "gta5:ROOT", "images:DIR"});
}

// ---------------------------------------------------------------------------------------------
// Dataset kinds

TEST(FileDataset, FolderMatchesStemsSortsAndDecodes) {
  TempDir dir;
  const auto b = write_rgb(dir / "img/b.png", 4, 6, 2);
  const auto a = write_rgb(dir / "img/a.png", 4, 6, 1);
  write_rgb(dir / "img/c.png", 4, 6, 3);
  write_text(dir / "img/notes.txt", "not an image");
  write_gray(dir / "lbl/a.png", 4, 6, {0, 1, 2, 255});
  write_gray(dir / "lbl/b.png", 4, 6, {3, 4});
  write_gray(dir / "lbl/c.png", 4, 6, {1});
  const auto ds = open_dataset(fmt::format("folder:{}:{}", (dir / "img").string(), (dir / "lbl").string()),
                               {.num_classes = 5});
  static_assert(labor::data::Dataset<FileDataset>);
  ASSERT_EQ(ds.size(), 3);
  EXPECT_EQ(ds.height(), 4);
  EXPECT_EQ(ds.width(), 6);
  EXPECT_EQ(ds.files(0).image.filename(), "a.png");
  EXPECT_EQ(ds.files(1).image.filename(), "b.png");
  EXPECT_EQ(ds.files(2).label.filename(), "c.png");
  const auto im = ds.image(1);
  ASSERT_EQ(im.shape(), Shape({3, 4, 6}));
  for (std::int64_t y = 0; y < 4; ++y)
    for (std::int64_t x = 0; x < 6; ++x)
      for (std::int64_t c = 0; c < 3; ++c)
        ASSERT_FLOAT_EQ(im(c, y, x), static_cast<float>(b(y, x, c)) / 255.0f) << y << "," << x << "," << c;
  EXPECT_FLOAT_EQ(ds.image(0)(2, 3, 5), static_cast<float>(a(3, 5, 2)) / 255.0f);
  const auto lb = ds.label(0);
  ASSERT_EQ(lb.shape(), Shape({4, 6}));
  EXPECT_EQ(std::vector<std::int32_t>(lb.data(), lb.data() + 5), (std::vector<std::int32_t>{0, 1, 2, 255, 0}));
  EXPECT_EQ(ds.label(1)(0, 1), 4);
  // Prefix selection by image file name.
  const auto only_b = open_dataset(fmt::format("folder:{}:{}", (dir / "img").string(), (dir / "lbl").string()),
                                   {.num_classes = 5, .include = {"b", "c"}, .exclude = {"c"}});
  ASSERT_EQ(only_b.size(), 1);
  EXPECT_EQ(only_b.files(0).image.filename(), "b.png");
}

TEST(FileDataset, ListResolvesRelativePathsAndSelectsByPrefix) {
  TempDir dir;
  const auto x2 = write_rgb(dir / "data/images/x2.png", 3, 5, 4);
  write_rgb(dir / "data/images/x1.png", 3, 5, 5);
  write_rgb(dir / "data/images/skip_me.png", 3, 5, 6);
  write_gray(dir / "data/labels/x1_l.png", 3, 5, {1});
  write_gray(dir / "data/labels/x2_l.png", 3, 5, {2, 0});
  write_gray(dir / "data/labels/s.png", 3, 5, {0});
  write_rgb(dir / "abs/y.png", 3, 5, 7);
  write_gray(dir / "abs/y_l.png", 3, 5, {3});
  write_text(dir / "data/train.txt", "# image label\nimages/x2.png labels/x2_l.png\n\n  images/x1.png\tlabels/x1_l.png  \n"
                                     "images/skip_me.png labels/s.png # comment\n" +
                                         (dir / "abs/y.png").string() + " " + (dir / "abs/y_l.png").string() + "\n");
  const std::string spec = "list:" + (dir / "data/train.txt").string();
  const auto all = open_dataset(spec, {.num_classes = 4});
  ASSERT_EQ(all.size(), 4);
  EXPECT_EQ(all.files(0).image, dir / "abs/y.png");  // sorted by path
  EXPECT_EQ(all.label(0)(1, 1), 3);
  EXPECT_EQ(all.files(3).image, dir / "data/images/x2.png");
  EXPECT_EQ(all.files(3).label, dir / "data/labels/x2_l.png");
  EXPECT_FLOAT_EQ(all.image(3)(1, 2, 4), static_cast<float>(x2(2, 4, 1)) / 255.0f);
  EXPECT_EQ(all.label(3)(0, 0), 2);
  EXPECT_EQ(all.label(3)(0, 1), 0);

  const auto xs = open_dataset(spec, {.num_classes = 4, .include = {"x"}});
  ASSERT_EQ(xs.size(), 2);
  EXPECT_EQ(xs.files(0).image.filename(), "x1.png");
  const auto no_skip = open_dataset(spec, {.num_classes = 4, .exclude = {"skip", "y"}});
  ASSERT_EQ(no_skip.size(), 2);
  EXPECT_EQ(no_skip.files(1).image.filename(), "x2.png");
}

TEST(FileDataset, CityscapesLayoutAndTrainIds) {
  TempDir dir;
  const auto root = dir.path();
  for (const std::string city : {"bremen", "aachen"})
    for (int k = 0; k < 2; ++k) {
      const std::string stem = fmt::format("{}_00000{}_000019", city, k);
      write_rgb(root / "leftImg8bit/train" / city / (stem + "_leftImg8bit.png"), 4, 8, k);
      write_gray(root / "gtFine/train" / city / (stem + "_gtFine_labelIds.png"), 4, 8, {7, 26, 0, 33, 255, 11});
      write_gray(root / "gtFine/train" / city / (stem + "_gtFine_instanceIds.png"), 4, 8, {1000});
    }
  write_rgb(root / "leftImg8bit/val/aachen/aachen_000000_000019_leftImg8bit.png", 4, 8, 9);
  const auto ds = open_dataset("cityscapes:" + root.string() + ":train");
  ASSERT_EQ(ds.size(), 4);
  EXPECT_EQ(ds.files(0).image.filename(), "aachen_000000_000019_leftImg8bit.png");
  EXPECT_EQ(ds.files(0).label, root / "gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png");
  EXPECT_EQ(ds.files(3).image.parent_path().filename(), "bremen");
  const auto lb = ds.label(2);
  EXPECT_EQ(std::vector<std::int32_t>(lb.data(), lb.data() + 6), (std::vector<std::int32_t>{0, 13, 255, 18, 255, 2}));
  const auto bremen = open_dataset("cityscapes:" + root.string() + ":train", {.include = {"bremen"}});
  EXPECT_EQ(bremen.size(), 2);
  // The val split has an image without its label file.
  expect_error([&] { (void)open_dataset("cityscapes:" + root.string() + ":val"); },
               {"1 label file(s) missing", "gtFine/val/aachen/aachen_000000_000019_gtFine_labelIds.png"});
  expect_error([&] { (void)open_dataset("cityscapes:" + root.string() + ":test"); },
               {"leftImg8bit/test", "not found"});
  // An explicit label map replaces the default table.
  const auto raw = open_dataset("cityscapes:" + root.string() + ":train",
                                {.label_map = LabelMap::parse("7:1,26:2,0:0,33:3,11:4"), .num_classes = 5});
  EXPECT_EQ(raw.label(0)(0, 1), 2);
}

TEST(FileDataset, Gta5LayoutAndMapping) {
  TempDir dir;
  write_rgb(dir / "gta/images/00002.png", 5, 4, 1);
  write_rgb(dir / "gta/images/00001.png", 5, 4, 2);
  write_gray(dir / "gta/labels/00001.png", 5, 4, {7, 8, 11, 34});
  write_gray(dir / "gta/labels/00002.png", 5, 4, {21});
  const auto ds = open_dataset("gta5:" + (dir / "gta").string());
  ASSERT_EQ(ds.size(), 2);
  EXPECT_EQ(ds.files(0).image.filename(), "00001.png");
  const auto lb = ds.label(0);
  EXPECT_EQ(std::vector<std::int32_t>(lb.data(), lb.data() + 4), (std::vector<std::int32_t>{0, 1, 2, 255}));
  EXPECT_EQ(ds.label(1)(4, 3), 8);
}

TEST(FileDataset, FixedSizeResizesEveryItem) {
  TempDir dir;
  write_rgb(dir / "img/a.png", 4, 6, 1);
  write_rgb(dir / "img/b.png", 8, 10, 2);
  write_gray(dir / "lbl/a.png", 4, 6, {0, 1});
  write_gray(dir / "lbl/b.png", 8, 10, {0, 1, 2, 3, 4});
  const std::string spec = fmt::format("folder:{}:{}", (dir / "img").string(), (dir / "lbl").string());
  expect_error([&] { (void)open_dataset(spec, {.num_classes = 5}); },
               {"b.png", "is 8×10", "expected 4×6", "share one size"});
  const auto ds = open_dataset(spec, {.num_classes = 5, .height = 4, .width = 6});
  const auto native = open_dataset(spec, {.num_classes = 5, .height = 8, .width = 10});
  ASSERT_EQ(ds.image(1).shape(), Shape({3, 4, 6}));
  ASSERT_EQ(ds.label(1).shape(), Shape({4, 6}));
  const auto want_im = labor::data::resize_bilinear(native.image(1), 4, 6);
  const auto want_lb = labor::data::resize_nearest(native.label(1), 4, 6);
  const auto got_im = ds.image(1);
  const auto got_lb = ds.label(1);
  for (std::int64_t i = 0; i < got_im.numel(); ++i) ASSERT_FLOAT_EQ(got_im[i], want_im[i]) << i;
  for (std::int64_t i = 0; i < got_lb.numel(); ++i) ASSERT_EQ(got_lb[i], want_lb[i]) << i;
  // Item a already has the size: decoded unchanged, and item b's native decode is really 8×10.
  EXPECT_EQ(ds.label(0)(0, 1), 1);
  EXPECT_EQ(native.image(1).shape(), Shape({3, 8, 10}));
  expect_error([&] { (void)open_dataset(spec, {.num_classes = 5, .height = 4, .width = 0}); }, "output size");
}

// ---------------------------------------------------------------------------------------------
// Unlabeled datasets: images: and image-only list:

TEST(FileDataset, ImagesKindListsPngsInOrderWithoutLabels) {
  TempDir dir;
  const auto c = write_rgb(dir / "img/c.png", 4, 6, 3);
  const auto a = write_rgb(dir / "img/a.png", 4, 6, 1);
  const auto b = write_rgb(dir / "img/b.png", 4, 6, 2);
  write_text(dir / "img/notes.txt", "not an image");
  write_rgb(dir / "img/sub/d.png", 4, 6, 4);  // not directly inside: not listed
  const std::string spec = "images:" + (dir / "img").string();
  const auto ds = open_dataset(spec);
  ASSERT_EQ(ds.size(), 3);
  EXPECT_FALSE(ds.has_labels());
  EXPECT_FALSE(labor::data::has_labels(ds));
  EXPECT_EQ(ds.height(), 4);
  EXPECT_EQ(ds.width(), 6);
  EXPECT_EQ(ds.image_file(0), dir / "img/a.png");
  EXPECT_EQ(ds.image_file(1), dir / "img/b.png");
  EXPECT_EQ(ds.image_file(2), dir / "img/c.png");
  EXPECT_TRUE(ds.files(2).label.empty());
  const Tensor<std::uint8_t>* want[] = {&a, &b, &c};
  for (std::int64_t i = 0; i < 3; ++i) {
    const auto im = ds.image(i);
    ASSERT_EQ(im.shape(), Shape({3, 4, 6}));
    for (std::int64_t y = 0; y < 4; ++y)
      for (std::int64_t x = 0; x < 6; ++x)
        for (std::int64_t ch = 0; ch < 3; ++ch)
          ASSERT_FLOAT_EQ(im(ch, y, x), static_cast<float>((*want[i])(y, x, ch)) / 255.0f) << i;
  }
  // label() names the dataset, the index and what to pass instead.
  expect_error([&] { (void)ds.label(1); },
               {"dataset '" + spec + "'", "label 1", "has no labels", "images:", "pass a labeled spec", "folder:"});
  expect_error([&] { (void)ds.image_file(3); }, {spec, "index", "got 3"});
  // The same images in the same order as the folder kind reads them with labels.
  for (const std::string stem : {"a", "b", "c"}) write_gray(dir / "lbl" / (stem + ".png"), 4, 6, {0});
  const auto labeled = open_dataset(fmt::format("folder:{}:{}", (dir / "img").string(), (dir / "lbl").string()));
  EXPECT_TRUE(labeled.has_labels());
  EXPECT_TRUE(labor::data::has_labels(labeled));
  ASSERT_EQ(labeled.size(), ds.size());
  for (std::int64_t i = 0; i < ds.size(); ++i) EXPECT_EQ(labeled.image_file(i), ds.image_file(i));
  // Prefix selection by file name.
  const auto only_b = open_dataset(spec, {.include = {"b", "c"}, .exclude = {"c"}});
  ASSERT_EQ(only_b.size(), 1);
  EXPECT_EQ(only_b.image_file(0).filename(), "b.png");
}

TEST(FileDataset, ImagesKindResizes) {
  TempDir dir;
  write_rgb(dir / "img/a.png", 4, 6, 1);
  write_rgb(dir / "img/b.png", 8, 10, 2);
  const std::string spec = "images:" + (dir / "img").string();
  expect_error([&] { (void)open_dataset(spec); }, {spec, "b.png", "is 8×10", "expected 4×6", "share one size"});
  const auto ds = open_dataset(spec, {.height = 4, .width = 6});
  const auto native = open_dataset(spec, {.height = 8, .width = 10});
  EXPECT_EQ(ds.height(), 4);
  EXPECT_EQ(ds.width(), 6);
  const auto got = ds.image(1);
  ASSERT_EQ(got.shape(), Shape({3, 4, 6}));
  const auto want = labor::data::resize_bilinear(native.image(1), 4, 6);
  for (std::int64_t i = 0; i < got.numel(); ++i) ASSERT_FLOAT_EQ(got[i], want[i]) << i;
  EXPECT_EQ(native.image(1).shape(), Shape({3, 8, 10}));
  EXPECT_EQ(native.image(0).shape(), Shape({3, 8, 10}));
}

TEST(FileDataset, ImageOnlyListResolvesRelativePaths) {
  TempDir dir;
  const auto x2 = write_rgb(dir / "data/images/x2.png", 3, 5, 4);
  const auto x1 = write_rgb(dir / "data/images/x1.png", 3, 5, 5);
  write_rgb(dir / "abs/y.png", 3, 5, 7);
  write_text(dir / "data/target.txt",
             "# unlabeled target images\nimages/x2.png\n\n  images/x1.png  # comment\n" + (dir / "abs/y.png").string() +
                 "\n");
  const std::string spec = "list:" + (dir / "data/target.txt").string();
  const auto ds = open_dataset(spec);
  ASSERT_EQ(ds.size(), 3);
  EXPECT_FALSE(ds.has_labels());
  EXPECT_EQ(ds.image_file(0), dir / "abs/y.png");  // sorted by path
  EXPECT_EQ(ds.image_file(1), dir / "data/images/x1.png");
  EXPECT_EQ(ds.image_file(2), dir / "data/images/x2.png");
  EXPECT_TRUE(ds.files(1).label.empty());
  EXPECT_FLOAT_EQ(ds.image(2)(1, 2, 4), static_cast<float>(x2(2, 4, 1)) / 255.0f);
  EXPECT_FLOAT_EQ(ds.image(1)(0, 1, 3), static_cast<float>(x1(1, 3, 0)) / 255.0f);
  expect_error([&] { (void)ds.label(0); }, {"dataset '" + spec + "'", "label 0", "has no labels"});
  const auto xs = open_dataset(spec, {.include = {"x"}});
  ASSERT_EQ(xs.size(), 2);
  EXPECT_EQ(xs.image_file(0).filename(), "x1.png");
  // A missing or non-PNG image fails at once, naming the file.
  write_text(dir / "data/missing.txt", "images/x1.png\nimages/x3.png\n");
  expect_error([&] { (void)open_dataset("list:" + (dir / "data/missing.txt").string()); }, {"x3.png", "cannot open"});
  write_text(dir / "data/images/junk.png", "no png");
  write_text(dir / "data/junk.txt", "images/x1.png\nimages/junk.png\n");
  expect_error([&] { (void)open_dataset("list:" + (dir / "data/junk.txt").string()); }, {"junk.png", "not a PNG"});
}

TEST(FileDataset, ListMixingPairsAndSinglePathsFails) {
  TempDir dir;
  write_rgb(dir / "a.png", 4, 4, 1);
  write_rgb(dir / "b.png", 4, 4, 2);
  write_gray(dir / "a_l.png", 4, 4, {0});
  write_gray(dir / "b_l.png", 4, 4, {0});
  write_text(dir / "pairs_first.txt", "a.png a_l.png\n\nb.png\n");
  expect_error([&] { (void)open_dataset("list:" + (dir / "pairs_first.txt").string()); },
               {"pairs_first.txt", "line 3", "expected 'image label' like line 1", "all pairs or all single paths",
                "got 'b.png'"});
  write_text(dir / "single_first.txt", "# unlabeled\n\na.png\nb.png b_l.png\n");
  expect_error([&] { (void)open_dataset("list:" + (dir / "single_first.txt").string()); },
               {"single_first.txt", "line 4", "expected a single image path like line 3", "got 'b.png b_l.png'"});
  write_text(dir / "three.txt", "a.png a_l.png extra\n");
  expect_error([&] { (void)open_dataset("list:" + (dir / "three.txt").string()); },
               {"three.txt", "line 1", "expected 'image label' or a single image path"});
  // A mix handed to the constructor directly.
  expect_error([&] { (void)FileDataset({{dir / "a.png", dir / "a_l.png"}, {dir / "b.png", {}}}, {}, "mine"); },
               {"mine", "b.png", "expected a label file", "all items or none"});
  expect_error([&] { (void)FileDataset({{dir / "a.png", {}}, {dir / "b.png", dir / "b_l.png"}}, {}, "mine"); },
               {"mine", "b.png", "expected no label file", "b_l.png"});
}

TEST(FileDataset, ImagesKindMissingOrEmptyFolder) {
  TempDir dir;
  expect_error([&] { (void)open_dataset("images:" + (dir / "nope").string()); },
               {"dataset 'images:", "nope", "not found"});
  write_text(dir / "empty/readme.txt", "no images here");
  expect_error([&] { (void)open_dataset("images:" + (dir / "empty").string()); },
               {"dataset 'images:", "empty", "expected at least one image", "got none"});
  write_rgb(dir / "one/a.png", 3, 3, 1);
  expect_error([&] { (void)open_dataset("images:" + (dir / "one").string(), {.include = {"zzz"}}); },
               {"empty", "include/exclude"});
  write_text(dir / "one/junk.png", "no png");
  expect_error([&] { (void)open_dataset("images:" + (dir / "one").string()); }, {"junk.png", "not a PNG"});
}

/// A Dataset with a has_labels() member that says no.
struct NoLabels {
  [[nodiscard]] std::int64_t size() const { return 1; }
  [[nodiscard]] Tensor<float> image(std::int64_t) const { return Tensor<float>(Shape{3, 2, 2}); }
  [[nodiscard]] Tensor<std::int32_t> label(std::int64_t) const { return Tensor<std::int32_t>(Shape{2, 2}); }
  [[nodiscard]] bool has_labels() const { return false; }
};

TEST(AnyDataset, ForwardsHasLabelsAndImageFile) {
  using labor::data::AnyDataset;
  TempDir dir;
  write_rgb(dir / "img/a.png", 4, 4, 1);
  write_rgb(dir / "img/b.png", 4, 4, 2);
  write_gray(dir / "lbl/a.png", 4, 4, {1});
  write_gray(dir / "lbl/b.png", 4, 4, {0});
  const std::string spec = "images:" + (dir / "img").string();
  const AnyDataset unlabeled(open_dataset(spec));
  EXPECT_FALSE(unlabeled.has_labels());
  EXPECT_FALSE(labor::data::has_labels(unlabeled));
  EXPECT_EQ(unlabeled.image_file(1), dir / "img/b.png");
  EXPECT_EQ(unlabeled.image(0).shape(), Shape({3, 4, 4}));
  expect_error([&] { (void)unlabeled.label(0); }, {spec, "has no labels"});
  expect_error([&] { (void)unlabeled.image_file(2); }, {spec, "index"});

  const AnyDataset labeled(
      open_dataset(fmt::format("folder:{}:{}", (dir / "img").string(), (dir / "lbl").string()), {.num_classes = 2}));
  EXPECT_TRUE(labeled.has_labels());
  EXPECT_EQ(labeled.image_file(0), dir / "img/a.png");
  EXPECT_EQ(labeled.label(0)(0, 0), 1);

  // Datasets without the members: labeled, no file; the index is still checked.
  labor::data::InMemoryDataset mem;
  mem.push_back(Tensor<float>(Shape{3, 2, 2}), Tensor<std::int32_t>(Shape{2, 2}));
  EXPECT_TRUE(labor::data::has_labels(mem));
  const AnyDataset in_memory(mem);
  EXPECT_TRUE(in_memory.has_labels());
  EXPECT_TRUE(in_memory.image_file(0).empty());
  expect_error([&] { (void)in_memory.image_file(1); }, {"image_file", "index", "got 1"});
  // A user's Dataset that says it has no labels.
  EXPECT_FALSE(labor::data::has_labels(NoLabels{}));
  EXPECT_FALSE(AnyDataset(NoLabels{}).has_labels());
  // An empty AnyDataset has nothing to refuse, and no files.
  EXPECT_TRUE(AnyDataset{}.has_labels());
  EXPECT_NE(error_of([] { (void)AnyDataset{}.image_file(0); }).find("empty AnyDataset"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Bad input

TEST(FileDataset, MissingAndUnreadableFiles) {
  TempDir dir;
  write_rgb(dir / "a.png", 4, 4, 1);
  write_gray(dir / "a_l.png", 4, 4, {0});
  write_text(dir / "missing.txt", "a.png a_l.png\nb.png b_l.png\n");
  expect_error([&] { (void)open_dataset("list:" + (dir / "missing.txt").string()); }, {"b.png", "cannot open"});
  write_text(dir / "junk.png", "this is no png file at all");
  write_text(dir / "junk.txt", "a.png a_l.png\njunk.png a_l.png\n");
  expect_error([&] { (void)open_dataset("list:" + (dir / "junk.txt").string()); }, {"junk.png", "not a PNG"});
  expect_error([&] { (void)open_dataset("list:" + (dir / "nolist.txt").string()); }, {"nolist.txt", "cannot open"});
  write_text(dir / "three.txt", "a.png a_l.png\na.png a_l.png extra\n");
  expect_error([&] { (void)open_dataset("list:" + (dir / "three.txt").string()); },
               {"three.txt", "line 2", "expected 'image label'"});
  expect_error([&] { (void)open_dataset("folder:" + (dir / "nope").string() + ":" + dir.path().string()); },
               {"nope", "not found"});
  expect_error([&] { (void)open_dataset("gta5:" + (dir / "nogta").string()); }, {"nogta/images", "not found"});
}

TEST(FileDataset, CorruptPixelDataFailsAtDecode) {
  TempDir dir;
  write_rgb(dir / "a.png", 16, 16, 1);
  write_gray(dir / "a_l.png", 16, 16, {0});
  // Keep the header, cut the image data short.
  const auto full = fs::file_size(dir / "a.png");
  fs::resize_file(dir / "a.png", full - 20);
  write_text(dir / "l.txt", "a.png a_l.png\n");
  const auto ds = open_dataset("list:" + (dir / "l.txt").string());
  EXPECT_EQ(ds.label(0)(0, 0), 0);
  expect_error([&] { (void)ds.image(0); }, {"a.png", "corrupt"});
}

TEST(FileDataset, SizeMismatchBetweenImageAndLabel) {
  TempDir dir;
  write_rgb(dir / "img/a.png", 4, 6, 1);
  write_gray(dir / "lbl/a.png", 4, 5, {0});
  expect_error(
      [&] { (void)open_dataset(fmt::format("folder:{}:{}", (dir / "img").string(), (dir / "lbl").string())); },
      {"lbl/a.png", "is 4×5", "expected 4×6", "img/a.png"});
}

TEST(FileDataset, UnmatchedStems) {
  TempDir dir;
  write_rgb(dir / "img/a.png", 4, 4, 1);
  write_rgb(dir / "img/b.png", 4, 4, 1);
  write_gray(dir / "lbl/a.png", 4, 4, {0});
  write_gray(dir / "lbl/c.png", 4, 4, {0});
  const std::string spec = fmt::format("folder:{}:{}", (dir / "img").string(), (dir / "lbl").string());
  expect_error([&] { (void)open_dataset(spec); }, {"1 image(s) without a label", "img/b.png"});
  fs::remove(dir / "img/b.png");
  expect_error([&] { (void)open_dataset(spec); }, {"1 label(s) without an image", "lbl/c.png"});
  // Excluding the unmatched one makes the rest usable.
  EXPECT_EQ(open_dataset(spec, {.exclude = {"c"}}).size(), 1);
}

TEST(FileDataset, LabelValueOutsideTheMap) {
  TempDir dir;
  write_rgb(dir / "img/a.png", 3, 4, 1);
  write_gray(dir / "lbl/a.png", 3, 4, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  const std::string spec = fmt::format("folder:{}:{}", (dir / "img").string(), (dir / "lbl").string());
  const auto ds = open_dataset(spec, {.num_classes = 10});
  expect_error([&] { (void)ds.label(0); }, {"lbl/a.png", "raw value 10", "x=2, y=2"});
  EXPECT_EQ(open_dataset(spec, {.num_classes = 12}).label(0)(2, 3), 11);
}

TEST(FileDataset, EmptyDatasets) {
  TempDir dir;
  write_text(dir / "empty.txt", "# nothing here\n\n");
  expect_error([&] { (void)open_dataset("list:" + (dir / "empty.txt").string()); }, {"empty.txt", "empty"});
  fs::create_directories(dir / "img");
  fs::create_directories(dir / "lbl");
  expect_error([&] { (void)open_dataset(fmt::format("folder:{}:{}", (dir / "img").string(), (dir / "lbl").string())); },
               {"empty", "none"});
  write_rgb(dir / "img/a.png", 3, 4, 1);
  write_gray(dir / "lbl/a.png", 3, 4, {0});
  expect_error(
      [&] {
        (void)open_dataset(fmt::format("folder:{}:{}", (dir / "img").string(), (dir / "lbl").string()),
                           {.include = {"zzz"}});
      },
      {"empty", "include/exclude"});
  expect_error([] { (void)FileDataset({}, {}, "mine"); }, {"mine", "empty"});
  expect_error([&] { (void)FileDataset({{dir / "img/a.png", dir / "lbl/a.png"}}, {.num_classes = 0}, "mine"); },
               {"mine", "num_classes"});
}

TEST(PngSize, ReadsTheHeaderOnly) {
  TempDir dir;
  write_rgb(dir / "a.png", 7, 3, 1);
  const auto full = fs::file_size(dir / "a.png");
  fs::resize_file(dir / "a.png", full - 10);
  const auto s = labor::io::png_size(dir / "a.png");
  EXPECT_EQ(s.height, 7);
  EXPECT_EQ(s.width, 3);
  expect_error([&] { (void)labor::io::png_size(dir / "none.png"); }, {"none.png", "cannot open"});
  write_text(dir / "short.png", "\x89PNG");
  expect_error([&] { (void)labor::io::png_size(dir / "short.png"); }, {"short.png", "not a PNG"});
}

}  // namespace
