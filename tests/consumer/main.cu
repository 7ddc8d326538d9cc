// A downstream .cu file sees both devices through the umbrella header.
#include <labor/labor.hpp>

#include <cstdio>

int main() {
  labor::Tensor<float, labor::cpu> host(labor::Shape{4});
  static_assert(labor::Device<labor::cuda>);
  std::printf("consumer_cuda: compiled with %d elements\n", static_cast<int>(host.numel()));
  return 0;
}
