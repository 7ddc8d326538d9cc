// CPU/GPU parity of the optimizers and the confusion matrix: SGD and Adam run the same steps from
// the same values and gradients on both devices and end with the same parameters and state; the
// GPU confusion matrix counts exactly the CPU's counts and rejects bad labels with the CPU's error.
// Label `gpu`; skipped without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <labor/labor.hpp>

#include "support/device_parity.hpp"
#include "support/errors.hpp"

namespace {

using labor::cpu;
using labor::cuda;
using labor::Device;
using labor::Shape;
using labor::Tensor;
using labor::testing::expect_close;
using labor::testing::expect_equal;
using labor::testing::error_of;
using labor::testing::expect_error;
using labor::testing::host;
using labor::testing::on;
using labor::testing::PoisonScope;
using labor::testing::random_normal;
using labor::testing::random_uniform;
namespace nn = labor::nn;
namespace optim = labor::optim;
using labor::metrics::ConfusionMatrix;

constexpr double tol = 1e-6;

// ---------------------------------------------------------------------------------------------
// Optimizers

/// Parameters in two groups (lr multipliers 1 and 10) with odd sizes, one of them frozen, and a
/// fresh random gradient for every parameter at every step.
struct OptimProblem {
  std::vector<Tensor<float>> init;
  std::vector<std::vector<Tensor<float>>> grads;  // [step][parameter]
  std::vector<std::size_t> group;
  std::vector<bool> trainable;
  std::vector<double> lr_mult{1.0, 10.0};
  int steps = 0;
};

OptimProblem make_problem(int steps, std::uint64_t seed) {
  labor::Rng rng(seed);
  OptimProblem pb;
  pb.steps = steps;
  const std::vector<Shape> shapes{Shape{7}, Shape{3, 5, 17, 19}, Shape{1}, Shape{257, 3}, Shape{64, 33}};
  pb.group = {0, 0, 1, 1, 1};
  pb.trainable = {true, true, true, false, true};
  for (const auto& s : shapes) pb.init.push_back(random_normal(s, rng));
  for (int k = 0; k < steps; ++k) {
    pb.grads.emplace_back();
    for (const auto& s : shapes) pb.grads.back().push_back(random_normal(s, rng, 0.0f, 2.0f));
  }
  return pb;
}

/// The parameters of a problem on device D and their groups (pointers into `params`).
template <Device D>
std::vector<optim::ParamGroup<float, D>> make_groups(const OptimProblem& pb,
                                                     std::vector<nn::Parameter<float, D>>& params) {
  params.clear();
  params.resize(pb.init.size());
  std::vector<optim::ParamGroup<float, D>> groups(pb.lr_mult.size());
  for (std::size_t g = 0; g < groups.size(); ++g) groups[g].lr_mult = pb.lr_mult[g];
  for (std::size_t i = 0; i < params.size(); ++i) {
    params[i].value = on<D>(pb.init[i]);
    params[i].grad = Tensor<float, D>(pb.init[i].shape());
    params[i].trainable = pb.trainable[i];
    groups[pb.group[i]].params.push_back(&params[i]);
  }
  return groups;
}

/// Runs the problem's steps (the base rate following poly_lr from `base_lr`), then zero_grad.
/// Returns the final values.
template <class Opt, Device D>
std::vector<Tensor<float>> drive(const OptimProblem& pb, Opt& opt, std::vector<nn::Parameter<float, D>>& params,
                                 double base_lr) {
  for (int k = 0; k < pb.steps; ++k) {
    for (std::size_t i = 0; i < params.size(); ++i) params[i].grad = on<D>(pb.grads[static_cast<std::size_t>(k)][i]);
    opt.set_lr(optim::poly_lr(base_lr, k, pb.steps + 1));
    opt.step();
  }
  std::vector<Tensor<float>> values;
  for (auto& p : params) values.push_back(host(p.value));
  opt.zero_grad();
  for (auto& p : params) expect_equal(Tensor<float>(p.value.shape()), p.grad, "grad after zero_grad");
  return values;
}

struct SgdOut {
  std::vector<Tensor<float>> values, buffers;
};

template <Device D>
SgdOut run_sgd(const OptimProblem& pb, const optim::SgdOptions& options) {
  std::vector<nn::Parameter<float, D>> params;
  optim::Sgd<float, D> sgd(make_groups<D>(pb, params), options);
  SgdOut out;
  out.values = drive(pb, sgd, params, options.lr);
  for (const auto& st : sgd.state()) out.buffers.push_back(host(st.momentum_buffer));
  return out;
}

void expect_sgd_parity(const optim::SgdOptions& options, const std::string& what) {
  PoisonScope poison;
  const auto pb = make_problem(6, 21);
  const auto want = run_sgd<cpu>(pb, options);
  const auto got = run_sgd<cuda>(pb, options);
  for (std::size_t i = 0; i < pb.init.size(); ++i) {
    const std::string name = what + " parameter " + std::to_string(i);
    expect_close(want.values[i], got.values[i], tol, name + " value");
    expect_close(want.buffers[i], got.buffers[i], tol, name + " momentum buffer");
    if (!pb.trainable[i]) {
      expect_equal(pb.init[i], got.values[i], name + " (frozen) value");
      EXPECT_TRUE(got.buffers[i].empty()) << name << " (frozen) has a momentum buffer";
    }
  }
}

TEST(OptimGpu, SgdPlainMatchesCpu) {
  LABOR_REQUIRE_GPU();
  expect_sgd_parity({.lr = 0.1}, "plain");
}

TEST(OptimGpu, SgdMomentumMatchesCpu) {
  LABOR_REQUIRE_GPU();
  expect_sgd_parity({.lr = 0.05, .momentum = 0.9}, "momentum");
}

TEST(OptimGpu, SgdNesterovMatchesCpu) {
  LABOR_REQUIRE_GPU();
  expect_sgd_parity({.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3, .nesterov = true}, "nesterov");
}

TEST(OptimGpu, SgdDampeningMatchesCpu) {
  LABOR_REQUIRE_GPU();
  expect_sgd_parity({.lr = 0.05, .momentum = 0.8, .dampening = 0.3}, "dampening");
}

TEST(OptimGpu, SgdWeightDecayMatchesCpu) {
  LABOR_REQUIRE_GPU();
  expect_sgd_parity({.lr = 0.1, .weight_decay = 0.05}, "weight decay");
  expect_sgd_parity({.lr = 2.5e-2, .momentum = 0.9, .weight_decay = 5e-4}, "momentum + weight decay");
}

struct AdamOut {
  std::vector<Tensor<float>> values, exp_avg, exp_avg_sq;
  std::vector<std::int64_t> steps;
};

template <Device D>
AdamOut run_adam(const OptimProblem& pb, const optim::AdamOptions& options) {
  std::vector<nn::Parameter<float, D>> params;
  optim::Adam<float, D> adam(make_groups<D>(pb, params), options);
  AdamOut out;
  out.values = drive(pb, adam, params, options.lr);
  for (const auto& st : adam.state()) {
    out.exp_avg.push_back(host(st.exp_avg));
    out.exp_avg_sq.push_back(host(st.exp_avg_sq));
    out.steps.push_back(st.step);
  }
  return out;
}

void expect_adam_parity(const optim::AdamOptions& options, const std::string& what) {
  PoisonScope poison;
  const auto pb = make_problem(7, 33);
  const auto want = run_adam<cpu>(pb, options);
  const auto got = run_adam<cuda>(pb, options);
  EXPECT_EQ(want.steps, got.steps) << what;
  for (std::size_t i = 0; i < pb.init.size(); ++i) {
    const std::string name = what + " parameter " + std::to_string(i);
    expect_close(want.values[i], got.values[i], tol, name + " value");
    expect_close(want.exp_avg[i], got.exp_avg[i], tol, name + " exp_avg");
    expect_close(want.exp_avg_sq[i], got.exp_avg_sq[i], tol, name + " exp_avg_sq");
    if (!pb.trainable[i]) {
      expect_equal(pb.init[i], got.values[i], name + " (frozen) value");
      EXPECT_EQ(got.steps[i], 0) << name;
      EXPECT_TRUE(got.exp_avg[i].empty() && got.exp_avg_sq[i].empty()) << name << " (frozen) has moments";
    }
  }
}

TEST(OptimGpu, AdamMatchesCpu) {
  LABOR_REQUIRE_GPU();
  expect_adam_parity({}, "default");
  expect_adam_parity({.lr = 1e-2, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-4}, "betas and eps");
}

TEST(OptimGpu, AdamWeightDecayMatchesCpu) {
  LABOR_REQUIRE_GPU();
  expect_adam_parity({.lr = 2e-3, .weight_decay = 1e-2}, "weight decay");
}

TEST(OptimGpu, BadStateIsAnError) {
  LABOR_REQUIRE_GPU();
  nn::Parameter<float, cuda> p(Shape{5, 3});
  optim::Sgd<float, cuda> sgd({{{&p}, 1.0}}, {.lr = 0.1, .momentum = 0.9});
  sgd.state()[0].momentum_buffer = Tensor<float, cuda>(Shape{3, 5});
  expect_error([&] { sgd.step(); }, {"momentum_buffer", "[5, 3]", "[3, 5]"});
  p.grad = Tensor<float, cuda>(Shape{15});
  optim::Adam<float, cuda> adam({{{&p}, 1.0}});
  expect_error([&] { adam.step(); }, {"grad shape", "[5, 3]", "[15]"});
}

// ---------------------------------------------------------------------------------------------
// Confusion matrix

/// Random labels in [0, classes) with about `ignored` of the targets set to `ignore`.
struct LabelBatch {
  Tensor<std::int32_t> pred, target;
};

LabelBatch random_labels(Shape shape, int classes, std::int32_t ignore, double ignored, labor::Rng& rng) {
  const auto u = random_uniform(shape, rng, 0.0f, 1.0f);
  const auto v = random_uniform(shape, rng, 0.0f, 1.0f);
  const auto w = random_uniform(shape, rng, 0.0f, 1.0f);
  LabelBatch b{Tensor<std::int32_t>(shape), Tensor<std::int32_t>(shape)};
  const auto label = [classes](float x) {
    return std::min(classes - 1, static_cast<int>(x * static_cast<float>(classes)));
  };
  for (std::int64_t i = 0; i < u.numel(); ++i) {
    b.target[i] = w[i] < ignored ? ignore : label(u[i]);
    // Mostly right, as a trained model: half the predictions copy a valid target, the rest are uniform.
    const bool copy = v[i] < 0.5f && b.target[i] != ignore;
    b.pred[i] = copy ? b.target[i] : label(v[i] < 0.5f ? 2.0f * v[i] : 2.0f * v[i] - 1.0f);
  }
  return b;
}

template <Device D>
Tensor<std::int64_t> count_batches(int classes, std::int32_t ignore, const std::vector<LabelBatch>& batches) {
  ConfusionMatrix cm(classes, ignore);
  for (const auto& b : batches) cm.update(on<D>(b.pred), on<D>(b.target));
  return cm.matrix();
}

void expect_counts_parity(int classes, std::int32_t ignore, const std::vector<Shape>& shapes, std::uint64_t seed) {
  PoisonScope poison;
  labor::Rng rng(seed);
  std::vector<LabelBatch> batches;
  for (const auto& s : shapes) batches.push_back(random_labels(s, classes, ignore, 0.15, rng));
  const auto want = count_batches<cpu>(classes, ignore, batches);
  const auto got = count_batches<cuda>(classes, ignore, batches);
  expect_equal(want, got, "confusion matrix, C = " + std::to_string(classes));
  std::int64_t total = 0;
  for (std::int64_t k = 0; k < want.numel(); ++k) total += want[k];
  EXPECT_GT(total, 0);
}

TEST(MetricsGpu, ConfusionMatrixMatchesCpu) {
  LABOR_REQUIRE_GPU();
  const std::vector<Shape> shapes{Shape{2, 37, 53}, Shape{1, 1, 1}, Shape{3, 100, 129}, Shape{255}, Shape{4, 257}};
  expect_counts_parity(19, 255, shapes, 5);
  expect_counts_parity(1, 255, shapes, 6);
  expect_counts_parity(7, -1, shapes, 7);
  expect_counts_parity(5, 2, shapes, 8);  // an ignore index inside [0, C): those targets are skipped
  expect_counts_parity(150, 255, {Shape{2, 97, 131}}, 9);
}

TEST(MetricsGpu, ConfusionMatrixLargeBatchMatchesCpu) {
  LABOR_REQUIRE_GPU();
  expect_counts_parity(19, 255, {Shape{4, 512, 1023}, Shape{1, 769, 1283}}, 10);
}

/// Labels for a batch past 2^31 pixels: target 1 everywhere, prediction 1 at every 1000th pixel
/// and 0 elsewhere.
void fill_huge_batch(Tensor<std::int32_t, cuda>& pred, Tensor<std::int32_t, cuda>& target) {
  std::int32_t* p = pred.data();
  std::int32_t* t = target.data();
  labor::for_each_index<cuda>(pred.numel(), [=] __host__ __device__(std::int64_t i) {
    t[i] = 1;
    p[i] = i % 1000 == 0 ? 1 : 0;
  });
}

TEST(MetricsGpu, ConfusionMatrixCountsPastInt32) {
  LABOR_REQUIRE_GPU();
  // Two chunks of the 32-bit histogram and a cell count above 2^31 (about 17 GB of labels).
  const std::int64_t n = (std::int64_t{1} << 31) + 4097;
  std::size_t free_bytes = 0, total_bytes = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_bytes, &total_bytes), cudaSuccess);
  if (free_bytes < static_cast<std::size_t>(n) * 8 + (std::size_t{4} << 30)) GTEST_SKIP() << "not enough GPU memory";
  {
    auto pred = Tensor<std::int32_t, cuda>::uninitialized(Shape{n});
    auto target = Tensor<std::int32_t, cuda>::uninitialized(Shape{n});
    fill_huge_batch(pred, target);
    ConfusionMatrix cm(2);
    cm.update(pred, target);
    const std::int64_t hits = (n + 999) / 1000;
    EXPECT_EQ(cm.matrix()(0, 0), 0);
    EXPECT_EQ(cm.matrix()(0, 1), 0);
    EXPECT_EQ(cm.matrix()(1, 0), n - hits);
    EXPECT_EQ(cm.matrix()(1, 1), hits);
  }
  labor::release_memory_cache<cuda>();
}

TEST(MetricsGpu, ConfusionMatrixEmptyBatch) {
  LABOR_REQUIRE_GPU();
  ConfusionMatrix cm(4);
  cm.update(Tensor<std::int32_t, cuda>(Shape{0, 5, 5}), Tensor<std::int32_t, cuda>(Shape{0, 5, 5}));
  EXPECT_EQ(cm.total(), 0);
}


/// A bad batch fails with the CPU's message on the GPU and leaves the matrix as it was.
template <class Edit>
void expect_same_error(Shape shape, int classes, Edit edit, const std::vector<std::string>& parts) {
  labor::Rng rng(3);
  const auto good = random_labels(shape, classes, 255, 0.1, rng);
  auto bad = random_labels(shape, classes, 255, 0.1, rng);
  edit(bad);
  ConfusionMatrix on_cpu(classes), on_gpu(classes);
  on_cpu.update(good.pred, good.target);
  on_gpu.update(on<cuda>(good.pred), on<cuda>(good.target));
  const std::string want = error_of([&] { on_cpu.update(bad.pred, bad.target); });
  const std::string got = error_of([&] { on_gpu.update(on<cuda>(bad.pred), on<cuda>(bad.target)); });
  EXPECT_EQ(got, want);
  for (const auto& p : parts) EXPECT_NE(got.find(p), std::string::npos) << got << "\nmissing: " << p;
  expect_equal(on_cpu.matrix(), on_gpu.matrix(), "matrix after a failed update");
}

TEST(MetricsGpu, ConfusionMatrixBadLabelsAreErrors) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  const Shape shape{2, 33, 47};  // 3102 pixels; flat 1500 = (n=0, y=31, x=43)
  expect_same_error(shape, 5,
                    [](LabelBatch& b) {
                      b.target[2500] = 99;
                      b.target[1500] = 7;
                      b.pred[2000] = -3;
                      b.target[2000] = 1;
                    },
                    {"target", "(n=0, y=31, x=43)", "got 7"});
  expect_same_error(shape, 5,
                    [](LabelBatch& b) {
                      b.pred[3000] = 5;
                      b.target[3000] = 0;
                      b.target[2999] = -4;
                    },
                    {"target", "got -4"});
  expect_same_error(shape, 5,
                    [](LabelBatch& b) {
                      b.pred[1] = 5;
                      b.target[1] = 4;
                      b.pred[2] = -1;
                      b.target[2] = 255;  // ignored: not an error
                    },
                    {"pred", "(n=0, y=0, x=1)", "got 5"});
  expect_same_error(Shape{700}, 1,
                    [](LabelBatch& b) {
                      b.pred[699] = 1;
                      b.target[699] = 0;
                    },
                    {"pred", "[699]", "got 1"});

  // A bad prediction at an ignored pixel is not an error; a shape mismatch is.
  ConfusionMatrix cm(3);
  cm.update(on<cuda>(Tensor<std::int32_t>::from(Shape{1, 1, 2}, {0, 255})),
            on<cuda>(Tensor<std::int32_t>::from(Shape{1, 1, 2}, {0, 255})));
  EXPECT_EQ(cm.total(), 1);
  expect_error(
      [&] {
        cm.update(Tensor<std::int32_t, cuda>(Shape{1, 2, 2}), Tensor<std::int32_t, cuda>(Shape{1, 2, 3}));
      },
      {"pred shape", "[1, 2, 3]", "[1, 2, 2]"});
  EXPECT_EQ(cm.total(), 1);
}

}  // namespace
