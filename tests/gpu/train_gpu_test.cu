// CPU/GPU parity of the LabOR trainer on a tiny model: the same weights on both devices (moved
// through save_weights / load_weights, so the device's host mirrors are exercised too), two
// iterations of the adaptation stage's segmenter_step on the same batches, then the loss values,
// every gradient, parameter and buffer, and the evaluation logits agree within float tolerance.
// Label `gpu`; skipped without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <labor/labor.hpp>

#include "support/device_parity.hpp"

namespace {

using labor::cpu;
using labor::cuda;
using labor::Device;
using labor::Rng;
using labor::Tensor;
using labor::testing::expect_close;
using labor::testing::expect_close_relative;
using labor::testing::expect_equal;
using labor::testing::host;
using labor::testing::on;
using labor::testing::PoisonScope;
namespace io = labor::io;
namespace models = labor::models;
namespace train = labor::train;

constexpr std::int64_t kClasses = labor::data::synthetic_num_classes;

template <Device D>
using Backbone = models::SmallBackbone<float, D>;
template <Device D>
using Head = models::AsppHead<float, D>;
template <Device D>
using Disc = models::FcDiscriminator<float, D>;
template <Device D>
using Trainer = train::LaborTrainer<Backbone<D>, Head<D>, Disc<D>>;

template <Device D>
Head<D> make_head(Rng& rng) {
  return Head<D>({.in_channels = 8, .num_classes = kClasses, .dilations = {1, 2}}, rng);
}

/// A tiny trainer on device D (initialised from Rng(42); the GPU's initial weights are replaced by
/// the CPU's before a comparison).
template <Device D>
Trainer<D> tiny_trainer(train::LaborOptions o = {}) {
  Rng rng(42);
  Backbone<D> b({.channels = {4, 8, 8, 8}}, rng);
  Head<D> h = make_head<D>(rng);
  Disc<D> d({.num_classes = kClasses, .ndf = 4}, rng);
  return Trainer<D>({std::move(b), std::move(h)}, std::move(d), make_head<D>, o);
}

const labor::data::SyntheticBenchmark& bench() {
  static const auto b = labor::data::make_synthetic_benchmark(
      {.height = 32, .width = 64, .source_images = 4, .target_pool = 4, .target_test = 2, .seed = 5});
  return b;
}

/// A file in the test's temporary directory.
std::filesystem::path temp_file(const std::string& name) {
  return std::filesystem::path(::testing::TempDir()) / ("labor_train_gpu_" + name + ".safetensors");
}

/// Host copies of the parameters and buffers of a layer (io::state_tensors), in visiting order.
template <class L>
std::vector<std::pair<std::string, Tensor<float>>> host_state(L& layer) {
  std::vector<std::pair<std::string, Tensor<float>>> out;
  for (auto& [name, t] : io::state_tensors(layer)) out.emplace_back(name, host(*t));
  return out;
}

/// Host copies of the gradients of a layer's parameters, in visiting order.
template <class L>
std::vector<std::pair<std::string, Tensor<float>>> host_grads(L& layer) {
  std::vector<std::pair<std::string, Tensor<float>>> out;
  for (auto& [name, p] : labor::nn::named_parameters(layer)) out.emplace_back(name, host(p->grad));
  return out;
}

/// Copies the model and discriminator weights of `from` into `to` through weight files.
template <Device From, Device To>
void copy_weights(Trainer<From>& from, Trainer<To>& to, const std::string& tag) {
  const auto model_file = temp_file(tag + "_model"), disc_file = temp_file(tag + "_disc");
  io::save_weights(from.model(), model_file);
  io::save_weights(from.discriminator(), disc_file);
  io::load_weights(to.model(), model_file);
  io::load_weights(to.discriminator(), disc_file);
  std::filesystem::remove(model_file);
  std::filesystem::remove(disc_file);
}

/// What a run reports: the loss values of each step, then gradients, state and evaluation logits.
struct StepOut {
  std::vector<std::pair<std::string, double>> losses;
  std::vector<std::pair<std::string, Tensor<float>>> model_grads, disc_grads, model_state, disc_state;
  Tensor<float> logits;
};

/// Two adaptation iterations (L_src, L_tgt, L_adv and D's step) of `t` on fixed batches, then the
/// logits of the target batch in evaluation mode; also checks predict() against those logits.
template <Device D>
StepOut run_steps(Trainer<D>& t) {
  const std::vector<std::int64_t> src = {0, 1}, tgt = {2, 3};
  const auto& norm = t.options().normalization;
  const auto xs = on<D>(labor::data::batch_images(bench().source, src, norm));
  const auto ys = on<D>(labor::data::batch_labels(bench().source, src));
  const auto xt = on<D>(labor::data::batch_images(bench().target_pool, tgt, norm));
  const auto yt = on<D>(labor::data::batch_labels(bench().target_pool, tgt));
  train::SegmenterStageOptions o;
  o.iterations = 10;
  o.lambda_adv = 0.5;  // large enough for the adversarial gradient to matter
  o.sgd.lr = 1e-2;
  auto opt = t.segmenter_optimizers(o);
  t.model().set_training(true);
  t.discriminator().set_training(true);
  StepOut out;
  for (std::int64_t it = 0; it < 2; ++it) {
    train::StepInfo info;
    t.segmenter_step(opt, o, it, xs, ys, &xt, &yt, info);
    for (const auto& [name, value] : info.losses) out.losses.emplace_back(std::string(name), value);
  }
  out.model_grads = host_grads(t.model());
  out.disc_grads = host_grads(t.discriminator());
  out.model_state = host_state(t.model());
  out.disc_state = host_state(t.discriminator());
  t.model().set_training(false);
  const auto logits = t.logits(t.model(), xt, xt.size(2), xt.size(3));
  out.logits = host(logits);
  // predict() is the argmax of the same logits, on the device.
  expect_equal(labor::argmax_channels(out.logits), t.predict(xt), "predict");
  return out;
}

/// Expects two lists of named tensors to match; `relative`: compare each tensor relative to its
/// largest magnitude (gradients), else relative to max(1, largest magnitude).
void expect_named_close(const std::vector<std::pair<std::string, Tensor<float>>>& want,
                        const std::vector<std::pair<std::string, Tensor<float>>>& got, double tol, bool relative,
                        const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ(got[k].first, want[k].first) << what;
    if (relative)
      expect_close_relative(want[k].second, got[k].second, tol, what + " " + want[k].first);
    else
      expect_close(want[k].second, got[k].second, tol, what + " " + want[k].first);
  }
}

TEST(TrainGpu, SegmenterStepMatchesCpu) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  auto on_cpu = tiny_trainer<cpu>();
  auto on_gpu = tiny_trainer<cuda>();
  copy_weights(on_cpu, on_gpu, "start");
  // The weights arrived exactly.
  expect_named_close(host_state(on_cpu.model()), host_state(on_gpu.model()), 0.0, false, "initial model");
  expect_named_close(host_state(on_cpu.discriminator()), host_state(on_gpu.discriminator()), 0.0, false,
                     "initial discriminator");

  const auto want = run_steps(on_cpu);
  const auto got = run_steps(on_gpu);
  ASSERT_EQ(got.losses.size(), want.losses.size());
  ASSERT_EQ(want.losses.size(), 8u);  // src, tgt, adv, d per step
  for (std::size_t k = 0; k < want.losses.size(); ++k) {
    EXPECT_EQ(got.losses[k].first, want.losses[k].first);
    EXPECT_NEAR(got.losses[k].second, want.losses[k].second, 1e-4 * std::max(1.0, std::abs(want.losses[k].second)))
        << "loss " << k << " (" << want.losses[k].first << ")";
  }
  // Gradients pass through batch norm and several GEMMs: float rounding relative to each tensor's
  // largest element, with room for the cancellations of batch norm's backward.
  expect_named_close(want.model_grads, got.model_grads, 1e-3, true, "model grad");
  expect_named_close(want.disc_grads, got.disc_grads, 1e-3, true, "discriminator grad");
  // Adam turns a gradient that is zero up to rounding into a step of up to about d_lr/10 (1e-5).
  expect_named_close(want.model_state, got.model_state, 1e-4, false, "model state");
  expect_named_close(want.disc_state, got.disc_state, 1e-4, false, "discriminator state");
  expect_close(want.logits, got.logits, 1e-4, "evaluation logits");
}

TEST(TrainGpu, WeightsRoundTripThroughFiles) {
  LABOR_REQUIRE_GPU();
  auto on_cpu = tiny_trainer<cpu>();
  auto on_gpu = tiny_trainer<cuda>();
  copy_weights(on_cpu, on_gpu, "to_gpu");
  // Back from the GPU into a host trainer with other weights: exactly the first trainer's.
  auto back = tiny_trainer<cpu>();
  for (auto& [name, t] : io::state_tensors(back.model())) t->fill(0.5f);
  copy_weights(on_gpu, back, "to_cpu");
  expect_named_close(host_state(on_cpu.model()), host_state(back.model()), 0.0, false, "model");
  expect_named_close(host_state(on_cpu.discriminator()), host_state(back.discriminator()), 0.0, false, "discriminator");
}

// The stages end to end on both devices from the same initial weights (the Philox fills agree to the
// last bits of the device's log/cos): UDA with the discriminator, pseudo-labels, the selector, a PPL
// selection through the simulated oracle, and the evaluation.
train::LaborOptions stage_options() {
  train::LaborOptions o;
  o.uda = {.iterations = 3, .batch_size = 2, .sgd = {.lr = 0.01}, .lambda_adv = 0.01};
  o.selector.iterations = 2;
  o.selector.batch_size = 2;
  o.eval_batch = 4;
  o.loader_workers = 0;
  return o;
}

template <class A, class B>
void expect_same_state(A& cpu_model, B& gpu_model, double tol, const char* what) {
  const auto a = host_state(cpu_model), b = host_state(gpu_model);
  ASSERT_EQ(a.size(), b.size()) << what;
  for (std::size_t i = 0; i < a.size(); ++i) expect_close(a[i].second, b[i].second, tol, what + (": " + a[i].first));
}

TEST(TrainGpu, StagesMatchCpu) {
  LABOR_REQUIRE_GPU();
  const auto& data = bench();
  const auto o = stage_options();
  auto c = tiny_trainer<cpu>(o);
  auto g = tiny_trainer<cuda>(o);
  expect_same_state(c.model(), g.model(), 1e-6, "initial weights");

  c.train_segmenter("uda", data.source, data.target_pool, nullptr, o.uda, 3);
  g.train_segmenter("uda", data.source, data.target_pool, nullptr, o.uda, 3);
  expect_same_state(c.model(), g.model(), 1e-4, "model after UDA");
  expect_same_state(c.discriminator(), g.discriminator(), 1e-4, "discriminator after UDA");

  // Pseudo-labels: the same thresholds, and nearly every label the same.
  const auto pc = c.pseudo_labels(data.target_pool, o.selector);
  const auto pg = g.pseudo_labels(data.target_pool, o.selector);
  ASSERT_EQ(pc.size(), pg.size());
  for (std::size_t k = 0; k < c.pseudo_label_thresholds().size(); ++k)
    EXPECT_NEAR(c.pseudo_label_thresholds()[k], g.pseudo_label_thresholds()[k], 1e-4) << "class " << k;
  std::int64_t differ = 0, total = 0;
  for (std::size_t i = 0; i < pc.size(); ++i)
    for (std::int64_t p = 0; p < pc[i].numel(); ++p, ++total) differ += pc[i][p] != pg[i][p];
  EXPECT_LE(differ, total / 1000) << differ << " of " << total << " pseudo-labels differ";

  // The selector from the CPU's pseudo-labels on both devices, then PPL through the simulated oracle.
  auto sc = c.train_selector(data.target_pool, pc, o.selector, 9);
  auto sg = g.train_selector(data.target_pool, pc, o.selector, 9);
  expect_same_state(sc, sg, 1e-4, "selector");
  labor::annotate::SimulatedOracle oracle([&](std::int64_t id) { return data.target_pool.label(id); },
                                          static_cast<std::int32_t>(kClasses));
  labor::annotate::LabelStore store_c(static_cast<std::int32_t>(kClasses)),
      store_g(static_cast<std::int32_t>(kClasses));
  const auto qc = c.select(sc, data.target_pool, labor::samplers::PplSampler{5}, oracle, store_c);
  const auto qg = g.select(sg, data.target_pool, labor::samplers::PplSampler{5}, oracle, store_g);
  ASSERT_EQ(qc.images.size(), qg.images.size());
  std::int64_t same = 0, points = 0;
  for (std::size_t i = 0; i < qc.images.size(); ++i) {
    points += static_cast<std::int64_t>(qc.images[i].pixels.size());
    for (auto px : qg.images[i].pixels)
      same += std::count(qc.images[i].pixels.begin(), qc.images[i].pixels.end(), px) > 0;
  }
  EXPECT_GE(same, points * 9 / 10) << "PPL points chosen on both devices";

  const auto ec = c.evaluate(data.target_test), eg = g.evaluate(data.target_test);
  EXPECT_EQ(ec.total(), eg.total());
  EXPECT_NEAR(ec.miou(), eg.miou(), 0.01);
}

}  // namespace
