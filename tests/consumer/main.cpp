// A downstream program: trains a two-layer network for a few steps and checks the loss falls, then
// selects pixels with SPL from its two predictions. Built once per Thrust device system of host
// code (CONSUMER_THRUST_SYSTEM: what the target asked labor for, or defined itself).
#include <labor/labor.hpp>

#include <cstdio>

#if defined(CONSUMER_THRUST_SYSTEM)
static_assert(THRUST_DEVICE_SYSTEM == CONSUMER_THRUST_SYSTEM, "Thrust's device system is not the one the target chose");
#endif

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
  // The samplers run on their own explicit host system whatever the default device system is.
  const auto p1 = nn::softmax_channels(net.forward(x));
  auto shifted = x;
  for (std::int64_t i = 0; i < shifted.numel(); ++i) shifted[i] = -shifted[i];
  const auto p2 = nn::softmax_channels(net.forward(shifted));
  const auto q = samplers::SplSampler{}.select(p1.view(), p2.view());
  std::printf("consumer: loss %.4f -> %.4f, SPL selected %lld pixels\n", first, last,
              static_cast<long long>(q.selected_pixels()));
  return last < first && q.selected_pixels() > 0 ? 0 : 1;
}
