// A downstream program: trains a two-layer network for a few steps and checks the loss falls.
#include <labor/labor.hpp>

#include <cstdio>

int main() {
  using namespace labor;
  Rng rng(7);
  Tensor<float> x(Shape{2, 3, 8, 8});
  fill_normal(x.view(), rng);
  Tensor<std::int32_t> y(Shape{2, 8, 8});
  for (std::int64_t i = 0; i < y.numel(); ++i) y[i] = x[i] > 0 ? 1 : 0;

  nn::Sequential<nn::Conv2d<float>, nn::ReLU<float>, nn::Conv2d<float>> net(
      nn::Conv2d<float>(nn::Conv2dOptions{.in_channels = 3, .out_channels = 8, .kernel_size = 3, .padding = 1}, rng),
      nn::ReLU<float>{},
      nn::Conv2d<float>(nn::Conv2dOptions{.in_channels = 8, .out_channels = 2, .kernel_size = 1}, rng));
  optim::Sgd<float> sgd({{nn::trainable_parameters(net), 1.0}}, optim::SgdOptions{.lr = 0.1, .momentum = 0.9});

  float first = 0, last = 0;
  for (int step = 0; step < 20; ++step) {
    nn::zero_grad(net);
    auto logits = net.forward(x);
    auto loss = loss::cross_entropy(logits, y);
    net.backward(loss.grad);
    sgd.step();
    if (step == 0) first = loss.value;
    last = loss.value;
  }
  std::printf("consumer: loss %.4f -> %.4f\n", first, last);
  return last < first ? 0 : 1;
}
