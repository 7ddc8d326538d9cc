// Unit tests of the annotate module: oracles, query export/import, answers validation, and the
// label store (merge rules, persistence, failure atomicity).
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <labor/annotate.hpp>
#include <labor/io/png.hpp>

#include "support/errors.hpp"
#include "support/torch.hpp"

namespace {

using labor::Shape;
using labor::Tensor;
using labor::annotate::AnswerFormat;
using labor::annotate::Answers;
using labor::annotate::FileOracle;
using labor::annotate::LabelStore;
using labor::annotate::SimulatedOracle;
using labor::samplers::ImageQuery;
using labor::samplers::Query;
using labor::testing::expect_error;
using labor::testing::TempDir;
namespace fs = std::filesystem;
namespace an = labor::annotate;

static_assert(an::Oracle<SimulatedOracle>);
static_assert(an::Oracle<FileOracle>);
static_assert(an::Oracle<const SimulatedOracle>);

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_text(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}
bool no_temp_files(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) return false;
  return true;
}

constexpr std::int32_t C = 5;

/// Ground truth for three 6×7 images: labels (y + 2x + i) % C, with a few 255 (void) pixels.
std::vector<Tensor<std::int32_t>> ground_truth() {
  std::vector<Tensor<std::int32_t>> gt;
  for (int i = 0; i < 3; ++i) {
    Tensor<std::int32_t> t(Shape{6, 7});
    for (int y = 0; y < 6; ++y)
      for (int x = 0; x < 7; ++x) t(y, x) = (y + 2 * x + i) % C;
    t(1, 1) = 255;
    gt.push_back(std::move(t));
  }
  return gt;
}

ImageQuery image_query(std::vector<std::int64_t> pixels, std::vector<std::int32_t> classes = {}) {
  ImageQuery q;
  q.height = 6;
  q.width = 7;
  q.pixels = std::move(pixels);
  q.classes = std::move(classes);
  return q;
}

Query ppl_query() {
  Query q;
  q.strategy = "ppl";
  q.num_classes = C;
  q.images = {image_query({0, 8, 20, 41}, {0, 1, 4, 2}), image_query({}), image_query({3, 9}, {3, 3})};
  return q;
}

TEST(SimulatedOracle, AnswersGroundTruthInQueryOrder) {
  const auto gt = ground_truth();
  SimulatedOracle oracle(gt, C);
  const auto q = ppl_query();
  const std::vector<std::int64_t> ids = {2, 0, 1};
  const auto a = oracle.answer(q, ids);
  ASSERT_EQ(a.images.size(), 3u);
  EXPECT_EQ(a.images[0].image, 2);
  EXPECT_EQ(a.images[0].pixels, q.images[0].pixels);
  for (std::size_t j = 0; j < 4; ++j) EXPECT_EQ(a.images[0].labels[j], gt[2][q.images[0].pixels[j]]);
  EXPECT_EQ(a.images[0].labels[1], 255) << "pixel (1, 1) is void: answered as ignore";
  EXPECT_TRUE(a.images[1].labels.empty());
  EXPECT_EQ(a.size(), 6);
  // Default ids 0..N-1; the N×H×W constructor answers the same.
  Tensor<std::int32_t> stacked(Shape{3, 6, 7});
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 42; ++k) stacked[i * 42 + k] = gt[static_cast<std::size_t>(i)][k];
  const auto b = SimulatedOracle(stacked.view(), C).answer(q);
  EXPECT_EQ(b, SimulatedOracle(gt, C).answer(q, std::vector<std::int64_t>{0, 1, 2}));
}

TEST(SimulatedOracle, BadInput) {
  auto gt = ground_truth();
  gt[0](2, 6) = 7;  // a label >= C at a queried pixel (linear index 20)
  SimulatedOracle oracle(gt, C);
  expect_error([&] { (void)oracle.answer(ppl_query()); }, {"image 0", "y 2, x 6", "label 7"});
  const std::vector<std::int64_t> ids = {0, 1, 9};
  expect_error([&] { (void)SimulatedOracle(ground_truth(), C).answer(ppl_query(), ids); }, {"image id 9"});
  const std::vector<std::int64_t> dup = {1, 1, 2};
  expect_error([&] { (void)SimulatedOracle(ground_truth(), C).answer(ppl_query(), dup); }, {"appears twice"});
  auto q = ppl_query();
  q.images[0].height = 8;
  expect_error([&] { (void)SimulatedOracle(ground_truth(), C).answer(q); }, {"label map shape"});
  q = ppl_query();
  q.images[2].pixels = {9, 3};
  expect_error([&] { (void)SimulatedOracle(ground_truth(), C).answer(q); }, {"ascending"});
  q.images[2].pixels = {3, 42};
  expect_error([&] { (void)SimulatedOracle(ground_truth(), C).answer(q); }, {"image 2", "outside the 6x7 image"});
  expect_error([&] { SimulatedOracle(ground_truth(), 0); }, {"num_classes"});
}

TEST(FileOracle, ExportWritesMasksAndQueriesJson) {
  TempDir dir;
  const auto q = ppl_query();
  const std::vector<std::int64_t> ids = {10, 11, 12};
  an::export_queries(q, dir / "round1", ids);
  for (std::size_t i = 0; i < 3; ++i) {
    const auto mask = labor::io::read_png_gray(dir / "round1" / ("mask_" + std::to_string(ids[i]) + ".png"));
    ASSERT_EQ(mask.shape(), Shape({6, 7}));
    std::vector<std::int64_t> on;
    for (std::int64_t p = 0; p < 42; ++p) {
      EXPECT_TRUE(mask[p] == 0 || mask[p] == 255);
      if (mask[p] == 255) on.push_back(p);
    }
    EXPECT_EQ(on, q.images[i].pixels);
  }
  std::ifstream in(dir / "round1" / "queries.json");
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["strategy"], "ppl");
  EXPECT_EQ(j["selected_pixels"], 6);
  EXPECT_DOUBLE_EQ(j["fraction"].get<double>(), 6.0 / 126.0);
  EXPECT_EQ(j["images"][0]["index"], 10);
  EXPECT_EQ(j["images"][0]["height"], 6);
  EXPECT_EQ(j["images"][0]["width"], 7);
  EXPECT_EQ(j["images"][0]["pixels"], nlohmann::json::parse("[[0,0],[1,1],[2,6],[5,6]]"));
  EXPECT_EQ(j["images"][0]["classes"], nlohmann::json::parse("[0,1,4,2]"));
  EXPECT_EQ(j.size(), 4u) << "schema: strategy, images, selected_pixels, fraction";
  EXPECT_TRUE(no_temp_files(dir / "round1"));

  // "classes" only for PPL.
  auto spl = q;
  spl.strategy = "spl";
  an::export_queries(spl, dir / "spl");
  std::ifstream in2(dir / "spl" / "queries.json");
  const auto j2 = nlohmann::json::parse(in2);
  EXPECT_FALSE(j2["images"][0].contains("classes"));
  EXPECT_TRUE(fs::exists(dir / "spl" / "mask_0.png"));

  // The export reads back as the same query.
  const auto back = an::load_queries(dir / "round1", C);
  EXPECT_EQ(back.image_ids, ids);
  EXPECT_EQ(back.query.strategy, "ppl");
  ASSERT_EQ(back.query.images.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(back.query.images[i].pixels, q.images[i].pixels);
    EXPECT_EQ(back.query.images[i].classes, q.images[i].classes);
    EXPECT_EQ(back.query.images[i].height, 6);
  }
}

TEST(FileOracle, ExportErrors) {
  TempDir dir;
  write_text(dir / "file", "x");
  expect_error([&] { an::export_queries(ppl_query(), dir / "file"); }, {"file", "not a folder"});
  auto q = ppl_query();
  q.images[0].classes.pop_back();
  expect_error([&] { an::export_queries(q, dir / "out"); }, {"image 0", "classes"});
  EXPECT_FALSE(fs::exists(dir / "out" / "queries.json"));
}

TEST(FileOracle, LoadQueriesRejectsBadFiles) {
  TempDir dir;
  an::export_queries(ppl_query(), dir.path());
  auto j = nlohmann::json::parse(read_bytes(dir / "queries.json"));
  auto bad = j;
  bad["images"][0]["pixels"][1] = {6, 0};
  write_text(dir / "queries.json", bad.dump());
  expect_error([&] { (void)an::load_queries(dir.path(), C); }, {"queries.json", "image 0", "y 6, x 0", "outside"});
  bad = j;
  bad["images"][0]["pixels"][1] = {0, 0};
  write_text(dir / "queries.json", bad.dump());
  expect_error([&] { (void)an::load_queries(dir.path(), C); }, {"queries.json", "ascending"});
  bad = j;
  bad["selected_pixels"] = 7;
  write_text(dir / "queries.json", bad.dump());
  expect_error([&] { (void)an::load_queries(dir.path(), C); }, {"selected_pixels"});
  write_text(dir / "queries.json", j.dump().substr(0, 40));
  expect_error([&] { (void)an::load_queries(dir.path(), C); }, {"queries.json", "malformed"});
  fs::remove(dir / "queries.json");
  expect_error([&] { (void)an::load_queries(dir.path(), C); }, {"queries.json", "cannot open"});
}

/// Writes labels_<id>.png holding the ground truth at queried pixels and junk (>= C) elsewhere.
void write_label_pngs(const fs::path& dir, const Query& q, const std::vector<std::int64_t>& ids,
                      const std::vector<Tensor<std::int32_t>>& gt) {
  for (std::size_t i = 0; i < q.images.size(); ++i) {
    auto map = Tensor<std::uint8_t>::full(Shape{6, 7}, 200);
    for (auto p : q.images[i].pixels) map[p] = static_cast<std::uint8_t>(gt[static_cast<std::size_t>(ids[i])][p]);
    labor::io::write_png(dir / ("labels_" + std::to_string(ids[i]) + ".png"), map);
  }
}

TEST(FileOracle, ImportPngAndJsonMatchTheSimulatedOracle) {
  TempDir dir;
  const auto gt = ground_truth();
  const auto q = ppl_query();
  const std::vector<std::int64_t> ids = {1, 2, 0};
  const auto expected = SimulatedOracle(gt, C).answer(q, ids);
  FileOracle oracle(dir / "png", C);
  oracle.ask(q, ids);
  write_label_pngs(dir / "png", q, ids, gt);
  EXPECT_EQ(oracle.answer(q, ids), expected);

  // answers.json, list form: per image, labels in query order.
  fs::create_directory(dir / "list");
  nlohmann::json list = nlohmann::json::array();
  for (const auto& a : expected.images) list.push_back(a.labels);
  write_text(dir / "list" / "answers.json", list.dump());
  EXPECT_EQ(an::import_answers(dir / "list", q, C, ids), expected);

  // answers.json, object form, images in any order, pixels repeated for checking.
  fs::create_directory(dir / "obj");
  nlohmann::json obj = {{"images", nlohmann::json::array()}};
  for (int i = 2; i >= 0; --i) {
    const auto& a = expected.images[static_cast<std::size_t>(i)];
    nlohmann::json px = nlohmann::json::array();
    for (auto p : a.pixels) px.push_back({p / 7, p % 7});
    obj["images"].push_back({{"index", a.image}, {"labels", a.labels}, {"pixels", px}});
  }
  write_text(dir / "obj" / "answers.json", obj.dump());
  EXPECT_EQ(an::import_answers(dir / "obj", q, C, ids), expected);

  // Both kinds present: ambiguous unless a format is named.
  write_label_pngs(dir / "obj", q, ids, gt);
  expect_error([&] { (void)an::import_answers(dir / "obj", q, C, ids); }, {"both"});
  EXPECT_EQ(an::import_answers(dir / "obj", q, C, ids, AnswerFormat::png), expected);
  EXPECT_EQ(an::import_answers(dir / "obj", q, C, ids, AnswerFormat::json), expected);
  expect_error([&] { (void)an::import_answers(dir / "empty", q, C, ids); }, {"no answers.json"});
}

TEST(FileOracle, ImportRejectsBadAnswers) {
  TempDir dir;
  const auto q = ppl_query();
  auto j = [&](const std::string& text) {
    write_text(dir / "answers.json", text);
    return [&] { (void)an::import_answers(dir.path(), q, C); };
  };
  expect_error(j("[[0, 1, 2, 3], [], [1]]"), {"image 2", "label count", "expected 2", "got 1"});
  expect_error(j("[[0, 1, 2, 3], []]"), {"image count", "expected 3", "got 2"});
  expect_error(j("[[0, 1, 5, 3], [], [1, 1]]"), {"answers.json", "image 0", "y 2, x 6", "label 5"});
  expect_error(j("[[0, 1, 2, -1], [], [1, 1]]"), {"image 0", "y 5, x 6", "label -1"});
  expect_error(j("[[0, 1, 2, 255], [], [1, 1.5]]"), {"image 2", "y 1, x 2", "expected an integer"});
  EXPECT_NO_THROW(j("[[0, 1, 2, 255], [], [4, 1]]")());
  expect_error(j(R"({"images": [{"index": 0, "labels": [0, 1, 2, 3]}, {"index": 1, "labels": []}]})"),
               {"image 2", "no answers"});
  expect_error(j(R"({"images": [{"index": 0, "labels": [0,1,2,3]}, {"index": 1, "labels": []},
                               {"index": 2, "labels": [1, 1]}, {"index": 7, "labels": []}]})"),
               {"image 7", "not queried"});
  expect_error(j(R"({"images": [{"index": 0, "labels": [0,1,2,3]}, {"index": 1, "labels": []},
                               {"index": 2, "labels": [1, 1], "pixels": [[0, 3], [1, 9]]}]})"),
               {"image 2", "y 1, x 9", "outside the 6x7 image"});
  expect_error(j(R"({"images": [{"index": 0, "labels": [0,1,2,3]}, {"index": 1, "labels": []},
                               {"index": 2, "labels": [1, 1], "pixels": [[0, 3], [1, 3]]}]})"),
               {"image 2", "expected the queried (y 1, x 2), got (y 1, x 3)"});
  expect_error(j("[[0, 1, 2"), {"answers.json", "malformed"});
  fs::remove(dir / "answers.json");

  // PNG answers: wrong size, labels >= C at a queried pixel, a missing file.
  const auto gt = ground_truth();
  write_label_pngs(dir.path(), q, {0, 1, 2}, gt);
  auto map = Tensor<std::uint8_t>::full(Shape{6, 7}, 0);
  map[9] = 9;
  labor::io::write_png(dir / "labels_2.png", map);
  expect_error([&] { (void)an::import_answers(dir.path(), q, C); }, {"labels_2.png", "image 2", "y 1, x 2", "label 9"});
  labor::io::write_png(dir / "labels_2.png", Tensor<std::uint8_t>(Shape{7, 6}));
  expect_error([&] { (void)an::import_answers(dir.path(), q, C); }, {"labels_2.png", "expected 6x7, got 7x6"});
  fs::remove(dir / "labels_2.png");
  expect_error([&] { (void)an::import_answers(dir.path(), q, C, {}, AnswerFormat::png); },
               {"labels_2.png", "cannot open"});
}

TEST(LabelStore, MergeCountsDenseAndLatestWins) {
  LabelStore store(C);
  Answers r1;
  r1.images.push_back({4, 2, 3, {0, 2, 5}, {1, 255, 3}});
  r1.images.push_back({1, 1, 2, {}, {}});
  store.merge(r1);
  EXPECT_EQ(store.num_images(), 2);
  EXPECT_EQ(store.queried_pixels(), 3);
  EXPECT_EQ(store.labeled_pixels(), 2);
  EXPECT_EQ(store.class_counts(), (std::vector<std::int64_t>{0, 1, 0, 1, 0}));
  Answers r2;
  r2.images.push_back({4, 2, 3, {1, 2, 5}, {0, 2, 255}});
  store.merge(r2);
  const auto& im = store.image(4);
  ASSERT_EQ(im.entries.size(), 4u);
  EXPECT_EQ(im.entries[0], (LabelStore::Entry{0, 1}));
  EXPECT_EQ(im.entries[1], (LabelStore::Entry{1, 0}));
  EXPECT_EQ(im.entries[2], (LabelStore::Entry{2, 2})) << "a later answer replaces an earlier ignore";
  EXPECT_EQ(im.entries[3], (LabelStore::Entry{5, 255})) << "and a later ignore replaces a label";
  EXPECT_EQ(store.queried_pixels(4), 4);
  EXPECT_EQ(store.queried_pixels(9), 0);
  const auto d = store.dense(4);
  EXPECT_EQ(std::vector<std::int32_t>(d.span().begin(), d.span().end()),
            (std::vector<std::int32_t>{1, 0, 2, 255, 255, 255}));
  EXPECT_EQ(store.dense(1).shape(), Shape({1, 2}));
  EXPECT_EQ(store.image_ids(), (std::vector<std::int64_t>{1, 4}));
  expect_error([&] { (void)store.dense(3); }, {"image 3", "not in the store"});
}

TEST(LabelStore, FailedMergeLeavesStoreUnchanged) {
  LabelStore store(C);
  Answers r1;
  r1.images.push_back({0, 2, 3, {0, 1}, {1, 2}});
  store.merge(r1);
  const LabelStore before = store;
  Answers bad;
  bad.images.push_back({1, 2, 2, {0}, {3}});
  bad.images.push_back({0, 3, 3, {4}, {0}});  // size differs from the stored 2x3
  expect_error([&] { store.merge(bad); }, {"image 0", "size", "2x3", "3x3"});
  EXPECT_EQ(store, before);
  bad.images = {{1, 2, 2, {0}, {3}}, {0, 2, 3, {4}, {C}}};
  expect_error([&] { store.merge(bad); }, {"image 0", "y 1, x 1", "label 5"});
  bad.images = {{1, 2, 2, {0, 1}, {3}}};
  expect_error([&] { store.merge(bad); }, {"image 1", "label count"});
  bad.images = {{1, 2, 2, {0, 4}, {3, 3}}};
  expect_error([&] { store.merge(bad); }, {"image 1", "outside the 2x2 image"});
  EXPECT_EQ(store, before);
}

TEST(LabelStore, ExportImportStoreSaveReloadRoundTrip) {
  TempDir dir;
  const auto gt = ground_truth();
  SimulatedOracle truth(gt, C);
  LabelStore store(C);
  // Round 1 through files (a human), round 2 simulated, overlapping pixels in image 0.
  const auto q1 = ppl_query();
  FileOracle human(dir / "round1", C);
  human.ask(q1);
  const auto exported = an::load_queries(dir / "round1", C);
  write_label_pngs(dir / "round1", exported.query, exported.image_ids, gt);
  const auto a1 = human.answer(exported.query, exported.image_ids);
  EXPECT_EQ(a1, truth.answer(q1));
  store.merge(a1);
  Query q2;
  q2.strategy = "entropy";
  q2.num_classes = C;
  q2.images = {image_query({1, 8, 30})};
  const std::vector<std::int64_t> ids2 = {0};
  store.merge(truth.answer(q2, ids2));
  EXPECT_EQ(store.queried_pixels(0), 6);

  store.save(dir / "store.bin");
  EXPECT_TRUE(no_temp_files(dir.path()));
  LabelStore loaded(C);
  loaded.load(dir / "store.bin");
  EXPECT_EQ(loaded, store);
  EXPECT_EQ(LabelStore::read(dir / "store.bin"), store);
  for (auto id : store.image_ids()) {
    const auto d = loaded.dense(id);
    const auto& g = gt[static_cast<std::size_t>(id)];
    for (const auto& e : loaded.image(id).entries) EXPECT_EQ(d[e.index], g[e.index]);
  }
  // Saving again gives the identical bytes.
  loaded.save(dir / "store2.bin");
  EXPECT_EQ(read_bytes(dir / "store.bin"), read_bytes(dir / "store2.bin"));
  // An empty store round-trips too.
  LabelStore empty(C);
  empty.save(dir / "empty.bin");
  loaded.load(dir / "empty.bin");
  EXPECT_EQ(loaded, empty);
}

LabelStore sample_store(std::int64_t images, std::int64_t per_image) {
  LabelStore store(C);
  Answers a;
  for (std::int64_t i = 0; i < images; ++i) {
    an::ImageAnswers im{i * 3, 40, 50, {}, {}};
    for (std::int64_t k = 0; k < per_image; ++k) {
      im.pixels.push_back(k * 7 + i);
      im.labels.push_back(static_cast<std::int32_t>((k + i) % (C + 1) == C ? 255 : (k + i) % (C + 1)));
    }
    a.images.push_back(std::move(im));
  }
  store.merge(a);
  return store;
}

TEST(LabelStore, CorruptTruncatedOrMismatchedFilesAreRejected) {
  TempDir dir;
  const auto store = sample_store(3, 20);
  store.save(dir / "s.bin");
  const auto bytes = read_bytes(dir / "s.bin");
  LabelStore target = sample_store(1, 2);
  const LabelStore before = target;
  // Every truncation is an error and leaves the in-memory store as it was.
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    write_text(dir / "t.bin", bytes.substr(0, cut));
    try {
      target.load(dir / "t.bin");
      ADD_FAILURE() << "truncated to " << cut << " bytes: loaded";
    } catch (const labor::Error& e) {
      EXPECT_NE(std::string(e.what()).find("t.bin"), std::string::npos) << e.what();
    }
    ASSERT_EQ(target, before) << cut;
  }
  // Every single flipped byte is detected.
  for (std::size_t k = 0; k < bytes.size(); ++k) {
    auto bad = bytes;
    bad[k] = static_cast<char>(bad[k] ^ 0x10);
    EXPECT_THROW(LabelStore::deserialize(bad), labor::Error) << "byte " << k;
  }
  write_text(dir / "x.bin", bytes + "x");
  expect_error([&] { target.load(dir / "x.bin"); }, {"x.bin"});
  write_text(dir / "m.bin", "NOTASTORE-------------------------------");
  expect_error([&] { target.load(dir / "m.bin"); }, {"m.bin", "bad magic"});
  expect_error([&] { target.load(dir / "none.bin"); }, {"none.bin", "cannot open"});
  LabelStore other(C + 1);
  expect_error([&] { other.load(dir / "s.bin"); }, {"s.bin", "num_classes", "expected 6, got 5"});
  EXPECT_EQ(other, LabelStore(C + 1));
  EXPECT_EQ(target, before);
}

TEST(LabelStore, FailedSaveLeavesExistingFileUntouched) {
  TempDir dir;
  const auto small = sample_store(1, 3);
  small.save(dir / "s.bin");
  const auto original = read_bytes(dir / "s.bin");
  const auto big = sample_store(8, 200);  // ≈ 19 kB
  ASSERT_GT(big.serialize().size(), 16000u);

  // Inject a failure in the middle of the write: a file size limit makes write(2) fail with EFBIG.
  struct rlimit old {};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  auto* previous = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = old;
  lim.rlim_cur = 8192;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
  bool threw = false;
  try {
    big.save(dir / "s.bin");
  } catch (const labor::Error& e) {
    threw = true;
    EXPECT_NE(std::string(e.what()).find("s.bin"), std::string::npos) << e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, previous);
  EXPECT_TRUE(threw);
  EXPECT_EQ(read_bytes(dir / "s.bin"), original);
  EXPECT_TRUE(no_temp_files(dir.path()));

  // The target is a folder; the folder does not exist.
  fs::create_directory(dir / "folder");
  expect_error([&] { big.save(dir / "folder"); }, {"folder", "directory"});
  expect_error([&] { big.save(dir / "missing" / "s.bin"); }, {"s.bin", "cannot create"});
  EXPECT_TRUE(no_temp_files(dir.path()));
  LabelStore back(C);
  back.load(dir / "s.bin");
  EXPECT_EQ(back, small);
  // After the failures the big store still saves and reloads.
  big.save(dir / "s.bin");
  back.load(dir / "s.bin");
  EXPECT_EQ(back, big);
}

}  // namespace
