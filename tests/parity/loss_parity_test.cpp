// Parity of the losses, optimizers and pseudo-labels with PyTorch / numpy (tests/parity/loss_ref.py).
// Everything in float; values and gradients must agree to a max-norm relative error of 1e-5.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include <labor/io/npy.hpp>
#include <labor/loss.hpp>
#include <labor/optim.hpp>

#include "support/torch.hpp"

namespace {

using labor::Rng;
using labor::Shape;
using labor::Tensor;
using labor::io::read_npy;
using labor::io::write_npy;
using labor::testing::max_relative_error;
using labor::testing::run_torch;
using labor::testing::TempDir;
namespace loss = labor::loss;
namespace optim = labor::optim;

constexpr double kTolerance = 1e-5;

Tensor<float> normal(Shape shape, std::uint64_t seed, float stddev) {
  Tensor<float> t(shape);
  Rng rng(seed);
  labor::fill_normal(t.view(), rng, 0.0f, stddev);
  return t;
}

Tensor<float> scalar(float v) {
  return Tensor<float>::from(Shape{1}, {v});
}

// Labels in [0, classes) with about `ignore_fraction` of the pixels set to 255.
Tensor<std::int32_t> random_labels(Shape shape, int classes, double ignore_fraction, std::uint64_t seed) {
  Tensor<std::int32_t> y(shape);
  Rng rng(seed);
  for (std::int64_t i = 0; i < y.numel(); ++i)
    y[i] = rng.uniform() < ignore_fraction
               ? 255
               : static_cast<std::int32_t>(rng.uniform_int(static_cast<std::uint64_t>(classes)));
  return y;
}

void expect_close(const std::string& what, const Tensor<float>& ours, const Tensor<float>& ref) {
  EXPECT_EQ(ours.shape(), ref.shape()) << what;
  EXPECT_LE(max_relative_error(ours, ref), kTolerance) << what;
}

void check_ce(bool weighted) {
  TempDir dir;
  const auto logits = normal(Shape{2, 19, 16, 24}, 1, 3.0f);
  const auto labels = random_labels(Shape{2, 16, 24}, 19, 0.2, 2);
  loss::CrossEntropyOptions opt;
  if (weighted) {
    Tensor<float> w(Shape{19});
    Rng rng(3);
    labor::fill_uniform(w.view(), rng, 0.5f, 2.0f);
    for (float v : w.span()) opt.class_weights.push_back(v);
    write_npy(dir / "weights.npy", w);
  }
  write_npy(dir / "logits.npy", logits);
  write_npy(dir / "labels.npy", labels);
  run_torch("loss_ref.py", "cross_entropy", dir.path(), {"255", weighted ? "1" : "0"});
  const auto res = loss::cross_entropy(logits, labels, opt);
  expect_close("value", scalar(res.value), read_npy<float>(dir / "value.npy"));
  expect_close("grad", res.grad, read_npy<float>(dir / "grad.npy"));
}

TEST(LossParity, CrossEntropyWithIgnoreLabel) {
  LABOR_REQUIRE_TORCH();
  check_ce(false);
}

TEST(LossParity, CrossEntropyWithClassWeights) {
  LABOR_REQUIRE_TORCH();
  check_ce(true);
}

TEST(LossParity, BceWithLogitsConstantTarget) {
  LABOR_REQUIRE_TORCH();
  for (float target : {0.0f, 1.0f}) {
    TempDir dir;
    const auto logits = normal(Shape{2, 1, 8, 10}, 4, 4.0f);
    write_npy(dir / "logits.npy", logits);
    run_torch("loss_ref.py", "bce_const", dir.path(), {std::to_string(target)});
    const auto res = loss::bce_with_logits(logits, target);
    expect_close("value", scalar(res.value), read_npy<float>(dir / "value.npy"));
    expect_close("grad", res.grad, read_npy<float>(dir / "grad.npy"));
  }
}

TEST(LossParity, BceWithLogitsMapTarget) {
  LABOR_REQUIRE_TORCH();
  TempDir dir;
  const auto logits = normal(Shape{2, 1, 8, 10}, 5, 4.0f);
  Tensor<float> target(logits.shape());
  Rng rng(6);
  labor::fill_uniform(target.view(), rng);
  write_npy(dir / "logits.npy", logits);
  write_npy(dir / "target.npy", target);
  run_torch("loss_ref.py", "bce_map", dir.path());
  const auto res = loss::bce_with_logits(logits, target);
  expect_close("value", scalar(res.value), read_npy<float>(dir / "value.npy"));
  expect_close("grad", res.grad, read_npy<float>(dir / "grad.npy"));
}

TEST(LossParity, Discrepancy) {
  LABOR_REQUIRE_TORCH();
  TempDir dir;
  const auto a = normal(Shape{2, 5, 8, 9}, 7, 2.0f);
  const auto b = normal(Shape{2, 5, 8, 9}, 8, 2.0f);
  write_npy(dir / "a.npy", a);
  write_npy(dir / "b.npy", b);
  run_torch("loss_ref.py", "discrepancy", dir.path());
  const auto res = loss::discrepancy(a, b);
  expect_close("value", scalar(res.value), read_npy<float>(dir / "value.npy"));
  expect_close("grad_a", res.grad_a, read_npy<float>(dir / "grad_a.npy"));
  expect_close("grad_b", res.grad_b, read_npy<float>(dir / "grad_b.npy"));
}

// Five steps of an optimizer on two parameters in groups with lr multipliers 1 and 10, fed the
// same random gradients as torch.optim; compares every step.
template <class MakeOptimizer>
void check_optimizer(const std::string& op, const std::vector<std::string>& args, MakeOptimizer make) {
  TempDir dir;
  constexpr int steps = 5;
  labor::nn::Parameter<float> p0(Shape{3, 4}), p1(Shape{6});
  p0.value = normal(p0.value.shape(), 10, 1.0f);
  p1.value = normal(p1.value.shape(), 11, 1.0f);
  const auto g0 = normal(Shape{steps, 3, 4}, 12, 1.0f);
  const auto g1 = normal(Shape{steps, 6}, 13, 1.0f);
  write_npy(dir / "p0.npy", p0.value);
  write_npy(dir / "p1.npy", p1.value);
  write_npy(dir / "g0.npy", g0);
  write_npy(dir / "g1.npy", g1);
  run_torch("loss_ref.py", op, dir.path(), args);
  const auto ref0 = read_npy<float>(dir / "p0_out.npy");
  const auto ref1 = read_npy<float>(dir / "p1_out.npy");
  auto opt = make(std::vector<optim::ParamGroup<float>>{{{&p0}, 1.0}, {{&p1}, 10.0}});
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    for (std::int64_t i = 0; i < 12; ++i) p0.grad[i] = g0[s * 12 + i];
    for (std::int64_t i = 0; i < 6; ++i) p1.grad[i] = g1[s * 6 + i];
    opt.step();
    expect_close(op + " p0 step " + std::to_string(s), p0.value, Tensor<float>(ref0.slice(s)));
    expect_close(op + " p1 step " + std::to_string(s), p1.value, Tensor<float>(ref1.slice(s)));
  }
}

TEST(OptimParity, SgdMomentumWeightDecay) {
  LABOR_REQUIRE_TORCH();
  check_optimizer("sgd", {"0.05", "0.9", "0.001", "0", "0"}, [](auto groups) {
    return optim::Sgd<float>(std::move(groups), {.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3});
  });
}

TEST(OptimParity, SgdNesterovAndDampening) {
  LABOR_REQUIRE_TORCH();
  check_optimizer("sgd", {"0.05", "0.8", "0.01", "0", "1"}, [](auto groups) {
    return optim::Sgd<float>(std::move(groups), {.lr = 0.05, .momentum = 0.8, .weight_decay = 1e-2, .nesterov = true});
  });
  check_optimizer("sgd", {"0.05", "0.9", "0", "0.3", "0"}, [](auto groups) {
    return optim::Sgd<float>(std::move(groups), {.lr = 0.05, .momentum = 0.9, .dampening = 0.3});
  });
}

TEST(OptimParity, Adam) {
  LABOR_REQUIRE_TORCH();
  check_optimizer("adam", {"0.001", "0.9", "0.99", "1e-08", "0.0005"}, [](auto groups) {
    return optim::Adam<float>(std::move(groups),
                              {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 5e-4});
  });
}

// Thresholds and labels after three updates, against numpy.percentile in loss_ref.py.
TEST(PseudoLabelParity, ThresholdsMatchNumpyPercentile) {
  LABOR_REQUIRE_TORCH();
  TempDir dir;
  constexpr int steps = 3;
  const loss::PseudoLabelOptions opt{.num_classes = 6, .alpha = 0.3, .gamma = 4.0};
  loss::PseudoLabeler<float> labeler(opt);
  Tensor<std::int32_t> labels;
  for (int s = 0; s < steps; ++s) {
    auto x = normal(Shape{2, 6, 20, 30}, static_cast<std::uint64_t>(20 + s), 3.0f);
    for (std::int64_t i = 0; i < 600; ++i) x[5 * 600 + i] = x[11 * 600 + i] = -40.0f;  // class 5 absent
    Tensor<float> p(x.shape());
    for (std::int64_t n = 0; n < 2; ++n)
      for (std::int64_t i = 0; i < 600; ++i) {
        float m = -1e30f, sum = 0;
        for (std::int64_t c = 0; c < 6; ++c) m = std::max(m, x[(n * 6 + c) * 600 + i]);
        for (std::int64_t c = 0; c < 6; ++c) sum += p[(n * 6 + c) * 600 + i] = std::exp(x[(n * 6 + c) * 600 + i] - m);
        for (std::int64_t c = 0; c < 6; ++c) p[(n * 6 + c) * 600 + i] /= sum;
      }
    write_npy(dir / ("probs" + std::to_string(s) + ".npy"), p);
    labels = labeler.update_and_label(p);
  }
  run_torch("loss_ref.py", "pseudo_label", dir.path(), {"0.3", "4.0", "0.9", "0.9", "0.999", std::to_string(steps)});
  const auto ref = read_npy<double>(dir / "thresholds.npy");
  ASSERT_EQ(ref.numel(), 6);
  for (std::int64_t c = 0; c < 6; ++c)
    EXPECT_NEAR(labeler.thresholds()[static_cast<std::size_t>(c)], ref[c], 1e-12) << c;
  EXPECT_EQ(labeler.thresholds()[5], 0.9);
  const auto ref_labels = read_npy<std::int32_t>(dir / "labels.npy");
  ASSERT_EQ(ref_labels.shape(), labels.shape());
  std::int64_t diff = 0, ignored = 0;
  for (std::int64_t i = 0; i < labels.numel(); ++i) {
    diff += labels[i] != ref_labels[i];
    ignored += labels[i] == 255;
  }
  EXPECT_EQ(diff, 0);
  EXPECT_GT(ignored, 0);
  EXPECT_LT(ignored, labels.numel());
}

}  // namespace
