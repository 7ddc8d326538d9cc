// Unit tests of the optim module: SGD and Adam against hand-computed updates, groups, frozen
// parameters, state round trips, the poly schedule and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include <labor/optim.hpp>

#include "support/errors.hpp"

namespace {

using labor::testing::expect_error;

using labor::Error;
using labor::Shape;
using labor::Tensor;
using Param = labor::nn::Parameter<double>;
namespace optim = labor::optim;

Param scalar_param(double value) {
  Param p(Shape{1});
  p.value[0] = value;
  return p;
}

// Runs `opt` on a one-element parameter with the scripted gradients; returns the values after each step.
template <class Opt>
std::vector<double> trajectory(Opt& opt, Param& p, const std::vector<double>& grads) {
  std::vector<double> out;
  for (double g : grads) {
    opt.zero_grad();
    p.grad[0] += g;
    opt.step();
    out.push_back(p.value[0]);
  }
  return out;
}

const std::vector<double> kGrads = {0.5, -0.2, 0.3};

TEST(Sgd, PlainStep) {
  Param p = scalar_param(1.0);
  optim::Sgd<double> sgd({{{&p}}}, {.lr = 0.1});
  EXPECT_EQ(trajectory(sgd, p, {0.5})[0], 1.0 - 0.1 * 0.5);
  EXPECT_TRUE(sgd.state()[0].momentum_buffer.empty()) << "no buffer without momentum";
}

TEST(Sgd, MomentumAndWeightDecay) {
  // d = g + 0.1·p; b = d (first), then 0.9·b + d; p -= 0.1·b.
  // 1: d = 0.6, b = 0.6, p = 0.94. 2: d = -0.106, b = 0.434, p = 0.8966. 3: d = 0.38966, b = 0.78026, p = 0.818574.
  Param p = scalar_param(1.0);
  optim::Sgd<double> sgd({{{&p}}}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1});
  const auto v = trajectory(sgd, p, kGrads);
  EXPECT_NEAR(v[0], 0.94, 1e-15);
  EXPECT_NEAR(v[1], 0.8966, 1e-15);
  EXPECT_NEAR(v[2], 0.818574, 1e-15);
  EXPECT_NEAR(sgd.state()[0].momentum_buffer[0], 0.78026, 1e-15);
}

TEST(Sgd, Dampening) {
  // As above with b = 0.9·b + 0.5·d after the first step: p = 0.94, 0.8913, 0.8280135.
  Param p = scalar_param(1.0);
  optim::Sgd<double> sgd({{{&p}}}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1, .dampening = 0.5});
  const auto v = trajectory(sgd, p, kGrads);
  EXPECT_NEAR(v[0], 0.94, 1e-15);
  EXPECT_NEAR(v[1], 0.8913, 1e-15);
  EXPECT_NEAR(v[2], 0.8280135, 1e-15);
}

TEST(Sgd, Nesterov) {
  // 1: d = 0.5, b = 0.5, step d + 0.9·b = 0.95, p = 0.905.
  // 2: d = -0.2, b = 0.45 - 0.2 = 0.25, step -0.2 + 0.225 = 0.025, p = 0.9025.
  Param p = scalar_param(1.0);
  optim::Sgd<double> sgd({{{&p}}}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  const auto v = trajectory(sgd, p, {0.5, -0.2});
  EXPECT_NEAR(v[0], 0.905, 1e-15);
  EXPECT_NEAR(v[1], 0.9025, 1e-15);
}

TEST(Sgd, GroupMultipliersSetLrAndFrozenParameters) {
  Param a = scalar_param(1.0), b = scalar_param(1.0), frozen = scalar_param(1.0);
  frozen.trainable = false;
  optim::Sgd<double> sgd({{{&a, &frozen}, 1.0}, {{&b}, 10.0}}, {.lr = 0.01, .momentum = 0.9});
  EXPECT_EQ(sgd.num_parameters(), 3u);
  EXPECT_EQ(sgd.lr(), 0.01);
  for (Param* p : {&a, &b, &frozen}) p->grad[0] = 1.0;
  sgd.step();
  EXPECT_NEAR(a.value[0], 1.0 - 0.01, 1e-15);
  EXPECT_NEAR(b.value[0], 1.0 - 0.1, 1e-15);
  EXPECT_EQ(frozen.value[0], 1.0);
  EXPECT_TRUE(sgd.state()[1].momentum_buffer.empty()) << "frozen parameter has no state";
  EXPECT_EQ(sgd.state()[2].momentum_buffer[0], 1.0);

  sgd.set_lr(0.001);
  EXPECT_EQ(sgd.lr(), 0.001);
  sgd.step();  // same grads: buffer 1.9
  EXPECT_NEAR(a.value[0], 0.99 - 0.001 * 1.9, 1e-15);
  EXPECT_NEAR(b.value[0], 0.9 - 0.01 * 1.9, 1e-15);
  EXPECT_EQ(frozen.value[0], 1.0);

  sgd.zero_grad();
  for (Param* p : {&a, &b, &frozen}) EXPECT_EQ(p->grad[0], 0.0);
}

TEST(Sgd, TensorParametersAndStateRoundTrip) {
  Param p(Shape{2, 3});
  for (std::int64_t i = 0; i < 6; ++i) p.value[i] = 0.1 * static_cast<double>(i);
  Param q = p;
  const optim::SgdOptions opt{.lr = 0.05, .momentum = 0.8, .weight_decay = 1e-2};
  optim::Sgd<double> first({{{&p}}}, opt);
  auto grads = [](int step, std::int64_t i) {
    return std::sin(1.0 + static_cast<double>(step) * 6 + static_cast<double>(i));
  };
  for (int s = 0; s < 2; ++s) {
    first.zero_grad();
    for (std::int64_t i = 0; i < 6; ++i) p.grad[i] = grads(s, i);
    first.step();
  }
  // A second optimizer restored from the first's state continues identically.
  q.value = p.value;
  optim::Sgd<double> second({{{&q}}}, opt);
  second.state() = first.state();
  for (int s = 2; s < 4; ++s) {
    for (std::int64_t i = 0; i < 6; ++i) p.grad[i] = q.grad[i] = grads(s, i);
    first.step();
    second.step();
  }
  for (std::int64_t i = 0; i < 6; ++i) EXPECT_EQ(q.value[i], p.value[i]);
}

TEST(Sgd, BadInputsAreErrors) {
  Param p = scalar_param(1.0);
  expect_error([&] { optim::Sgd<double>({{{&p}}}, {.lr = 0.1, .nesterov = true}); }, "nesterov");
  expect_error([&] { optim::Sgd<double>({{{&p}}}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}); },
               "dampening");
  expect_error([&] { optim::Sgd<double>({{{&p}}}, {.lr = -1}); }, "lr");
  expect_error([&] { optim::Sgd<double>({{{&p}}}, {.momentum = -0.5}); }, "momentum");
  expect_error([&] { optim::Sgd<double>({{{&p}}}, {.weight_decay = -0.5}); }, "weight_decay");
  expect_error([&] { optim::Sgd<double>({{{nullptr}}}); }, "groups[0].params[0]");
  expect_error([&] { optim::Sgd<double>({{{&p}, -1.0}}); }, "lr_mult");
  optim::Sgd<double> sgd({{{&p}}}, {.momentum = 0.9});
  expect_error([&] { sgd.set_lr(std::nan("")); }, "lr");
  p.grad = Tensor<double>(Shape{2});
  expect_error([&] { sgd.step(); }, "grad shape");
  p.grad = Tensor<double>(Shape{1});
  sgd.state()[0].momentum_buffer = Tensor<double>(Shape{3});
  expect_error([&] { sgd.step(); }, "momentum_buffer");
}

TEST(Adam, HandComputedSteps) {
  // m ← 0.9m + 0.1g, v ← 0.999v + 0.001g², p ← p − lr/(1 − 0.9^t)·m / (√v/√(1 − 0.999^t) + 1e-8).
  // Step 1 moves by lr·g/(|g| + 1e-8); the others were evaluated with the formula in Python.
  Param p = scalar_param(1.0);
  optim::Adam<double> adam({{{&p}}}, {.lr = 0.1});
  const auto v = trajectory(adam, p, kGrads);
  EXPECT_NEAR(v[0], 1.0 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-15);
  EXPECT_NEAR(v[1], 0.8654394181165107, 1e-14);
  EXPECT_NEAR(v[2], 0.8109953836811553, 1e-14);
  EXPECT_EQ(adam.state()[0].step, 3);
  EXPECT_NEAR(adam.state()[0].exp_avg[0], 0.9 * (0.9 * 0.05 - 0.02) + 0.03, 1e-15);
}

TEST(Adam, WeightDecayGroupsAndFrozen) {
  // With decay, step 1 uses g' = g + λp; the first Adam step is lr·g'/(|g'| + ε) whatever g' is.
  Param a = scalar_param(2.0), b = scalar_param(2.0), frozen = scalar_param(2.0);
  frozen.trainable = false;
  optim::Adam<double> adam({{{&a}}, {{&frozen, &b}, 0.5}},
                           {.lr = 0.01, .beta1 = 0.5, .beta2 = 0.9, .weight_decay = 0.5});
  for (Param* p : {&a, &b, &frozen}) p->grad[0] = -0.4;  // g' = -0.4 + 1.0 = 0.6
  adam.step();
  EXPECT_NEAR(a.value[0], 2.0 - 0.01 * 0.6 / (0.6 + 1e-8), 1e-15);
  EXPECT_NEAR(b.value[0], 2.0 - 0.005 * 0.6 / (0.6 + 1e-8), 1e-15);
  EXPECT_EQ(frozen.value[0], 2.0);
  EXPECT_EQ(adam.state()[1].step, 0);
  EXPECT_EQ(adam.state()[2].step, 1);
  // Step 2 for a by the formula, with β1 = 0.5, β2 = 0.9.
  const double p1 = a.value[0], g2 = -0.4 + 0.5 * p1;
  const double m = 0.5 * (0.5 * 0.6) + 0.5 * g2;
  const double v = 0.9 * (0.1 * 0.36) + 0.1 * g2 * g2;
  const double expected = p1 - 0.01 / (1 - 0.25) * m / (std::sqrt(v) / std::sqrt(1 - 0.81) + 1e-8);
  adam.step();
  EXPECT_NEAR(a.value[0], expected, 1e-15);
}

TEST(Adam, BadInputsAreErrors) {
  Param p = scalar_param(1.0);
  expect_error([&] { optim::Adam<double>({{{&p}}}, {.beta1 = 1.0}); }, "beta1");
  expect_error([&] { optim::Adam<double>({{{&p}}}, {.beta2 = -0.1}); }, "beta2");
  expect_error([&] { optim::Adam<double>({{{&p}}}, {.eps = -1}); }, "eps");
  optim::Adam<double> adam({{{&p}}});
  adam.state()[0].exp_avg = Tensor<double>(Shape{2});
  expect_error([&] { adam.step(); }, "exp_avg");
}

// A step that fails on a later parameter leaves the earlier ones (and all state) as they were.
TEST(Optimizers, FailedStepChangesNothing) {
  Param a = scalar_param(1.0), b = scalar_param(2.0), c = scalar_param(3.0);
  for (Param* q : {&a, &b, &c}) q->grad[0] = 0.5;
  optim::Sgd<double> sgd({{{&a, &b, &c}}}, {.lr = 0.1, .momentum = 0.9});
  c.grad = Tensor<double>(Shape{2});
  expect_error([&] { sgd.step(); }, "parameter 2");
  EXPECT_EQ(a.value[0], 1.0);
  EXPECT_EQ(b.value[0], 2.0);
  EXPECT_TRUE(sgd.state()[0].momentum_buffer.empty());
  c.grad = Tensor<double>(Shape{1});
  sgd.state()[2].momentum_buffer = Tensor<double>(Shape{3});
  expect_error([&] { sgd.step(); }, "momentum_buffer");
  EXPECT_EQ(a.value[0], 1.0);

  optim::Adam<double> adam({{{&a, &b, &c}}});
  adam.state()[2].exp_avg_sq = Tensor<double>(Shape{4});
  expect_error([&] { adam.step(); }, "exp_avg_sq");
  EXPECT_EQ(a.value[0], 1.0);
  EXPECT_EQ(b.value[0], 2.0);
  EXPECT_EQ(adam.state()[0].step, 0);
  EXPECT_TRUE(adam.state()[0].exp_avg.empty());
}

TEST(PolyLr, Values) {
  EXPECT_EQ(optim::poly_lr(0.01, 0, 100), 0.01);
  EXPECT_NEAR(optim::poly_lr(0.01, 50, 100), 0.005358867312681466, 1e-18);
  EXPECT_NEAR(optim::poly_lr(2.5e-4, 25, 100, 1.0), 1.875e-4, 1e-18);
  EXPECT_EQ(optim::poly_lr(0.01, 100, 100), 0.0);
}

TEST(PolyLr, BadArgumentsAreErrors) {
  expect_error([] { (void)optim::poly_lr(0.01, 0, 0); }, "max_iter");
  expect_error([] { (void)optim::poly_lr(0.01, -1, 10); }, "iter");
  expect_error([] { (void)optim::poly_lr(0.01, 11, 10); }, "got 11");
  expect_error([] { (void)optim::poly_lr(-0.01, 1, 10); }, "base_lr");
}

}  // namespace
