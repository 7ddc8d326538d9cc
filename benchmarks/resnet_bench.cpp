// One training step (forward, backward, gradient reset) of DeepLab-v2 — ResNet-101 in DeepLab-v2
// layout (output stride 8, frozen batch norm) with the four-branch ASPP classifier — on CPU.
// Reports images/s (items_per_second) and the process's peak resident memory (peak_rss_MiB,
// getrusage's ru_maxrss). Compare with PyTorch in the same run: benchmarks/compare_torch.py resnet.
#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <labor/core/parallel.hpp>
#include <labor/models/aspp.hpp>
#include <labor/models/resnet.hpp>
#include <labor/models/segmenter.hpp>
#include <labor/nn/layer.hpp>

namespace {

using labor::Shape;
using labor::Tensor;
namespace models = labor::models;
using DeepLab = models::Segmenter<models::BottleneckResNet<float>, models::AsppHead<float>>;

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

// Arguments: depth, classes, height, width (batch 1).
void BM_DeepLabV2Train(benchmark::State& state) {
  const std::int64_t depth = state.range(0), classes = state.range(1), h = state.range(2), w = state.range(3);
  labor::Rng rng(1);
  DeepLab net(models::BottleneckResNet<float>(models::deeplabv2_options(depth), rng),
              models::AsppHead<float>({.in_channels = 2048, .num_classes = classes}, rng));
  net.set_training(true);  // frozen batch norm: running statistics, as in DeepLab-v2 training
  Tensor<float> x(Shape{1, 3, h, w});
  labor::fill_normal(x.view(), rng);
  Tensor<float> gy(net.forward(x).shape());
  labor::fill_normal(gy.view(), rng);
  net.backward(gy);  // warm-up step: the layers' scratch buffers exist from here on (steady state)
  for (auto _ : state) {
    labor::nn::zero_grad(net);
    auto y = net.forward(x);
    auto dx = net.backward(gy);
    benchmark::DoNotOptimize(dx.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["peak_rss_MiB"] = peak_rss_mib();
  state.counters["threads"] = labor::num_threads();
}

BENCHMARK(BM_DeepLabV2Train)
    ->ArgNames({"depth", "classes", "h", "w"})
    ->Args({101, 19, 256, 512})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
