// A downstream .cu file sees both devices through the umbrella header: it instantiates a small
// network, a loss and an optimiser on labor::cuda (so cudart and cuBLAS must link), and runs them
// only where a GPU is present.
#include <labor/labor.hpp>

#include <cstdio>

namespace {

using labor::cuda;
using labor::Shape;
using labor::Tensor;

// One SGD step of a 3×3 convolution on the GPU; returns the loss.
float gpu_step() {
  labor::Rng rng(1);
  labor::nn::Conv2d<float, cuda> conv({.in_channels = 3, .out_channels = 4, .kernel_size = 3, .padding = 1}, rng);
  labor::optim::Sgd<float, cuda> sgd({{labor::nn::trainable_parameters(conv), 1.0}}, {.lr = 0.1, .momentum = 0.9});
  Tensor<float, cuda> x(Shape{2, 3, 8, 8});
  labor::fill_normal(x.view(), rng);
  Tensor<std::int32_t, cuda> y(Shape{2, 8, 8});
  y.fill(1);
  const auto loss = labor::loss::cross_entropy(conv.forward(x), y);
  conv.backward(loss.grad);
  sgd.step();
  return loss.value;
}

}  // namespace

int main() {
  labor::Tensor<float, labor::cpu> host(labor::Shape{4});
  static_assert(labor::Device<labor::cuda>);
  if (labor::cuda_kernels::device_count() == 0) {
    std::printf("consumer_cuda: compiled and linked with %d host elements; no GPU to run on\n",
                static_cast<int>(host.numel()));
    return 0;
  }
  std::printf("consumer_cuda: one GPU step, loss %.4f\n", static_cast<double>(gpu_step()));
  return 0;
}
