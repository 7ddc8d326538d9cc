// CPU/GPU parity of the nn layers: each case is one template over the device, run on the CPU and
// on the GPU with the same random inputs; outputs, input gradients and parameter gradients agree
// within float tolerance. Label `gpu`; skipped without a CUDA device.
#include <gtest/gtest.h>

#include <labor/labor.hpp>

#include "support/device_parity.hpp"

namespace {

using labor::cpu;
using labor::cuda;
using labor::Device;
using labor::Shape;
using labor::Tensor;
using labor::testing::expect_close;
using labor::testing::on;
using labor::testing::PoisonScope;
using labor::testing::random_normal;
namespace nn = labor::nn;

constexpr double tol = 1e-5;

// ---------------------------------------------------------------------------------------------
// Activations

template <Device D>
struct ActivationOut {
  Tensor<float, D> relu_y, relu_dx, leaky_y, leaky_dx;
};

template <Device D>
ActivationOut<D> run_activations(const Tensor<float>& x_host, const Tensor<float>& g_host) {
  const auto x = on<D>(x_host), g = on<D>(g_host);
  nn::ReLU<float, D> relu;
  nn::LeakyReLU<float, D> leaky(0.2);
  ActivationOut<D> out;
  out.relu_y = relu.forward(x);
  out.relu_dx = relu.backward(g);
  out.leaky_y = leaky.forward(x);
  out.leaky_dx = leaky.backward(g);
  return out;
}

TEST(NnGpu, ActivationsMatchCpu) {
  LABOR_REQUIRE_GPU();
  PoisonScope poison;
  labor::Rng rng(11);
  auto x = random_normal(Shape{3, 5, 17, 19}, rng);
  x[0] = 0.0f;  // the derivative at 0 is PyTorch's 0 for ReLU and the slope for LeakyReLU
  const auto g = random_normal(x.shape(), rng);
  const auto want = run_activations<cpu>(x, g);
  const auto got = run_activations<cuda>(x, g);
  expect_close(want.relu_y, got.relu_y, tol, "relu y");
  expect_close(want.relu_dx, got.relu_dx, tol, "relu dx");
  expect_close(want.leaky_y, got.leaky_y, tol, "leaky y");
  expect_close(want.leaky_dx, got.leaky_dx, tol, "leaky dx");
}

}  // namespace
