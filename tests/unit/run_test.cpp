// LaborRun: the resumable round-based schedule over a run folder, on a tiny model and benchmark.

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <labor/annotate.hpp>
#include <labor/data.hpp>
#include <labor/models.hpp>
#include <labor/samplers.hpp>
#include <labor/train.hpp>

#include "support/errors.hpp"

namespace {

namespace fs = std::filesystem;
using labor::Rng;
namespace models = labor::models;
namespace train = labor::train;
using Backbone = models::SmallBackbone<float>;
using Head = models::AsppHead<float>;
using Disc = models::FcDiscriminator<float>;
using Trainer = train::LaborTrainer<Backbone, Head, Disc>;
using LRun = train::LaborRun<Backbone, Head, Disc>;

constexpr std::int64_t kClasses = labor::data::synthetic_num_classes;

const labor::data::SyntheticBenchmark& bench() {
  static const auto b = labor::data::make_synthetic_benchmark(
      {.height = 32, .width = 64, .source_images = 16, .target_pool = 6, .target_test = 4, .seed = 3});
  return b;
}

train::RunOptions options() {
  train::RunOptions o;
  o.identity = {{"test", "run"}};
  o.num_classes = static_cast<std::int32_t>(kClasses);
  o.source_only = {.iterations = 4, .batch_size = 2, .sgd = {.lr = 0.01}, .lambda_adv = 0};
  o.labor.uda = {.iterations = 4, .batch_size = 2, .sgd = {.lr = 0.005}, .lambda_adv = 0.001};
  o.labor.selector = {.iterations = 4, .batch_size = 2, .sgd = {.lr = 0.005}};
  o.labor.adapt = {.iterations = 4, .batch_size = 2, .sgd = {.lr = 0.005}, .lambda_adv = 0.001};
  o.labor.eval_batch = 4;
  o.labor.loader_workers = 0;
  o.labor.seed = 11;
  return o;
}

Head make_head(Rng& rng) {
  return Head({.in_channels = 8, .num_classes = kClasses, .dilations = {1, 2}}, rng);
}

Trainer fresh_trainer(const train::RunOptions& o) {
  Rng rng(42);
  Backbone b({.channels = {4, 8, 8, 8}}, rng);
  Head h = make_head(rng);
  Disc d({.num_classes = kClasses, .ndf = 4}, rng);
  return Trainer({std::move(b), std::move(h)}, std::move(d), make_head, o.labor);
}

/// Every parameter and buffer of model A and D, by name.
std::map<std::string, std::vector<float>> weights_of(Trainer& t) {
  std::map<std::string, std::vector<float>> out;
  for (auto& [name, tensor] : labor::io::state_tensors(t.model(), "model."))
    out[name].assign(tensor->data(), tensor->data() + tensor->numel());
  for (auto& [name, tensor] : labor::io::state_tensors(t.discriminator(), "discriminator."))
    out[name].assign(tensor->data(), tensor->data() + tensor->numel());
  return out;
}

struct Crash : std::runtime_error {
  Crash() : std::runtime_error("crash") {}
};

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name) : path(fs::temp_directory_path() / ("labor_run_test_" + name)) {
    fs::remove_all(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

labor::annotate::SimulatedOracle oracle() {
  return {[](std::int64_t id) { return bench().target_pool.label(id); }, static_cast<std::int32_t>(kClasses)};
}

const labor::samplers::PplSampler kPpl{6};

/// The whole two-round schedule in one call, from a fresh trainer: the reference weights.
std::map<std::string, std::vector<float>> uninterrupted(const fs::path& dir) {
  const auto o = options();
  LRun run(dir, o);
  Trainer t = fresh_trainer(o);
  auto orc = oracle();
  run.run(t, bench().source, bench().target_pool, kPpl, {{"points", 6}}, orc, 2);
  return weights_of(t);
}

TEST(LaborRun, ResumingAtEveryStageBoundaryGivesBitIdenticalWeights) {
  TempDir a("boundary_a"), b("boundary_b");
  const auto reference = uninterrupted(a.path);
  // A "process" that dies when its k-th stage starts training; the next one resumes from the folder.
  int finished = 0;
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto o = options();
    int started = 0;
    o.hooks.begin = [&](std::string_view stage) {
      // Every process trains exactly one stage (the selector stage begins with its pseudo-labels).
      if (stage != "pseudo_labels" && ++started > 1) throw Crash();
    };
    LRun run(b.path, o);
    Trainer t = fresh_trainer(o);
    auto orc = oracle();
    try {
      run.run(t, bench().source, bench().target_pool, kPpl, {{"points", 6}}, orc, 2);
      EXPECT_EQ(weights_of(t), reference) << "after " << attempt << " restarts";
      finished = attempt;
      break;
    } catch (const Crash&) {
    }
  }
  // Eight stages train (source_only, uda, and per round the selector, the selection with its answers,
  // the adaptation): seven processes died, the eighth finished.
  EXPECT_EQ(finished, 7);
  for (const char* f :
       {"labels.lstore", "rounds/1/answers.lstore", "rounds/2/answers.lstore", "rounds/2/queries.json"}) {
    std::ifstream x(a.path / f, std::ios::binary), y(b.path / f, std::ios::binary);
    const std::string sx((std::istreambuf_iterator<char>(x)), {}), sy((std::istreambuf_iterator<char>(y)), {});
    EXPECT_FALSE(sx.empty()) << f;
    EXPECT_EQ(sx, sy) << f;
  }
}

TEST(LaborRun, ResumingMidStageGivesBitIdenticalWeights) {
  TempDir a("mid_a"), b("mid_b");
  const auto reference = uninterrupted(a.path);
  // The monitor names the selector stage "selector" in every round: the second one is round 2's.
  for (const std::string crash_in : {"uda", "selector_r2", "adapt_r1"}) {
    fs::remove_all(b.path);
    auto o = options();
    o.checkpoint_every = 2;
    bool crashed = false;
    {
      LRun run(b.path, o);
      Trainer t = fresh_trainer(o);
      int selectors = 0;
      t.set_monitor([&](const train::StepInfo& s) {
        if (s.iteration != 3) return;
        if (s.stage == "selector") ++selectors;
        if (s.stage == crash_in || (crash_in == "selector_r2" && s.stage == "selector" && selectors == 2))
          throw Crash();
      });
      auto orc = oracle();
      try {
        run.run(t, bench().source, bench().target_pool, kPpl, {{"points", 6}}, orc, 2);
      } catch (const Crash&) {
        crashed = true;
      }
      EXPECT_TRUE(crashed) << crash_in;
      EXPECT_TRUE(fs::exists(run.partial_checkpoint(crash_in))) << crash_in;
    }
    LRun run(b.path, o);
    Trainer t = fresh_trainer(o);
    auto orc = oracle();
    run.run(t, bench().source, bench().target_pool, kPpl, {{"points", 6}}, orc, 2);
    EXPECT_FALSE(fs::exists(run.partial_checkpoint(crash_in))) << crash_in;
    EXPECT_EQ(weights_of(t), reference) << "crash in " << crash_in;
  }
}

TEST(LaborRun, LaterRoundsSelectOnlyUnlabeledPixels) {
  TempDir d("rounds");
  LRun run(d.path, options());
  Trainer t = fresh_trainer(options());
  auto orc = oracle();
  run.run(t, bench().source, bench().target_pool, kPpl, {{"points", 6}}, orc, 2);
  const auto q1 = run.round_query(1), q2 = run.round_query(2);
  ASSERT_EQ(q1.images.size(), q2.images.size());
  std::int64_t selected = 0;
  for (std::size_t i = 0; i < q1.images.size(); ++i)
    for (auto p : q2.images[i].pixels) {
      ++selected;
      EXPECT_EQ(std::count(q1.images[i].pixels.begin(), q1.images[i].pixels.end(), p), 0) << "image " << i;
    }
  EXPECT_GT(selected, 0);
  EXPECT_EQ(run.labels_through(2).queried_pixels(), q1.selected_pixels() + q2.selected_pixels());
  const auto status = run.rounds_status();
  ASSERT_EQ(status.size(), 2u);
  EXPECT_TRUE(status[1].answered && status[1].adapted);
  EXPECT_EQ(status[0].answered_pixels, q1.selected_pixels());
}

TEST(LaborRun, AnswersAreCheckedAgainstTheRoundAndStoredOnce) {
  TempDir d("answers");
  const auto o = options();
  LRun run(d.path, o);
  Trainer t = fresh_trainer(o);
  run.source_only(t, bench().source, bench().target_pool);
  run.uda(t, bench().source, bench().target_pool);
  // Adapting before any answer, and a round 2 before round 1 is adapted, are refused.
  labor::testing::expect_error([&] { run.adapt(1, t, bench().source, bench().target_pool); }, "no answers");
  labor::testing::expect_error([&] { (void)run.selector(2, t, bench().target_pool); }, "round 1 is not adapted");
  auto sel = run.selector(1, t, bench().target_pool);
  const auto q = run.query(1, t, sel, bench().target_pool, kPpl, {{"points", 6}});
  std::vector<std::int64_t> ids(q.images.size());
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int64_t>(i);
  const auto answers = oracle().answer(q, ids);

  auto foreign = answers;
  foreign.images[0].image = 99;
  labor::testing::expect_error([&] { (void)run.answer(1, foreign); }, "image 99: not in the round");
  auto moved = answers;
  moved.images[0].pixels[0] = moved.images[0].pixels[0] == 0 ? 1 : 0;
  labor::testing::expect_error([&] { (void)run.answer(1, moved); }, "pixels: expected the");
  auto bad_label = answers;
  bad_label.images[0].labels[0] = static_cast<std::int32_t>(kClasses);
  labor::testing::expect_error([&] { (void)run.answer(1, bad_label); }, "label");
  EXPECT_FALSE(fs::exists(run.round_dir(1) / "answers.lstore"));  // nothing stored by a refused call

  EXPECT_TRUE(run.answer(1, answers).changed);
  EXPECT_FALSE(run.answer(1, answers).changed);  // the same answers again change nothing
  run.adapt(1, t, bench().source, bench().target_pool);
  auto relabeled = answers;
  relabeled.images[0].labels[0] = (relabeled.images[0].labels[0] + 1) % static_cast<std::int32_t>(kClasses);
  labor::testing::expect_error([&] { (void)run.answer(1, relabeled); }, "adapted already");
  EXPECT_FALSE(run.answer(1, answers).changed);
}

TEST(LaborRun, ACheckpointFromOtherSettingsIsRefused) {
  TempDir d("settings");
  {
    LRun run(d.path, options());
    Trainer t = fresh_trainer(options());
    run.source_only(t, bench().source, bench().target_pool);
  }
  auto other = options();
  other.source_only.iterations = 5;
  LRun run(d.path, other);
  Trainer t = fresh_trainer(other);
  labor::testing::expect_error([&] { run.source_only(t, bench().source, bench().target_pool); }, "other settings");
  labor::testing::expect_error([&] { run.check_stage("source_only", run.source_only_fingerprint()); },
                               "other settings");
  // Another identity (data, model, seed) changes every fingerprint.
  auto renamed = options();
  renamed.identity = {{"test", "another"}};
  EXPECT_NE(LRun(d.path, renamed).uda_fingerprint(), LRun(d.path, options()).uda_fingerprint());
  EXPECT_EQ(LRun(d.path, options()).uda_fingerprint(), LRun(d.path, options()).uda_fingerprint());
}

}  // namespace
