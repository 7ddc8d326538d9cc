// The LabOR trainer's stages on a tiny model and benchmark.

#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <labor/annotate.hpp>
#include <labor/data.hpp>
#include <labor/io/weights.hpp>
#include <labor/models.hpp>
#include <labor/samplers.hpp>
#include <labor/train.hpp>

#include "support/errors.hpp"

namespace {

using labor::Rng;
using labor::Shape;
using labor::Tensor;
namespace models = labor::models;
namespace train = labor::train;
using Backbone = models::SmallBackbone<float>;
using Head = models::AsppHead<float>;
using Disc = models::FcDiscriminator<float>;
using Trainer = train::LaborTrainer<Backbone, Head, Disc>;

constexpr std::int64_t kClasses = labor::data::synthetic_num_classes;

Head make_head(Rng& rng) {
  return Head({.in_channels = 8, .num_classes = kClasses, .dilations = {1, 2}}, rng);
}

Trainer tiny_trainer(train::LaborOptions o = {}) {
  Rng rng(42);
  Backbone b({.channels = {4, 8, 8, 8}}, rng);
  Head h = make_head(rng);
  Disc d({.num_classes = kClasses, .ndf = 4}, rng);
  o.eval_batch = 4;
  return Trainer({std::move(b), std::move(h)}, std::move(d), make_head, o);
}

const labor::data::SyntheticBenchmark& bench() {
  static const auto b = labor::data::make_synthetic_benchmark(
      {.height = 32, .width = 64, .source_images = 24, .target_pool = 8, .target_test = 8, .seed = 5});
  return b;
}

std::vector<float> grads_of(auto& layer) {
  std::vector<float> out;
  for (auto& [name, p] : labor::nn::named_parameters(layer))
    for (std::int64_t i = 0; i < p->grad.numel(); ++i) out.push_back(p->grad[i]);
  return out;
}

TEST(Trainer, DiscrepancyGradientNeverReachesTheSelectorBackbone) {
  Trainer t = tiny_trainer();
  const auto pseudo = train::all_labels(bench().target_pool);
  const std::vector<std::int64_t> idx = {0, 1, 2};
  const auto x = labor::data::batch_images(bench().target_pool, idx);
  const auto y = labor::data::batch_labels(bench().target_pool, idx);
  const labor::loss::CrossEntropyOptions ce{};
  std::vector<std::vector<float>> backbone, head1, head2;
  double dis_value = 0;
  for (double lambda : {0.0, 1.0, 2.0}) {
    Rng rng(7);
    Trainer::Selector sel(t.model().backbone, t.model().head, make_head(rng));
    sel.set_training(false);
    labor::nn::zero_grad(sel.backbone);
    labor::nn::zero_grad(sel.head1);
    labor::nn::zero_grad(sel.head2);
    t.selector_step(sel, x, y, lambda, ce, [&](double, double, double d) { dis_value = d; });
    backbone.push_back(grads_of(sel.backbone));
    head1.push_back(grads_of(sel.head1));
    head2.push_back(grads_of(sel.head2));
  }
  EXPECT_GT(dis_value, 0.0);
  // The backbone's gradient is the same whatever λ_dis: bit for bit.
  EXPECT_EQ(backbone[0], backbone[1]);
  EXPECT_EQ(backbone[0], backbone[2]);
  // The heads' gradients change with λ_dis, linearly: g(2) − g(1) = g(1) − g(0) = −d L_dis.
  EXPECT_NE(head1[0], head1[1]);
  EXPECT_NE(head2[0], head2[1]);
  double max_dev = 0, max_step = 0;
  for (std::size_t i = 0; i < head2[0].size(); ++i) {
    const double d1 = head2[1][i] - head2[0][i], d2 = head2[2][i] - head2[1][i];
    max_dev = std::max(max_dev, std::abs(d1 - d2));
    max_step = std::max(max_step, std::abs(d1));
  }
  EXPECT_GT(max_step, 0.0);
  EXPECT_LT(max_dev, 1e-3 * max_step);
}

TEST(Trainer, SourceTrainingLowersTheLossAndLearnsTheSource) {
  Trainer t = tiny_trainer();
  std::vector<double> losses;
  t.set_monitor([&](const train::StepInfo& s) {
    EXPECT_EQ(s.stage, "src");
    EXPECT_EQ(s.iterations, 60);
    losses.push_back(s.losses.at(0).second);
  });
  const auto before = t.evaluate(bench().source).miou();
  t.train_segmenter("src", bench().source, bench().target_pool, nullptr,
                    {.iterations = 60, .batch_size = 4, .sgd = {.lr = 0.02, .weight_decay = 0}, .lambda_adv = 0}, 1);
  ASSERT_EQ(losses.size(), 60u);
  const double first = (losses[0] + losses[1] + losses[2]) / 3, last = (losses[57] + losses[58] + losses[59]) / 3;
  EXPECT_LT(last, 0.6 * first);
  EXPECT_GT(t.evaluate(bench().source).miou(), before + 0.1);
}

TEST(Trainer, AdversarialStageTrainsTheDiscriminatorAndReportsItsLoss) {
  Trainer t = tiny_trainer();
  const auto d_before = grads_of(t.discriminator());
  std::vector<float> w_before;
  for (auto& [n, p] : labor::nn::named_parameters(t.discriminator()))
    for (std::int64_t i = 0; i < p->value.numel(); ++i) w_before.push_back(p->value[i]);
  std::set<std::string> names;
  t.set_monitor([&](const train::StepInfo& s) {
    for (const auto& [n, v] : s.losses) {
      names.insert(std::string(n));
      EXPECT_TRUE(std::isfinite(v));
    }
  });
  t.train_segmenter("uda", bench().source, bench().target_pool, nullptr,
                    {.iterations = 3, .batch_size = 2, .sgd = {.lr = 0.01}, .lambda_adv = 0.01}, 2);
  EXPECT_EQ(names, (std::set<std::string>{"src", "adv", "d"}));
  std::vector<float> w_after;
  for (auto& [n, p] : labor::nn::named_parameters(t.discriminator()))
    for (std::int64_t i = 0; i < p->value.numel(); ++i) w_after.push_back(p->value[i]);
  EXPECT_NE(w_before, w_after);
}

TEST(Trainer, SameSeedSameWeights) {
  const train::SegmenterStageOptions o{.iterations = 4, .batch_size = 2, .sgd = {.lr = 0.01}, .lambda_adv = 0.01};
  Trainer a = tiny_trainer(), b = tiny_trainer();
  a.train_segmenter("x", bench().source, bench().target_pool, nullptr, o, 9);
  b.train_segmenter("x", bench().source, bench().target_pool, nullptr, o, 9);
  const auto pa = labor::nn::named_parameters(a.model()), pb = labor::nn::named_parameters(b.model());
  for (std::size_t k = 0; k < pa.size(); ++k)
    for (std::int64_t i = 0; i < pa[k].second->value.numel(); ++i)
      ASSERT_EQ(pa[k].second->value[i], pb[k].second->value[i]) << pa[k].first;
}

TEST(Trainer, TargetLabelsOnlyUsedWhereLabeled) {
  // With every target label 255 and λ_adv = 0, the target batch contributes nothing: the result
  // equals training on the source alone with the same seed.
  const train::SegmenterStageOptions o{
      .iterations = 3, .batch_size = 2, .sgd = {.lr = 0.01}, .lambda_adv = 0, .augment = {}};
  train::TargetLabels none;
  for (std::int64_t i = 0; i < bench().target_pool.size(); ++i)
    none.push_back(Tensor<std::int32_t>::full(Shape{32, 64}, 255));
  Trainer a = tiny_trainer(), b = tiny_trainer();
  a.train_segmenter("x", bench().source, bench().target_pool, &none, o, 3);
  b.train_segmenter("x", bench().source, bench().target_pool, nullptr, o, 3);
  const auto pa = labor::nn::named_parameters(a.model()), pb = labor::nn::named_parameters(b.model());
  for (std::size_t k = 0; k < pa.size(); ++k)
    for (std::int64_t i = 0; i < pa[k].second->value.numel(); ++i)
      ASSERT_EQ(pa[k].second->value[i], pb[k].second->value[i]) << pa[k].first;
}

TEST(Trainer, PseudoLabelsSelectorAndSelectionIntoTheStore) {
  Trainer t = tiny_trainer();
  const auto& pool = bench().target_pool;
  const train::SelectorStageOptions so{.iterations = 3, .batch_size = 2, .sgd = {.lr = 0.01}, .lambda_dis = 1.0};
  const auto pseudo = t.pseudo_labels(pool, so);
  ASSERT_EQ(static_cast<std::int64_t>(pseudo.size()), pool.size());
  EXPECT_EQ(t.pseudo_label_thresholds().size(), static_cast<std::size_t>(kClasses));
  for (const auto& m : pseudo) {
    ASSERT_EQ(m.shape(), Shape({32, 64}));
    for (std::int64_t i = 0; i < m.numel(); ++i) ASSERT_TRUE(m[i] == 255 || (m[i] >= 0 && m[i] < kClasses));
  }
  auto sel = t.train_selector(pool, pseudo, so, 11);
  labor::annotate::SimulatedOracle oracle([&](std::int64_t id) { return pool.label(id); },
                                          static_cast<std::int32_t>(kClasses));
  labor::annotate::LabelStore store(static_cast<std::int32_t>(kClasses));
  const auto q = t.select(sel, pool, labor::samplers::PplSampler{5}, oracle, store);
  ASSERT_EQ(static_cast<std::int64_t>(q.images.size()), pool.size());
  EXPECT_EQ(q.strategy, "ppl");
  // The store holds exactly the queried pixels, each with its true label.
  EXPECT_EQ(store.queried_pixels(), q.selected_pixels());
  for (std::int64_t i = 0; i < pool.size(); ++i) {
    const auto dense = store.contains(i) ? store.dense(i) : Tensor<std::int32_t>::full(Shape{32, 64}, 255);
    std::set<std::int64_t> queried(q.images[static_cast<std::size_t>(i)].pixels.begin(),
                                   q.images[static_cast<std::size_t>(i)].pixels.end());
    for (std::int64_t p = 0; p < dense.numel(); ++p)
      ASSERT_EQ(dense[p], queried.count(p) ? pool.label(i)[p] : 255) << "image " << i << " pixel " << p;
  }
  const auto labels = train::dense_labels(store, pool.size(), 32, 64);
  ASSERT_EQ(static_cast<std::int64_t>(labels.size()), pool.size());
}

TEST(Trainer, LaterRoundsNeverSelectAStoredPixel) {
  Trainer t = tiny_trainer();
  const auto& pool = bench().target_pool;
  const train::SelectorStageOptions so{.iterations = 2, .batch_size = 2, .sgd = {.lr = 0.01}, .lambda_dis = 1.0};
  auto sel = t.train_selector(pool, train::all_labels(pool), so, 11);
  labor::annotate::SimulatedOracle oracle([&](std::int64_t id) { return pool.label(id); },
                                          static_cast<std::int32_t>(kClasses));
  const auto classes = static_cast<std::int32_t>(kClasses);
  auto pixels_of = [](const labor::samplers::Query& q, std::size_t i) { return q.images[i].pixels; };
  auto check = [&](const auto& sampler) {
    SCOPED_TRACE(std::string(sampler.name()));
    labor::annotate::LabelStore store(classes);
    const auto q1 = t.select(sel, pool, sampler, oracle, store);
    ASSERT_GT(q1.selected_pixels(), 0);
    // An empty store excludes nothing: the same selection as without the exclusion.
    labor::annotate::LabelStore empty(classes);
    const auto q0 = t.select(sel, pool, sampler, oracle, empty, false);
    for (std::size_t i = 0; i < q1.images.size(); ++i) EXPECT_EQ(pixels_of(q1, i), pixels_of(q0, i));
    // Round two with the store of round one: no stored pixel again, every answer new.
    const auto first = store;
    const auto q2 = t.select(sel, pool, sampler, oracle, store);
    EXPECT_GT(q2.selected_pixels(), 0);
    EXPECT_EQ(store.queried_pixels(), first.queried_pixels() + q2.selected_pixels());
    for (std::size_t i = 0; i < q2.images.size(); ++i) {
      const auto& stored = first.image(static_cast<std::int64_t>(i)).entries;
      for (auto px : q2.images[i].pixels)
        for (const auto& e : stored) ASSERT_NE(px, e.index) << "image " << i << " selected again";
    }
    // exclude_labeled = false selects round one's pixels again.
    auto again = first;
    const auto q3 = t.select(sel, pool, sampler, oracle, again, false);
    for (std::size_t i = 0; i < q3.images.size(); ++i) EXPECT_EQ(pixels_of(q3, i), pixels_of(q1, i));
    EXPECT_EQ(again.queried_pixels(), first.queried_pixels());
    // Ignore answers were paid for: a store holding round one's pixels as ignore answers excludes them too.
    labor::annotate::Answers ignored;
    for (std::size_t i = 0; i < q1.images.size(); ++i) {
      const auto& im = q1.images[i];
      ignored.images.push_back({static_cast<std::int64_t>(i), im.height, im.width, im.pixels,
                                std::vector<std::int32_t>(im.pixels.size(), labor::ignore_label)});
    }
    labor::annotate::LabelStore ignore_store(classes);
    ignore_store.merge(ignored);
    const auto q4 = t.select(sel, pool, sampler, oracle, ignore_store);
    for (std::size_t i = 0; i < q4.images.size(); ++i) EXPECT_EQ(pixels_of(q4, i), pixels_of(q2, i));
  };
  check(labor::samplers::EntropySampler{20});
  check(labor::samplers::PplSampler{5});
  check(labor::samplers::SplSampler{0.01});
}

// A store whose image has another size than the pool's is an error naming the image.
TEST(Trainer, SelectChecksTheStoredImageSize) {
  Trainer t = tiny_trainer();
  const auto& pool = bench().target_pool;
  auto sel =
      t.train_selector(pool, train::all_labels(pool), {.iterations = 1, .batch_size = 2, .sgd = {.lr = 0.01}}, 1);
  labor::annotate::SimulatedOracle oracle([&](std::int64_t id) { return pool.label(id); },
                                          static_cast<std::int32_t>(kClasses));
  labor::annotate::LabelStore store(static_cast<std::int32_t>(kClasses));
  store.merge({{{3, 16, 16, {5}, {1}}}});
  labor::testing::expect_error([&] { (void)t.select(sel, pool, labor::samplers::EntropySampler{4}, oracle, store); },
                               {"select", "image 3", "32x64", "16x16"});
}

TEST(Trainer, RunChainsTheScheduleForEveryRound) {
  train::LaborOptions o;
  o.uda.iterations = 2;
  o.uda.batch_size = 2;
  o.selector.iterations = 2;
  o.selector.batch_size = 2;
  o.adapt.iterations = 2;
  o.adapt.batch_size = 2;
  o.rounds = 2;
  Trainer t = tiny_trainer(o);
  std::vector<std::string> stages;
  t.set_monitor([&](const train::StepInfo& s) {
    if (stages.empty() || stages.back() != s.stage) stages.emplace_back(s.stage);
  });
  const auto& pool = bench().target_pool;
  labor::annotate::SimulatedOracle oracle([&](std::int64_t id) { return pool.label(id); },
                                          static_cast<std::int32_t>(kClasses));
  labor::annotate::LabelStore store(static_cast<std::int32_t>(kClasses));
  t.run(bench().source, pool, labor::samplers::RandomSampler{3, 1}, oracle, store);
  EXPECT_EQ(stages, (std::vector<std::string>{"uda", "selector", "adapt", "selector", "adapt"}));
  // Two rounds of 3 random pixels per image, the second among the pixels the first left: 6 distinct
  // pixels each, all true labels.
  EXPECT_EQ(store.num_images(), pool.size());
  for (std::int64_t i = 0; i < pool.size(); ++i) {
    EXPECT_EQ(store.queried_pixels(i), 6);
    for (const auto& e : store.image(i).entries) EXPECT_EQ(e.label, pool.label(i)[e.index]);
  }
  EXPECT_TRUE(std::isfinite(t.evaluate(bench().target_test).miou()));
}

TEST(Trainer, Errors) {
  train::LaborOptions bad;
  bad.rounds = 0;
  labor::testing::expect_error([&] { tiny_trainer(bad); }, "rounds");
  train::SegmenterStageOptions zero;
  zero.iterations = 0;
  train::SegmenterStageOptions one;
  one.iterations = 1;
  Trainer t = tiny_trainer();
  labor::testing::expect_error([&] { t.train_segmenter("x", bench().source, bench().target_pool, nullptr, zero, 1); },
                               {"iterations", "> 0"});
  train::TargetLabels wrong(3);
  labor::testing::expect_error([&] { t.train_segmenter("x", bench().source, bench().target_pool, &wrong, one, 1); },
                               {"target_labels", "8"});
  labor::testing::expect_error([&] { (void)t.train_selector(bench().target_pool, wrong, {}, 1); },
                               {"pseudo labels", "8"});
}

}  // namespace

namespace {

// Every parameter and buffer (running statistics) of a model.
std::vector<float> values_of(auto& model) {
  std::vector<float> out;
  for (auto& [name, t] : labor::io::state_tensors(model))
    for (std::int64_t i = 0; i < t->numel(); ++i) out.push_back((*t)[i]);
  return out;
}

}  // namespace

TEST(Trainer, ResumedSegmenterStageEqualsAnUninterruptedOne) {
  // Adaptation with target labels and the discriminator: SGD momentum, Adam moments and both
  // loaders must all continue where they were.
  const train::SegmenterStageOptions o{.iterations = 7,
                                       .batch_size = 2,
                                       .sgd = {.lr = 0.01},
                                       .lambda_adv = 0.01,
                                       .augment = {.crop_height = 32, .crop_width = 48, .flip = true}};
  const auto labels = train::all_labels(bench().target_pool);
  Trainer straight = tiny_trainer();
  straight.train_segmenter("adapt", bench().source, bench().target_pool, &labels, o, 3);

  Trainer interrupted = tiny_trainer();
  std::optional<Trainer> snapshot;
  train::StageState state;
  std::vector<std::int64_t> reported;
  interrupted.set_checkpoint_hook(
      [&](std::string_view stage, const train::StageState& st, Trainer::Selector* sel) {
        EXPECT_EQ(stage, "adapt");
        EXPECT_EQ(sel, nullptr);
        reported.push_back(st.iteration);
        if (st.iteration == 3) {
          snapshot = interrupted;  // the weights at iteration 3
          state = st;
        }
      },
      3);
  interrupted.train_segmenter("adapt", bench().source, bench().target_pool, &labels, o, 3);
  EXPECT_EQ(reported, (std::vector<std::int64_t>{3, 6}));  // not after the last iteration
  ASSERT_TRUE(snapshot.has_value());
  ASSERT_FALSE(state.adam.empty());

  Trainer resumed = *snapshot;
  resumed.set_checkpoint_hook({}, 0);
  resumed.train_segmenter("adapt", bench().source, bench().target_pool, &labels, o, 3, &state);
  EXPECT_EQ(values_of(resumed.model()), values_of(straight.model()));
  EXPECT_EQ(values_of(resumed.discriminator()), values_of(straight.discriminator()));
  // Without the optimiser state the continuation differs (the check above can fail).
  Trainer fresh_optimisers = *snapshot;
  train::StageState no_momentum{.iteration = 3, .sgd = {}, .adam = {}};
  no_momentum.sgd.resize(state.sgd.size());
  fresh_optimisers.train_segmenter("adapt", bench().source, bench().target_pool, &labels, o, 3, &no_momentum);
  EXPECT_NE(values_of(fresh_optimisers.model()), values_of(straight.model()));
  // A state from another point of the schedule is an error naming it.
  train::StageState bad = state;
  bad.iteration = 7;
  Trainer t = *snapshot;
  EXPECT_THROW(t.train_segmenter("adapt", bench().source, bench().target_pool, &labels, o, 3, &bad), labor::Error);
}

TEST(Trainer, ResumedSelectorStageEqualsAnUninterruptedOne) {
  const train::SelectorStageOptions o{
      .iterations = 5, .batch_size = 2, .sgd = {.lr = 0.01}, .lambda_dis = 1.0, .lambda_weight = 1.0};
  const auto pseudo = train::all_labels(bench().target_pool);
  Trainer t = tiny_trainer();
  const Trainer::Selector straight = t.train_selector(bench().target_pool, pseudo, o, 4);

  std::optional<Trainer::Selector> snapshot;
  train::StageState state;
  t.set_checkpoint_hook(
      [&](std::string_view stage, const train::StageState& st, Trainer::Selector* sel) {
        EXPECT_EQ(stage, "selector");
        ASSERT_NE(sel, nullptr);
        if (st.iteration == 2) {
          snapshot = *sel;
          state = st;
        }
      },
      2);
  (void)t.train_selector(bench().target_pool, pseudo, o, 4);
  ASSERT_TRUE(snapshot.has_value());
  t.set_checkpoint_hook({}, 0);
  Trainer::Selector resumed = *snapshot;
  t.train_selector_steps(resumed, bench().target_pool, pseudo, o, 4, &state);
  auto s = straight;
  EXPECT_EQ(values_of(resumed), values_of(s));
}
