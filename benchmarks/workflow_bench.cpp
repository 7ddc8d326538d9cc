// A labeling round of the `labor` workflow at the size of real footage: 500 target pool images of
// 512×1024 with the `small` model (labor_train's preset network). Three figures of one run:
//   BM_SelectorIteration: one iteration of the round's selector training (batch 4), the peer;
//   BM_QueryRound:        LaborRun::query — both heads on every pool image, PPL with 40 points per
//                         image, queries.json, masks, the annotator's pictures and answers template;
//   BM_AnswerImport:      `labor answer` on those 500 × 40 points — answers.json parsed, checked
//                         against the round, merged and stored;
//   BM_SelectorForward:   the network part of the selection alone (both heads' probabilities of every
//                         pool image, batches of 8), so QueryRound − SelectorForward is what the
//                         sampler and the files cost.
// The selector trains for the preset's iterations (quick 100, default 300); the target is
// QueryRound < 10 % of that many SelectorIterations, and AnswerImport < 1 s.
//
//   labor_bench_workflow --benchmark_format=json [--benchmark_min_time=...]

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <labor/annotate.hpp>
#include <labor/data.hpp>
#include <labor/io/json.hpp>
#include <labor/models.hpp>
#include <labor/samplers.hpp>
#include <labor/train.hpp>

namespace {

namespace fs = std::filesystem;
using Backbone = labor::models::SmallBackbone<float>;
using Head = labor::models::AsppHead<float>;
using Disc = labor::models::FcDiscriminator<float>;
using Trainer = labor::train::LaborTrainer<Backbone, Head, Disc>;
using Run = labor::train::LaborRun<Backbone, Head, Disc>;

constexpr std::int64_t kPool = 500, kHeight = 512, kWidth = 1024, kPoints = 40;
constexpr int kClasses = labor::data::synthetic_num_classes;

const labor::data::InMemoryDataset& pool() {
  static const auto p = labor::data::make_synthetic_split(
      {.height = kHeight, .width = kWidth, .source_images = 1, .target_pool = kPool, .target_test = 1},
      labor::data::Domain::target, 0, kPool);
  return p;
}

/// Channels of the presets' SmallBackbone output.
std::int64_t features() {
  static const std::int64_t f = [] {
    labor::Rng rng(0);
    return Backbone({}, rng).out_channels();
  }();
  return f;
}

Head make_head(labor::Rng& rng) {
  return Head({.in_channels = features(), .num_classes = kClasses, .dilations = {1, 2, 4, 6}}, rng);
}

Trainer make_trainer() {
  labor::Rng rng(1);
  Backbone b({}, rng);  // the presets' SmallBackbone
  Head h = make_head(rng);
  Disc d({.num_classes = kClasses, .ndf = 16}, rng);
  labor::train::LaborOptions o;
  o.selector = {.iterations = 1000000, .batch_size = 4, .sgd = {.lr = 0.005, .weight_decay = 1e-4}};
  return Trainer({std::move(b), std::move(h)}, std::move(d), make_head, o);
}

labor::train::RunOptions run_options() {
  labor::train::RunOptions o;
  o.num_classes = kClasses;
  o.identity = {{"benchmark", "workflow"}};
  return o;
}

fs::path bench_dir(const std::string& name) {
  const auto d = fs::temp_directory_path() / ("labor_bench_workflow_" + name);
  fs::remove_all(d);
  return d;
}

void BM_SelectorIteration(benchmark::State& state) {
  (void)pool();  // made once, before any timing
  Trainer t = make_trainer();
  labor::Rng rng(2);
  Trainer::Selector sel(t.model().backbone, t.model().head, make_head(rng));
  const auto labels = labor::train::all_labels(pool());
  auto o = t.options().selector;
  // Several selector iterations per call, so the loader's start and the first allocations (once per
  // stage in a real round) are spread out; the time reported is per selector iteration.
  constexpr std::int64_t steps = 6;
  o.iterations = steps;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    t.train_selector_steps(sel, pool(), labels, o, 3);
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                           static_cast<double>(steps));
  }
  state.counters["images_per_iteration"] = static_cast<double>(o.batch_size);
}

void BM_QueryRound(benchmark::State& state) {
  (void)pool();
  Trainer t = make_trainer();
  labor::Rng rng(2);
  Trainer::Selector sel(t.model().backbone, t.model().head, make_head(rng));
  std::int64_t selected = 0;
  for (auto _ : state) {
    const auto dir = bench_dir("query");
    Run run(dir, run_options());
    const auto q = run.query(1, t, sel, pool(), labor::samplers::PplSampler{kPoints}, {{"points", kPoints}});
    selected = q.selected_pixels();
    const auto meta = labor::io::read_json(dir / "rounds" / "1" / "round.json");
    state.counters["selection_seconds"] = meta.at("seconds").get<double>();
    state.counters["pictures_seconds"] = meta.at("pictures_seconds").get<double>();
  }
  state.counters["selected_pixels"] = static_cast<double>(selected);
}

void BM_AnswerImport(benchmark::State& state) {
  // A round of 500 × 40 points, selected once; the answers file as `labor answer` reads it.
  const auto dir = bench_dir("answer");
  Trainer t = make_trainer();
  labor::Rng rng(2);
  Trainer::Selector sel(t.model().backbone, t.model().head, make_head(rng));
  auto options = run_options();
  options.pictures = false;
  Run(dir, options).query(1, t, sel, pool(), labor::samplers::RandomSampler{kPoints, 1}, {{"points", kPoints}});
  const auto q = Run(dir, options).round_query(1);
  std::vector<std::int64_t> ids(q.images.size());
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int64_t>(i);
  labor::annotate::SimulatedOracle oracle([](std::int64_t i) { return pool().label(i); }, kClasses);
  const auto answers = oracle.answer(q, ids);
  nlohmann::json doc = {{"round", 1}, {"images", nlohmann::json::array()}};
  for (const auto& a : answers.images) {
    nlohmann::json pixels = nlohmann::json::array();
    for (auto p : a.pixels) pixels.push_back({p / a.width, p % a.width});
    doc["images"].push_back({{"index", a.image}, {"pixels", pixels}, {"labels", a.labels}});
  }
  const auto file = dir / "answers.json";
  labor::io::atomic_write(file, "json", doc.dump());
  for (auto _ : state) {
    fs::remove(dir / "rounds" / "1" / "answers.lstore");
    fs::remove(dir / "labels.lstore");
    Run run(dir, options);
    const auto round = run.round_query(1);
    const auto j = labor::io::read_json(file);
    const auto parsed = labor::annotate::answers_from_json(j, file.string(), round, ids, kClasses);
    const auto s = run.answer(1, parsed);
    benchmark::DoNotOptimize(s.pixels);
  }
  state.counters["answered_pixels"] = static_cast<double>(answers.size());
}

void BM_SelectorForward(benchmark::State& state) {
  (void)pool();
  Trainer t = make_trainer();
  labor::Rng rng(2);
  Trainer::Selector sel(t.model().backbone, t.model().head, make_head(rng));
  for (auto _ : state) {
    for (std::int64_t i = 0; i < kPool; i += 8) {
      std::vector<std::int64_t> idx;
      for (std::int64_t k = i; k < std::min(kPool, i + 8); ++k) idx.push_back(k);
      const auto [p1, p2] = t.selector_probabilities(sel, labor::data::batch_images(pool(), idx));
      benchmark::DoNotOptimize(p1.data());
      benchmark::DoNotOptimize(p2.data());
    }
  }
}

}  // namespace

BENCHMARK(BM_SelectorForward)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(BM_SelectorIteration)->Unit(benchmark::kMillisecond)->UseManualTime()->Iterations(2);
BENCHMARK(BM_QueryRound)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(BM_AnswerImport)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
