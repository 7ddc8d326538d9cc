// CPU/GPU parity of the losses: each case is one template over the device, run on the CPU and on
// the GPU with the same random inputs; values agree within 1e-5 relative, gradients within 1e-5 of
// the largest magnitude, pseudo-label thresholds and labels exactly, and every value check the CPU
// does (bad labels, non-finite logits, invalid probabilities) throws the same labor::Error on the
// GPU. Label `gpu`; skipped without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <labor/labor.hpp>

#include "support/device_parity.hpp"
#include "support/errors.hpp"

namespace {

using labor::cpu;
using labor::cuda;
using labor::Device;
using labor::Rng;
using labor::Shape;
using labor::Tensor;
using labor::testing::expect_close;
using labor::testing::expect_close_relative;
using labor::testing::expect_equal;
using labor::testing::error_of;
using labor::testing::on;
using labor::testing::PoisonScope;
using labor::testing::random_normal;
using labor::testing::random_uniform;
namespace loss = labor::loss;

constexpr double tol = 1e-5;

/// The shapes every pixel loss runs on: a single pixel, odd sizes, C = 1 and C = 19, N = 3, and
/// more pixels than one reduction grid covers in one sweep.
const std::vector<Shape> pixel_shapes = {Shape{1, 1, 1, 1},   Shape{1, 1, 7, 5},   Shape{3, 19, 17, 23},
                                         Shape{2, 5, 33, 37}, Shape{1, 3, 1, 300}, Shape{2, 2, 300, 451}};

void expect_value(double want, double got, const std::string& what) {
  EXPECT_NEAR(got, want, tol * std::max(1.0, std::abs(want))) << what;
}

std::string shape_name(const Shape& s) {
  return fmt::format("{}", s);
}


/// Expects the cpu and cuda runs of `f` (a generic lambda taking a device tag) to throw the same
/// labor::Error, whose message contains `part`.
template <class F>
void expect_same_error(F&& f, const std::string& part) {
  const std::string want = error_of([&] { f(cpu{}); });
  const std::string got = error_of([&] { f(cuda{}); });
  EXPECT_NE(want.find(part), std::string::npos) << want;
  EXPECT_EQ(got, want);
}

/// Labels in [0, C) with about one pixel in `ignore_every` set to `ignore` (none for 0).
Tensor<std::int32_t> random_labels(Shape shape, std::int64_t classes, std::int32_t ignore, int ignore_every, Rng& rng) {
  Tensor<std::int32_t> y(shape);
  for (std::int64_t i = 0; i < y.numel(); ++i)
    y[i] = ignore_every > 0 && rng.uniform_int(static_cast<std::uint64_t>(ignore_every)) == 0
               ? ignore
               : static_cast<std::int32_t>(rng.uniform_int(static_cast<std::uint64_t>(classes)));
  return y;
}

/// Channel softmax of N×C×H×W logits on the host.
Tensor<float> softmax(const Tensor<float>& x) {
  Tensor<float> p(x.shape());
  const std::int64_t n = x.size(0), c = x.size(1), plane = x.size(2) * x.size(3);
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t s = 0; s < plane; ++s) {
      const float* xi = x.data() + b * c * plane + s;
      float* pi = p.data() + b * c * plane + s;
      float m = xi[0];
      for (std::int64_t k = 1; k < c; ++k) m = std::max(m, xi[k * plane]);
      double sum = 0;
      for (std::int64_t k = 0; k < c; ++k) sum += std::exp(static_cast<double>(xi[k * plane] - m));
      for (std::int64_t k = 0; k < c; ++k)
        pi[k * plane] = static_cast<float>(std::exp(static_cast<double>(xi[k * plane] - m)) / sum);
    }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Cross-entropy

template <Device D>
loss::LossResult<float, D> run_cross_entropy(const Tensor<float>& x, const Tensor<std::int32_t>& y,
                                             const loss::CrossEntropyOptions& options) {
  return loss::cross_entropy(on<D>(x), on<D>(y), options);
}

void expect_cross_entropy_parity(const Tensor<float>& x, const Tensor<std::int32_t>& y,
                                 const loss::CrossEntropyOptions& options, const std::string& what) {
  const auto want = run_cross_entropy<cpu>(x, y, options);
  const auto got = run_cross_entropy<cuda>(x, y, options);
  expect_value(want.value, got.value, what + " value");
  expect_close_relative(want.grad, got.grad, tol, what + " grad");
}

TEST(LossGpu, CrossEntropyMatchesCpu) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  Rng rng(21);
  for (const Shape& s : pixel_shapes) {
    const std::int64_t c = s[1];
    const Shape label_shape{s[0], s[2], s[3]};
    const auto x = random_normal(s, rng, 0.0f, 3.0f);
    const std::string name = shape_name(s);
    expect_cross_entropy_parity(x, random_labels(label_shape, c, 255, 0, rng), {}, name + " all valid");
    expect_cross_entropy_parity(x, random_labels(label_shape, c, 255, 5, rng), {}, name + " ignore 255");
    // An ignore label inside [0, C).
    expect_cross_entropy_parity(x, random_labels(label_shape, c, 0, 0, rng), {.ignore_index = 0}, name + " ignore 0");
    std::vector<double> weights(static_cast<std::size_t>(c));
    for (auto& w : weights) w = rng.uniform<double>() * 2.0;
    weights[0] = c > 1 ? 0.0 : 0.5;  // a zero weight (a class that counts for nothing)
    expect_cross_entropy_parity(x, random_labels(label_shape, c, 255, 4, rng), {.class_weights = weights},
                                name + " class weights");
  }
}

TEST(LossGpu, CrossEntropyAllIgnoredIsZero) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  Rng rng(22);
  const Shape s{2, 4, 9, 11};
  const auto x = random_normal(s, rng);
  const auto ignored = Tensor<std::int32_t>::full(Shape{2, 9, 11}, 255);
  expect_cross_entropy_parity(x, ignored, {}, "all ignored");
  const auto got = run_cross_entropy<cuda>(x, ignored, {});
  EXPECT_EQ(got.value, 0.0f);
  expect_close(Tensor<float>(s), got.grad, 0.0, "all ignored grad is zero");
  // Every valid pixel of a zero-weight class: the same zero result.
  const auto zeros = Tensor<std::int32_t>::full(Shape{2, 9, 11}, 1);
  expect_cross_entropy_parity(x, zeros, {.class_weights = {1.0, 0.0, 1.0, 1.0}}, "zero total weight");
}

TEST(LossGpu, CrossEntropyBadLabelsAreErrors) {
  LABOR_REQUIRE_GPU();
  Rng rng(23);
  const Shape s{3, 5, 13, 17};
  const auto x = random_normal(s, rng);
  auto y = random_labels(Shape{3, 13, 17}, 5, 255, 6, rng);
  y(2, 4, 1) = 5;   // a later bad label
  y(1, 7, 9) = -3;  // the first bad label in flat order
  y(2, 0, 0) = 255;
  auto run = [&](auto device) { (void)run_cross_entropy<decltype(device)>(x, y, {}); };
  expect_same_error(run, "label at (n=1, y=7, x=9)");
  // A bad label is reported before a non-finite logit.
  auto bad_x = x;
  bad_x(0, 0, 0, 0) = std::numeric_limits<float>::quiet_NaN();
  expect_same_error([&](auto device) { (void)run_cross_entropy<decltype(device)>(bad_x, y, {}); }, "got -3");
  // Labels outside [0, C) are errors with class weights too.
  auto weighted = [&](auto device) {
    (void)run_cross_entropy<decltype(device)>(x, y, {.class_weights = {1, 2, 3, 4, 5}});
  };
  expect_same_error(weighted, "label at (n=1, y=7, x=9)");
}

TEST(LossGpu, CrossEntropyNonFiniteLogitsAreErrors) {
  LABOR_REQUIRE_GPU();
  Rng rng(24);
  const Shape s{2, 6, 11, 13};
  auto x = random_normal(s, rng);
  const auto y = random_labels(Shape{2, 11, 13}, 6, 255, 3, rng);
  x(1, 0, 2, 3) = std::numeric_limits<float>::quiet_NaN();
  x(0, 4, 10, 12) = std::numeric_limits<float>::infinity();  // the first in flat order
  x(0, 5, 0, 0) = -std::numeric_limits<float>::infinity();
  expect_same_error([&](auto device) { (void)run_cross_entropy<decltype(device)>(x, y, {}); },
                    "logits at (n=0, c=4, y=10, x=12)");
  // Also at an ignored pixel.
  auto ignored = Tensor<std::int32_t>::full(Shape{2, 11, 13}, 255);
  expect_same_error([&](auto device) { (void)run_cross_entropy<decltype(device)>(x, ignored, {}); },
                    "expected a finite value");
}

// ---------------------------------------------------------------------------------------------
// BCE with logits

TEST(LossGpu, BceWithLogitsMatchesCpu) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  Rng rng(31);
  for (const Shape& s : {Shape{1, 1, 1, 1}, Shape{3, 1, 17, 29}, Shape{2, 1, 300, 451}, Shape{7}}) {
    const auto x = random_normal(s, rng, 0.0f, 4.0f);
    for (const float target : {0.0f, 1.0f, 0.3f}) {
      const auto want = loss::bce_with_logits(x, target);
      const auto got = loss::bce_with_logits(on<cuda>(x), target);
      const std::string what = shape_name(s) + " target " + std::to_string(target);
      expect_value(want.value, got.value, what + " value");
      expect_close_relative(want.grad, got.grad, tol, what + " grad");
    }
    const auto t = random_uniform(s, rng, 0.0f, 1.0f);
    const auto want = loss::bce_with_logits(x, t);
    const auto got = loss::bce_with_logits(on<cuda>(x), on<cuda>(t));
    expect_value(want.value, got.value, shape_name(s) + " map target value");
    expect_close_relative(want.grad, got.grad, tol, shape_name(s) + " map target grad");
  }
}

TEST(LossGpu, BceWithLogitsBadInputsAreErrors) {
  LABOR_REQUIRE_GPU();
  Rng rng(32);
  auto x = random_normal(Shape{2, 1, 9, 7}, rng);
  auto t = random_uniform(x.shape(), rng, 0.0f, 1.0f);
  t[40] = std::numeric_limits<float>::quiet_NaN();
  t[20] = std::numeric_limits<float>::infinity();
  auto map_target = [&](auto device) {
    using D = decltype(device);
    (void)loss::bce_with_logits(on<D>(x), on<D>(t));
  };
  expect_same_error(map_target, "target at (n=0, c=0, y=2, x=6)");
  x[100] = -std::numeric_limits<float>::infinity();
  x[90] = std::numeric_limits<float>::quiet_NaN();
  expect_same_error(map_target, "logits at (n=1, c=0, y=3, x=6)");  // logits are reported first
  expect_same_error([&](auto device) { (void)loss::bce_with_logits(on<decltype(device)>(x), 1.0f); },
                    "logits at (n=1, c=0, y=3, x=6)");
  expect_same_error(
      [&](auto device) {
        (void)loss::bce_with_logits(on<decltype(device)>(x), std::numeric_limits<float>::quiet_NaN());
      },
      "target: expected a finite value");
  expect_same_error([&](auto device) { (void)loss::bce_with_logits(on<decltype(device)>(Tensor<float>()), 1.0f); },
                    "non-empty");
}

// ---------------------------------------------------------------------------------------------
// Discrepancy

TEST(LossGpu, DiscrepancyMatchesCpu) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  Rng rng(41);
  for (const Shape& s : pixel_shapes) {
    const auto a = random_normal(s, rng, 0.0f, 2.0f);
    auto b = random_normal(s, rng, 0.0f, 2.0f);
    // Identical pixels (sign(0) = 0 subgradient) in the first image.
    for (std::int64_t k = 0; k < s[1]; ++k) b(0, k, 0, 0) = a(0, k, 0, 0);
    const auto want = loss::discrepancy(a, b);
    const auto got = loss::discrepancy(on<cuda>(a), on<cuda>(b));
    expect_value(want.value, got.value, shape_name(s) + " value");
    expect_close(want.grad_a, got.grad_a, tol, shape_name(s) + " grad a");
    expect_close(want.grad_b, got.grad_b, tol, shape_name(s) + " grad b");

    const auto p = softmax(a), q = softmax(b);
    const auto want_p = loss::discrepancy_probs(p, q);
    const auto got_p = loss::discrepancy_probs(on<cuda>(p), on<cuda>(q));
    expect_value(want_p.value, got_p.value, shape_name(s) + " probs value");
    expect_close_relative(want_p.grad_a, got_p.grad_a, tol, shape_name(s) + " probs grad a");
    expect_close_relative(want_p.grad_b, got_p.grad_b, tol, shape_name(s) + " probs grad b");
  }
}

TEST(LossGpu, DiscrepancyNonFiniteInputsAreErrors) {
  LABOR_REQUIRE_GPU();
  Rng rng(42);
  const Shape s{2, 3, 5, 7};
  auto a = random_normal(s, rng), b = random_normal(s, rng);
  b(0, 1, 2, 3) = std::numeric_limits<float>::quiet_NaN();
  auto logits = [&](auto device) {
    using D = decltype(device);
    (void)loss::discrepancy(on<D>(a), on<D>(b));
  };
  auto probs = [&](auto device) {
    using D = decltype(device);
    (void)loss::discrepancy_probs(on<D>(a), on<D>(b));
  };
  expect_same_error(logits, "logits_b at (n=0, c=1, y=2, x=3)");
  expect_same_error(probs, "probs_b at (n=0, c=1, y=2, x=3)");
  a(1, 2, 4, 6) = std::numeric_limits<float>::infinity();  // a is reported first, wherever it is
  expect_same_error(logits, "logits_a at (n=1, c=2, y=4, x=6)");
  expect_same_error(probs, "probs_a at (n=1, c=2, y=4, x=6)");
}

// ---------------------------------------------------------------------------------------------
// Entropy

TEST(LossGpu, EntropyMatchesCpu) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  Rng rng(51);
  for (const Shape& s : pixel_shapes) {
    const auto x = random_normal(s, rng, 0.0f, 3.0f);
    auto p = softmax(x);
    p[0] = 0.0f;  // 0·log 0 = 0
    expect_close(loss::entropy_map(p), loss::entropy_map(on<cuda>(p)), tol, shape_name(s) + " map");
    const auto want = loss::entropy_loss(x);
    const auto got = loss::entropy_loss(on<cuda>(x));
    expect_value(want.value, got.value, shape_name(s) + " loss value");
    expect_close_relative(want.grad, got.grad, tol, shape_name(s) + " loss grad");
  }
}

TEST(LossGpu, EntropyBadInputsAreErrors) {
  LABOR_REQUIRE_GPU();
  Rng rng(52);
  const Shape s{2, 4, 6, 5};
  auto p = softmax(random_normal(s, rng));
  p(1, 3, 0, 0) = std::numeric_limits<float>::quiet_NaN();
  p(1, 2, 5, 4) = -0.25f;  // the first invalid value in flat order
  expect_same_error([&](auto device) { (void)loss::entropy_map(on<decltype(device)>(p)); },
                    "probs at (n=1, c=2, y=5, x=4): expected a finite value >= 0, got -0.25");
  auto x = random_normal(s, rng);
  x(0, 3, 2, 1) = std::numeric_limits<float>::infinity();
  expect_same_error([&](auto device) { (void)loss::entropy_loss(on<decltype(device)>(x)); },
                    "logits at (n=0, c=3, y=2, x=1)");
}

// ---------------------------------------------------------------------------------------------
// Pseudo-labels

/// Probabilities with many exact ties: softmax rounded to multiples of 1/16 (the maximum may then
/// be shared by several classes, and many pixels share their confidence).
Tensor<float> tied_probs(Shape s, Rng& rng) {
  auto p = softmax(random_normal(s, rng, 0.0f, 2.0f));
  for (std::int64_t i = 0; i < p.numel(); ++i) p[i] = std::round(p[i] * 16.0f) / 16.0f;
  return p;
}

template <Device D>
struct PseudoOut {
  std::vector<std::vector<double>> thresholds;  // after each update
  std::vector<Tensor<std::int32_t, D>> labels;  // update_and_label, then label() of each batch
};

template <Device D>
PseudoOut<D> run_pseudo_labeler(const loss::PseudoLabelOptions& options, const std::vector<Tensor<float>>& batches) {
  loss::PseudoLabeler<float, D> labeler(options);
  PseudoOut<D> out;
  for (std::size_t k = 0; k < batches.size(); ++k) {
    const auto p = on<D>(batches[k]);
    if (k % 2 == 0) {
      out.labels.push_back(labeler.update_and_label(p));
    } else {
      labeler.update(p);
    }
    out.thresholds.push_back(labeler.thresholds());
    out.labels.push_back(labeler.label(p));
  }
  return out;
}

void expect_pseudo_labeler_parity(const loss::PseudoLabelOptions& options, const std::vector<Tensor<float>>& batches,
                                  const std::string& what) {
  const auto want = run_pseudo_labeler<cpu>(options, batches);
  const auto got = run_pseudo_labeler<cuda>(options, batches);
  ASSERT_EQ(got.thresholds.size(), want.thresholds.size());
  for (std::size_t k = 0; k < want.thresholds.size(); ++k)
    for (std::size_t c = 0; c < want.thresholds[k].size(); ++c)
      EXPECT_DOUBLE_EQ(got.thresholds[k][c], want.thresholds[k][c]) << what << " batch " << k << " class " << c;
  ASSERT_EQ(got.labels.size(), want.labels.size());
  for (std::size_t k = 0; k < want.labels.size(); ++k)
    expect_equal(want.labels[k], got.labels[k], what + " labels " + std::to_string(k));
}

TEST(LossGpu, PseudoLabelerMatchesCpu) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  Rng rng(61);
  std::vector<Tensor<float>> batches;
  for (const Shape& s : {Shape{2, 19, 33, 47}, Shape{1, 19, 5, 3}, Shape{3, 19, 64, 97}, Shape{1, 19, 1, 1}})
    batches.push_back(softmax(random_normal(s, rng, 0.0f, 3.0f)));
  expect_pseudo_labeler_parity({.num_classes = 19}, batches, "C=19");
  // A labeler whose thresholds move fast, so the percentile ranks change from batch to batch.
  expect_pseudo_labeler_parity({.num_classes = 19, .alpha = 0.9, .gamma = 1.0, .momentum = 0.2, .init_threshold = 0.5},
                               batches, "C=19 fast");

  std::vector<Tensor<float>> tied;
  for (const Shape& s : {Shape{2, 5, 31, 29}, Shape{1, 5, 2, 3}, Shape{3, 5, 40, 41}})
    tied.push_back(tied_probs(s, rng));
  expect_pseudo_labeler_parity({.num_classes = 5, .alpha = 0.5, .gamma = 2.0, .momentum = 0.5, .ignore_index = -1},
                               tied, "C=5 ties");

  std::vector<Tensor<float>> single;
  for (const Shape& s : {Shape{1, 1, 7, 9}, Shape{2, 1, 3, 1}}) single.push_back(random_uniform(s, rng, 0.0f, 1.0f));
  expect_pseudo_labeler_parity({.num_classes = 1, .alpha = 1.0, .gamma = 0.5, .init_threshold = 0.3}, single, "C=1");
}

TEST(LossGpu, PseudoLabelerNonFiniteProbsAreErrors) {
  LABOR_REQUIRE_GPU();
  Rng rng(62);
  auto p = softmax(random_normal(Shape{2, 3, 4, 5}, rng));
  p(1, 1, 3, 4) = std::numeric_limits<float>::quiet_NaN();
  p(1, 0, 3, 4) = std::numeric_limits<float>::infinity();
  expect_same_error(
      [&](auto device) {
        loss::PseudoLabeler<float, decltype(device)> labeler({.num_classes = 3});
        (void)labeler.update_and_label(on<decltype(device)>(p));
      },
      "PseudoLabeler::update_and_label: probs at (n=1, c=0, y=3, x=4)");
  expect_same_error(
      [&](auto device) {
        loss::PseudoLabeler<float, decltype(device)> labeler({.num_classes = 3});
        (void)labeler.label(on<decltype(device)>(p));
      },
      "PseudoLabeler::label: probs at (n=1, c=0, y=3, x=4)");
}

// ---------------------------------------------------------------------------------------------
// Weight-space cosine

/// A two-branch head on device D: a 3×3 and a 1×1 kernel with biases, named like a Sequential.
template <Device D>
struct TwoKernels {
  using value_type = float;
  using device_type = D;
  labor::nn::Parameter<float, D> w0{Shape{4, 3, 3, 3}}, b0{Shape{4}}, w1{Shape{5, 4, 1, 1}}, b1{Shape{5}};
  Tensor<float, D> forward(const Tensor<float, D>& x) { return x; }
  Tensor<float, D> backward(const Tensor<float, D>& g) { return g; }
  void set_training(bool) {}
  template <class V>
  void visit(V& v, const std::string& prefix) {
    v.parameter(prefix + "0.weight", w0);
    v.parameter(prefix + "0.bias", b0);
    v.parameter(prefix + "1.weight", w1);
    v.parameter(prefix + "1.bias", b1);
  }
};

/// Host values and gradients of a TwoKernels (random, so that the gradients are accumulated into).
struct KernelValues {
  std::vector<Tensor<float>> value, grad;
};

KernelValues random_kernels(Rng& rng) {
  KernelValues k;
  for (const Shape& s : {Shape{4, 3, 3, 3}, Shape{4}, Shape{5, 4, 1, 1}, Shape{5}}) {
    k.value.push_back(random_normal(s, rng));
    k.grad.push_back(random_normal(s, rng, 0.0f, 0.1f));
  }
  return k;
}

template <Device D>
TwoKernels<D> make_head(const KernelValues& k) {
  TwoKernels<D> h;
  auto params = labor::nn::named_parameters(h);
  for (std::size_t i = 0; i < params.size(); ++i) {
    params[i].second->value = on<D>(k.value[i]);
    params[i].second->grad = on<D>(k.grad[i]);
  }
  return h;
}

template <Device D>
struct CosineOut {
  double value;
  std::vector<Tensor<float, D>> grad_a, grad_b;
};

template <Device D>
CosineOut<D> run_weight_cosine(const KernelValues& a_values, const KernelValues& b_values, double scale) {
  auto a = make_head<D>(a_values);
  auto b = make_head<D>(b_values);
  CosineOut<D> out;
  out.value = loss::weight_cosine(a, b, scale);
  for (auto& [name, p] : labor::nn::named_parameters(a)) out.grad_a.push_back(p->grad);
  for (auto& [name, p] : labor::nn::named_parameters(b)) out.grad_b.push_back(p->grad);
  return out;
}

TEST(LossGpu, WeightCosineMatchesCpu) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  Rng rng(71);
  const auto a = random_kernels(rng), b = random_kernels(rng);
  for (const double scale : {0.0, 0.7, -2.5}) {
    const auto want = run_weight_cosine<cpu>(a, b, scale);
    const auto got = run_weight_cosine<cuda>(a, b, scale);
    EXPECT_NEAR(got.value, want.value, 1e-12) << "scale " << scale;
    for (std::size_t k = 0; k < want.grad_a.size(); ++k) {
      expect_close(want.grad_a[k], got.grad_a[k], tol, "grad a " + std::to_string(k));
      expect_close(want.grad_b[k], got.grad_b[k], tol, "grad b " + std::to_string(k));
    }
  }
  EXPECT_NEAR(run_weight_cosine<cuda>(a, a, 0.0).value, 1.0, 1e-12);
}

TEST(LossGpu, WeightCosineZeroWeightsAreErrors) {
  LABOR_REQUIRE_GPU();
  Rng rng(72);
  const auto a = random_kernels(rng);
  auto zero = random_kernels(rng);
  zero.value[0] = Tensor<float>(zero.value[0].shape());
  zero.value[2] = Tensor<float>(zero.value[2].shape());
  expect_same_error([&](auto device) { (void)run_weight_cosine<decltype(device)>(a, zero, 1.0); }, "non-zero");
}

}  // namespace
