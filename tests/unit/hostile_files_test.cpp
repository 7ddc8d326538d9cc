// Files from annotators and checkpoints, written by an attacker: queries.json, answers (JSON and
// label PNGs), label stores, checkpoint metadata and optimiser state, and the temporaries a
// crashed writer leaves. Every reader throws only labor::Error naming the file, allocates nothing
// the file does not hold, and an image size that can be merged and saved can be loaded again.
// The reproducers of tests/fuzz/regressions/ are replayed here.
#include <gtest/gtest.h>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <labor/annotate.hpp>
#include <labor/core/hash.hpp>
#include <labor/data.hpp>
#include <labor/io/atomic_file.hpp>
#include <labor/io/png.hpp>
#include <labor/io/safetensors.hpp>
#include <labor/models.hpp>
#include <labor/train.hpp>

#include "support/errors.hpp"
#include "support/torch.hpp"

namespace {

namespace fs = std::filesystem;
namespace an = labor::annotate;
namespace train = labor::train;
using labor::testing::error_of;
using labor::testing::expect_error;
using labor::testing::TempDir;

/// tests/fuzz/regressions/<kind>.
fs::path regressions(const std::string& kind) {
  return fs::path(LABOR_PARITY_SCRIPTS).parent_path() / "fuzz" / "regressions" / kind;
}

/// The files of `dir` (but a README.md), sorted.
std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename() != "README.md") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

void write_file(const fs::path& file, const std::string& text) {
  std::ofstream(file, std::ios::binary) << text;
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// 100 000 nested arrays (200 KB): nlohmann's recursive dump() and destructor overflow the stack.
std::string nested(std::size_t depth = 100000) { return std::string(depth, '[') + std::string(depth, ']'); }

/// A one-image query (2×3, pixels 1 and 4) of strategy "random".
labor::samplers::Query small_query() {
  labor::samplers::Query q;
  q.strategy = "random";
  q.num_classes = 3;
  q.images.push_back({.height = 2, .width = 3, .pixels = {1, 4}, .classes = {}, .scores = {}});
  return q;
}

/// queries.json of one image of `height`×`width` with pixels `pixels` ([y, x] pairs).
std::string queries_json(const std::string& height, const std::string& width, const std::string& pixels,
                         std::int64_t count) {
  return R"({"strategy": "random", "images": [{"index": 0, "height": )" + height + R"(, "width": )" + width +
         R"(, "pixels": )" + pixels + R"(}], "selected_pixels": )" + std::to_string(count) + "}";
}

// ------------------------------------------------------------------ queries.json

TEST(HostileFiles, QueriesNestedDeeplyAreRefusedNotCrashed) {
  TempDir dir;
  write_file(dir / "queries.json", R"({"strategy": )" + nested() + R"(, "images": [], "selected_pixels": 0})");
  expect_error([&] { (void)an::load_queries(dir.path(), 3); }, {"queries.json", "nested deeper"});
}

TEST(HostileFiles, QueriesQuoteAValueWithoutPrintingAllOfIt) {
  TempDir dir;
  std::string strategy = "[";
  for (int i = 0; i < 50000; ++i) strategy += "1,";
  strategy += "1]";
  write_file(dir / "queries.json", R"({"strategy": )" + strategy + R"(, "images": [], "selected_pixels": 0})");
  const auto msg = error_of([&] { (void)an::load_queries(dir.path(), 3); });
  EXPECT_NE(msg.find("strategy: expected a string, got an array of 50001 elements"), std::string::npos) << msg;
  EXPECT_LT(msg.size(), 400u);
  write_file(dir / "queries.json", R"({"strategy": ")" + std::string(100000, 'x') + R"(", "images": [)" +
                                       R"({"index": 0, "height": 2, "width": 3, "pixels": [[0, 0]], "classes": [")" +
                                       std::string(100000, 'y') + R"("]}], "selected_pixels": 1})");
  const auto msg2 = error_of([&] { (void)an::load_queries(dir.path(), 3); });
  EXPECT_NE(msg2.find("class"), std::string::npos) << msg2.substr(0, 300);
  EXPECT_LT(msg2.size(), 400u) << msg2.substr(0, 300);
}

TEST(HostileFiles, QueriesWhoseSizeOrPixelsOverflowAreRefused) {
  TempDir dir;
  // (2^62 + 1)·4 wraps to 4 and the pixel (2^62, 0) to linear index 0: a "valid" 1-pixel query before.
  write_file(dir / "queries.json", queries_json("4611686018427387905", "4", "[[4611686018427387904, 0]]", 1));
  expect_error([&] { (void)an::load_queries(dir.path(), 3); }, {"queries.json", "image 0: size"});
  write_file(dir / "queries.json", queries_json("3037000500", "3037000500", "[[0, 0]]", 1));
  expect_error([&] { (void)an::load_queries(dir.path(), 3); }, {"queries.json", "image 0: size"});
  // An integer above INT64_MAX used to wrap to a negative value.
  write_file(dir / "queries.json", queries_json("2", "3", "[[18446744073709551615, 0]]", 1));
  expect_error([&] { (void)an::load_queries(dir.path(), 3); }, {"queries.json", "y: expected an integer"});
  write_file(dir / "queries.json", queries_json("2", "3", "[[1, 2]]", 1));
  const auto q = an::load_queries(dir.path(), 3);
  ASSERT_EQ(q.query.images.size(), 1u);
  EXPECT_EQ(q.query.images[0].pixels, std::vector<std::int64_t>{5});
}

// ------------------------------------------------------------------ one rule for an image's size

an::Answers one_answer(std::int64_t height, std::int64_t width, std::int64_t pixel) {
  an::Answers a;
  a.images.push_back({.image = 0, .height = height, .width = width, .pixels = {pixel}, .labels = {1}});
  return a;
}

TEST(HostileFiles, AnImageSizeThatMergesAndSavesCanBeLoaded) {
  TempDir dir;
  // 2147483649×1 used to import, merge and save, and then fail to load.
  an::LabelStore store(3);
  expect_error([&] { store.merge(one_answer(2147483649, 1, 2147483648)); }, {"image 0: size", "2147483649x1"});
  EXPECT_EQ(store.num_images(), 0);
  expect_error([&] { store.merge(one_answer(65536, 65537, 0)); }, {"image 0: size", "65536x65537"});
  // At the limits: merged, saved and loaded back.
  store.merge(one_answer(an::detail::max_image_side, 1, an::detail::max_image_side - 1));
  an::Answers wide;
  wide.images.push_back({.image = 1, .height = 2, .width = an::detail::max_image_side, .pixels = {7}, .labels = {2}});
  store.merge(wide);
  store.save(dir / "labels.lstore");
  EXPECT_EQ(an::LabelStore::read(dir / "labels.lstore"), store);
  // The import path refuses it too, with the same message, before an answer is read.
  write_file(dir / "queries.json", queries_json("2147483649", "1", "[[2147483648, 0]]", 1));
  expect_error([&] { (void)an::load_queries(dir.path(), 3); }, {"queries.json", "image 0: size", "2147483649x1"});
  auto q = small_query();
  q.images[0].height = 2147483649;
  q.images[0].width = 1;
  expect_error([&] { an::export_queries(q, dir / "out"); }, {"export_queries", "image 0: size"});
  expect_error([&] { (void)an::import_answers(dir.path(), q, 3); }, {"import_answers", "image 0: size"});
  expect_error([&] { (void)an::answers_from_json(nlohmann::json::array({{1}}), "a.json", q, {0}, 3); },
               {"a.json", "image 0: size"});
}

// ------------------------------------------------------------------ answers

TEST(HostileFiles, AnswersNestedDeeplyOrOutOfRangeAreRefused) {
  TempDir dir;
  const auto q = small_query();
  write_file(dir / "answers.json", R"({"images": [{"index": 0, "labels": )" + nested() + "}]}");
  expect_error([&] { (void)an::import_answers(dir.path(), q, 3); }, {"answers.json", "nested deeper"});
  write_file(dir / "answers.json", R"({"images": [{"index": 18446744073709551615, "labels": [0, 1]}]})");
  expect_error([&] { (void)an::import_answers(dir.path(), q, 3); }, {"answers.json", "image index: expected an integer"});
  write_file(dir / "answers.json", R"([[0, ")" + std::string(100000, 'z') + R"("]])");
  const auto msg = error_of([&] { (void)an::import_answers(dir.path(), q, 3); });
  EXPECT_NE(msg.find("label: expected an integer"), std::string::npos) << msg.substr(0, 300);
  EXPECT_LT(msg.size(), 400u);
  write_file(dir / "answers.json", R"([[0, 2]])");
  const auto a = an::import_answers(dir.path(), q, 3);
  EXPECT_EQ(a.images.at(0).labels, (std::vector<std::int32_t>{0, 2}));
}

TEST(HostileFiles, LabelPngAnswersOfAnotherSizeAreRefused) {
  TempDir dir;
  const auto q = small_query();
  labor::Tensor<std::uint8_t, labor::cpu> map(labor::Shape{3, 2});
  labor::io::write_png(dir / "labels_0.png", map);
  expect_error([&] { (void)an::import_answers(dir.path(), q, 3); }, {"labels_0.png", "expected 2x3, got 3x2"});
}

// ------------------------------------------------------------------ label stores

/// A label store file of one image (id 0, `height`×`width`, one entry at `index`), hash included.
std::string store_bytes(std::int64_t height, std::int64_t width, std::int64_t index) {
  std::string b(an::detail::store_magic);
  an::detail::put(b, an::detail::store_version);
  an::detail::put(b, std::uint32_t{3});
  an::detail::put(b, std::uint64_t{1});
  for (std::int64_t v : {std::int64_t{0}, height, width}) an::detail::put(b, v);
  an::detail::put(b, std::uint64_t{1});
  an::detail::put(b, index);
  an::detail::put(b, std::int32_t{1});
  an::detail::put(b, labor::fnv1a64(b));
  return b;
}

TEST(HostileFiles, LabelStoreImagesFollowTheMergeRule) {
  // 2147483647×2147483647 passed the old per-side check; dense() then asked for 2^62 labels.
  expect_error([] { (void)an::LabelStore::deserialize(store_bytes(2147483647, 2147483647, 5), "s.lstore"); },
               {"label store 's.lstore'", "image 0: size"});
  expect_error([] { (void)an::LabelStore::deserialize(store_bytes(2147483649, 1, 5), "s.lstore"); },
               {"label store 's.lstore'", "image 0: size"});
  expect_error([] { (void)an::LabelStore::deserialize(store_bytes(-1, -4, 5), "s.lstore"); }, "image 0: size");
  const auto ok = an::LabelStore::deserialize(store_bytes(an::detail::max_image_side, 2, 5), "s.lstore");
  EXPECT_EQ(ok.image(0).height, an::detail::max_image_side);
  // Every truncation of a valid file is refused as such, never read past its end.
  const auto bytes = store_bytes(4, 4, 5);
  for (std::size_t n = 0; n < bytes.size(); ++n)
    expect_error([&] { (void)an::LabelStore::deserialize(std::string_view(bytes).substr(0, n), "t.lstore"); },
                 "label store 't.lstore'");
}

// ------------------------------------------------------------------ checkpoints

/// An in-memory safetensors file with `n` F32 tensors of one element each ("model.<i>").
labor::io::SafetensorsFile tensors(std::size_t n) {
  labor::io::SafetensorsFile f;
  for (std::size_t i = 0; i < n; ++i) f.tensors["model." + std::to_string(i)] = {"F32", {1}, std::string(4, '\0')};
  return f;
}

TEST(HostileFiles, OptimiserStateSizesAreCheckedBeforeAllocating) {
  const auto f = tensors(3);
  const auto shaped = [&](const std::string& text) {
    return train::StageState::shaped_like(nlohmann::json::parse(text), f, "optim.", "ck.safetensors");
  };
  expect_error([&] { (void)shaped(R"({"iteration": 1, "sgd": -1, "adam_steps": []})"); },
               {"ck.safetensors", "sgd: expected a non-negative integer, got -1"});
  expect_error([&] { (void)shaped(R"({"iteration": 1, "sgd": 1e15, "adam_steps": []})"); },
               {"ck.safetensors", "sgd: expected a non-negative integer"});
  expect_error([&] { (void)shaped(R"({"iteration": 1, "sgd": 1000000000000, "adam_steps": []})"); },
               {"ck.safetensors", "1000000000000 SGD", "only 3 tensors"});
  expect_error([&] { (void)shaped(R"({"iteration": 1, "sgd": 18446744073709551615, "adam_steps": []})"); },
               {"ck.safetensors", "sgd: expected a non-negative integer"});
  expect_error([&] { (void)shaped(R"({"iteration": -3, "sgd": 1, "adam_steps": []})"); }, "iteration");
  expect_error([&] { (void)shaped(R"({"iteration": 1, "sgd": 1, "adam_steps": [1, 2, 3, 4]})"); }, "only 3 tensors");
  expect_error([&] { (void)shaped(R"({"iteration": 1, "sgd": 1, "adam_steps": [-1]})"); }, "adam step");
  expect_error([&] { (void)shaped(R"({"iteration": 1, "sgd": 1, "adam_steps": 4})"); }, "adam_steps");
  expect_error([&] { (void)shaped(R"([1, 2])"); }, {"ck.safetensors", "missing fields", "an array of 2"});
  // An optimiser tensor declaring more elements than its bytes: refused before it is allocated.
  auto g = tensors(3);
  g.tensors["optim.sgd.0.momentum_buffer"] = {"F32", {1000000000000, 1000000}, std::string(4, '\0')};
  expect_error(
      [&] {
        (void)train::StageState::shaped_like(nlohmann::json::parse(R"({"iteration": 1, "sgd": 1, "adam_steps": []})"),
                                             g, "optim.", "ck.safetensors");
      },
      {"ck.safetensors", "optim.sgd.0.momentum_buffer", "4 bytes present"});
  const auto st = shaped(R"({"iteration": 2, "sgd": 2, "adam_steps": [5]})");
  EXPECT_EQ(st.iteration, 2);
  EXPECT_EQ(st.sgd.size(), 2u);
  ASSERT_EQ(st.adam.size(), 1u);
  EXPECT_EQ(st.adam[0].step, 5);
}

TEST(HostileFiles, CheckpointMetadataNestedDeeplyIsRefused) {
  TempDir dir;
  const auto file = dir / "ck.safetensors";
  labor::Tensor<float, labor::cpu> w(labor::Shape{1});
  labor::io::write_safetensors(file, {{"model.w", w.view()}}, {{"labor", R"({"stage": )" + nested() + "}"}});
  const auto f = labor::io::read_safetensors(file);
  expect_error([&] { (void)train::detail::checkpoint_meta(f, file); }, {file.string(), "metadata", "nested deeper"});
}

// ------------------------------------------------------------------ a LaborRun over hostile checkpoints

using Backbone = labor::models::SmallBackbone<float>;
using Head = labor::models::AsppHead<float>;
using Disc = labor::models::FcDiscriminator<float>;
using Trainer = train::LaborTrainer<Backbone, Head, Disc>;
using LRun = train::LaborRun<Backbone, Head, Disc>;

constexpr std::int64_t kClasses = labor::data::synthetic_num_classes;

train::RunOptions run_options() {
  train::RunOptions o;
  o.identity = {{"test", "hostile"}};
  o.num_classes = static_cast<std::int32_t>(kClasses);
  o.source_only = {.iterations = 2, .batch_size = 2, .sgd = {.lr = 0.01}, .lambda_adv = 0};
  o.labor.uda = {.iterations = 2, .batch_size = 2, .sgd = {.lr = 0.005}, .lambda_adv = 0.001};
  o.labor.selector = {.iterations = 2, .batch_size = 2, .sgd = {.lr = 0.005}};
  o.labor.adapt = {.iterations = 2, .batch_size = 2, .sgd = {.lr = 0.005}, .lambda_adv = 0.001};
  o.labor.loader_workers = 0;
  return o;
}

Head make_head(labor::Rng& rng) {
  return Head({.in_channels = 8, .num_classes = kClasses, .dilations = {1, 2}}, rng);
}

Trainer small_trainer(const train::RunOptions& o) {
  labor::Rng rng(42);
  Backbone b({.channels = {4, 8, 8, 8}}, rng);
  Head h = make_head(rng);
  Disc d({.num_classes = kClasses, .ndf = 4}, rng);
  return Trainer({std::move(b), std::move(h)}, std::move(d), make_head, o.labor);
}

const labor::data::SyntheticBenchmark& bench() {
  static const auto b = labor::data::make_synthetic_benchmark(
      {.height = 32, .width = 32, .source_images = 4, .target_pool = 2, .target_test = 2, .seed = 3});
  return b;
}

TEST(HostileFiles, APartialCheckpointWithHostileOptimiserStateIsRefused) {
  TempDir dir;
  const auto o = run_options();
  LRun run(dir / "run", o);
  Trainer t = small_trainer(o);
  for (const char* sgd : {"-1", "1e15", "1000000000000"}) {
    train::StateDict state;
    state.add(t.model(), "model.").add(t.discriminator(), "discriminator.");
    fs::create_directories(run.partial_checkpoint("source_only").parent_path());
    state.save(run.partial_checkpoint("source_only"),
               {{"labor_run", train::run_version},
                {"stage", "source_only"},
                {"config", run.source_only_fingerprint()},
                {"optimizer", nlohmann::json::parse(std::string(R"({"iteration": 1, "adam_steps": [], "sgd": )") +
                                                    sgd + "}")}});
    expect_error([&] { (void)run.source_only(t, bench().source, bench().target_pool); },
                 {run.partial_checkpoint("source_only").string(), "optimiser state"});
  }
}

TEST(HostileFiles, AStageThatFailsBeforeItsFirstSaveLeavesNoFolders) {
  TempDir dir;
  const auto o = run_options();
  LRun run(dir / "run", o);
  Trainer t = small_trainer(o);
  EXPECT_THROW((void)run.segmenter_stage(
                   "source_only", run.source_only_fingerprint(), t, 2,
                   [](Trainer&, const train::StageState*) { labor::fail("png 'x.png': corrupt image data"); },
                   [](Trainer&) { return nlohmann::json(nullptr); }),
               labor::Error);
  EXPECT_FALSE(fs::exists(dir / "run")) << "the failed stage made folders in the run folder";
  (void)run.source_only(t, bench().source, bench().target_pool);
  EXPECT_TRUE(fs::exists(run.checkpoint("source_only")));
}

// ------------------------------------------------------------------ temporaries of crashed writers

std::vector<std::string> temporaries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& p : files_in(dir))
    if (p.filename().string().find(".tmp-") != std::string::npos) out.push_back(p.filename().string());
  return out;
}

/// Forks a writer of `target` that dies (no destructor, no commit) with its temporary half-written.
void crash_while_writing(const fs::path& target) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    labor::io::AtomicFile f(target, "checkpoint");
    f.write("half", 4);
    std::fflush(f.get());
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
}

TEST(HostileFiles, ACrashedWritersTemporaryIsRemovedByTheNextProcessesWrite) {
  TempDir dir;
  const auto target = dir / "stage.safetensors";
  crash_while_writing(target);
  ASSERT_EQ(temporaries(dir.path()).size(), 1u) << "the crashed writer should have left its temporary";
  // Names that are not a writer's temporary, and the temporary of a live process, stay.
  write_file(dir / "notes.tmp-abc", "keep");
  write_file(dir / "other.tmp-1-x", "keep");
  const auto live = (dir / "other.safetensors").string() + ".tmp-" + std::to_string(::getppid()) + "-0";
  write_file(live, "keep");
  labor::io::atomic_write(target, "checkpoint", "new");
  EXPECT_EQ(read_file(target), "new");
  const auto left = temporaries(dir.path());
  EXPECT_EQ(left, (std::vector<std::string>{"notes.tmp-abc", "other.safetensors.tmp-" + std::to_string(::getppid()) +
                                                                  "-0", "other.tmp-1-x"}));
}

TEST(HostileFiles, StaleTemporariesAreFoundByName) {
  EXPECT_EQ(labor::io::detail::temporary_pid("a.safetensors.tmp-123-4"), 123);
  EXPECT_EQ(labor::io::detail::temporary_pid("queries.json.tmp-7-0"), 7);
  EXPECT_EQ(labor::io::detail::temporary_pid("a.tmp-123"), -1);
  EXPECT_EQ(labor::io::detail::temporary_pid("a.tmp-123-"), -1);
  EXPECT_EQ(labor::io::detail::temporary_pid("a.tmp--3-1"), -1);
  EXPECT_EQ(labor::io::detail::temporary_pid(".tmp-3-1"), -1);
  EXPECT_EQ(labor::io::detail::temporary_pid("a.tmp-3-1x"), -1);
  TempDir dir;
  crash_while_writing(dir / "a.json");
  crash_while_writing(dir / "b.json");  // its writer removed a.json's temporary before it died
  ASSERT_EQ(temporaries(dir.path()).size(), 1u);
  EXPECT_EQ(temporaries(dir.path())[0].rfind("b.json.tmp-", 0), 0u);
  EXPECT_EQ(labor::io::remove_stale_temporaries(dir.path()), 1u);
  EXPECT_TRUE(temporaries(dir.path()).empty());
  // The temporary of this process's own writer, still open, is never touched.
  labor::io::AtomicFile open_writer(dir / "c.json", "json");
  EXPECT_EQ(labor::io::remove_stale_temporaries(dir.path()), 0u);
  EXPECT_TRUE(fs::exists(open_writer.temp_path()));
}

// ------------------------------------------------------------------ the reproducers

TEST(HostileFiles, RegressionReproducersAreRefusedWithTheFileNamed) {
  // Every reproducer of these readers (also those the fuzz harnesses replay) is an error here.
  TempDir dir;
  for (const auto& file : files_in(regressions("queries"))) {
    fs::copy_file(file, dir / "queries.json", fs::copy_options::overwrite_existing);
    expect_error([&] { (void)an::load_queries(dir.path(), 3); }, "queries.json");
  }
  fs::remove(dir / "queries.json");
  for (const auto& file : files_in(regressions("answers"))) {
    fs::copy_file(file, dir / "answers.json", fs::copy_options::overwrite_existing);
    expect_error([&] { (void)an::import_answers(dir.path(), small_query(), 3); }, "answers.json");
  }
  for (const auto& file : files_in(regressions("label_store")))
    expect_error([&] { (void)an::LabelStore::read(file); }, file.string().c_str());
  for (const auto& file : files_in(regressions("checkpoint")))
    expect_error(
        [&] {
          const auto f = labor::io::read_safetensors(file);
          const auto meta = train::detail::checkpoint_meta(f, file);
          LABOR_CHECK(meta.contains("optimizer"), "{}: no optimizer entry", file.string());
          (void)train::StageState::shaped_like(meta["optimizer"], f, "optim.", file.string());
        },
        file.string().c_str());
  for (const char* kind : {"queries", "answers", "label_store", "checkpoint"})
    EXPECT_GE(files_in(regressions(kind)).size(), 2u) << kind;
}

}  // namespace
