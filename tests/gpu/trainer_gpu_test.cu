// The LabOR trainer on the GPU against the same trainer on the CPU: a tiny model and benchmark,
// the same initial weights (the Philox fills are identical on both devices), the stages run on
// both, and their results compared — weights after a few UDA iterations, pseudo-label
// thresholds, the selector, a selection and the evaluation. Label `gpu`; skipped without a device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include <labor/labor.hpp>

#include "support/device_parity.hpp"

namespace {

using labor::cpu;
using labor::cuda;
using labor::Device;
using labor::Rng;
namespace models = labor::models;
namespace train = labor::train;

constexpr std::int64_t kClasses = labor::data::synthetic_num_classes;

template <Device D>
struct Tiny {
  using Backbone = models::SmallBackbone<float, D>;
  using Head = models::AsppHead<float, D>;
  using Disc = models::FcDiscriminator<float, D>;
  using Trainer = train::LaborTrainer<Backbone, Head, Disc>;

  static Head make_head(Rng& rng) {
    return Head({.in_channels = 8, .num_classes = kClasses, .dilations = {1, 2}}, rng);
  }
  static Trainer make(train::LaborOptions o) {
    Rng rng(42);
    Backbone b({.channels = {4, 8, 8, 8}}, rng);
    Head h = make_head(rng);
    Disc d({.num_classes = kClasses, .ndf = 4}, rng);
    o.eval_batch = 4;
    o.loader_workers = 0;
    return Trainer({std::move(b), std::move(h)}, std::move(d), make_head, o);
  }
};

const labor::data::SyntheticBenchmark& bench() {
  static const auto b = labor::data::make_synthetic_benchmark(
      {.height = 32, .width = 64, .source_images = 16, .target_pool = 8, .target_test = 8, .seed = 5});
  return b;
}

train::LaborOptions options() {
  train::LaborOptions o;
  o.uda = {.iterations = 3, .batch_size = 2, .sgd = {.lr = 0.01}, .lambda_adv = 0.01};
  o.selector.iterations = 2;
  o.selector.batch_size = 2;
  return o;
}

/// Every state tensor of `model` on the host, in visiting order.
template <class M>
std::vector<labor::Tensor<float>> host_state(M& model) {
  std::vector<labor::Tensor<float>> out;
  for (auto& [name, t] : labor::io::state_tensors(model)) out.push_back(labor::testing::host(*t));
  return out;
}

template <class A, class B>
void expect_same_state(A& cpu_model, B& gpu_model, double tol, const char* what) {
  const auto a = host_state(cpu_model), b = host_state(gpu_model);
  ASSERT_EQ(a.size(), b.size()) << what;
  for (std::size_t i = 0; i < a.size(); ++i) labor::testing::expect_close(a[i], b[i], tol, what);
}

TEST(TrainerGpu, StagesMatchCpu) {
  LABOR_REQUIRE_GPU();
  const auto& data = bench();
  auto c = Tiny<cpu>::make(options());
  auto g = Tiny<cuda>::make(options());
  expect_same_state(c.model(), g.model(), 1e-6, "initial weights");  // same Philox stream on both devices

  // UDA with the discriminator: three iterations, float rounding differs only in summation order.
  c.train_segmenter("uda", data.source, data.target_pool, nullptr, options().uda, 3);
  g.train_segmenter("uda", data.source, data.target_pool, nullptr, options().uda, 3);
  expect_same_state(c.model(), g.model(), 1e-4, "model after UDA");
  expect_same_state(c.discriminator(), g.discriminator(), 1e-4, "discriminator after UDA");

  // Pseudo-labels: the same thresholds, and nearly every label the same.
  const auto pc = c.pseudo_labels(data.target_pool, options().selector);
  const auto pg = g.pseudo_labels(data.target_pool, options().selector);
  ASSERT_EQ(pc.size(), pg.size());
  for (std::size_t k = 0; k < c.pseudo_label_thresholds().size(); ++k)
    EXPECT_NEAR(c.pseudo_label_thresholds()[k], g.pseudo_label_thresholds()[k], 1e-4) << "class " << k;
  std::int64_t differ = 0, total = 0;
  for (std::size_t i = 0; i < pc.size(); ++i)
    for (std::int64_t p = 0; p < pc[i].numel(); ++p, ++total) differ += pc[i][p] != pg[i][p];
  EXPECT_LE(differ, total / 1000) << differ << " of " << total << " pseudo-labels differ";

  // The selector from the CPU's pseudo-labels on both devices, then SPL through the simulated oracle.
  auto sc = c.train_selector(data.target_pool, pc, options().selector, 9);
  auto sg = g.train_selector(data.target_pool, pc, options().selector, 9);
  expect_same_state(sc, sg, 1e-4, "selector");
  labor::annotate::SimulatedOracle oracle([&](std::int64_t id) { return data.target_pool.label(id); },
                                          static_cast<std::int32_t>(kClasses));
  labor::annotate::LabelStore store_c(static_cast<std::int32_t>(kClasses)), store_g(static_cast<std::int32_t>(kClasses));
  const auto qc = c.select(sc, data.target_pool, labor::samplers::PplSampler{.points = 5}, oracle, store_c);
  const auto qg = g.select(sg, data.target_pool, labor::samplers::PplSampler{.points = 5}, oracle, store_g);
  ASSERT_EQ(qc.images.size(), qg.images.size());
  std::int64_t same = 0, points = 0;
  for (std::size_t i = 0; i < qc.images.size(); ++i) {
    points += static_cast<std::int64_t>(qc.images[i].pixels.size());
    for (auto px : qg.images[i].pixels)
      same += std::count(qc.images[i].pixels.begin(), qc.images[i].pixels.end(), px) > 0;
  }
  EXPECT_GE(same, points * 9 / 10) << "PPL points chosen on both devices";

  // Evaluation: the same confusion matrix up to a handful of pixels.
  const auto ec = c.evaluate(data.target_test), eg = g.evaluate(data.target_test);
  EXPECT_EQ(ec.total(), eg.total());
  EXPECT_NEAR(ec.miou(), eg.miou(), 0.01);
}

}  // namespace
