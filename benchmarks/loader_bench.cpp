// Loader throughput in images/s (PNG decode + label mapping + augmentation + normalised batch) on
// fixture folders written once per run to a temporary folder, from the synthetic target domain:
// - Small: 64 images of 128×64 (W×H), the small CPU presets' size, batch 8, no augmentation;
// - Large: 16 images of 1024×512 resized to 512×256 on decode, then a 224×448 random crop and a
//   random flip, batch 4.
// Each with workers 0 (everything inside next()) and 2 (background threads). Real time is measured,
// since the work happens on other threads.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

#include <labor/data.hpp>
#include <labor/io/png.hpp>

namespace {

namespace data = labor::data;
namespace fs = std::filesystem;
using labor::Shape;
using labor::Tensor;

/// A folder of `n` image/label PNG pairs of h×w, removed at exit.
class FixtureFolder {
 public:
  FixtureFolder(std::int64_t n, std::int64_t h, std::int64_t w) {
    root_ = fs::temp_directory_path() / ("labor-loader-bench-" + std::to_string(h) + "x" + std::to_string(w));
    fs::remove_all(root_);
    fs::create_directories(root_ / "images");
    fs::create_directories(root_ / "labels");
    const data::SyntheticOptions o{.height = h, .width = w, .seed = 1};
    for (std::int64_t i = 0; i < n; ++i) {
      Tensor<float> image;
      Tensor<std::int32_t> label;
      data::synthetic_scene(o, data::Domain::target, 0, i, image, label);
      Tensor<std::uint8_t> rgb(Shape{h, w, 3}), gray(Shape{h, w});
      for (std::int64_t p = 0; p < h * w; ++p) {
        for (std::int64_t c = 0; c < 3; ++c)
          rgb[p * 3 + c] = static_cast<std::uint8_t>(image[c * h * w + p] * 255.0f + 0.5f);
        gray[p] = static_cast<std::uint8_t>(label[p]);
      }
      const std::string name = std::to_string(100000 + i) + ".png";
      labor::io::write_png(root_ / "images" / name, rgb);
      labor::io::write_png(root_ / "labels" / name, gray);
    }
  }
  ~FixtureFolder() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  FixtureFolder(const FixtureFolder&) = delete;
  FixtureFolder& operator=(const FixtureFolder&) = delete;
  [[nodiscard]] std::string spec() const {
    return "folder:" + (root_ / "images").string() + ":" + (root_ / "labels").string();
  }

 private:
  fs::path root_;
};

const FixtureFolder& fixture(std::int64_t n, std::int64_t h, std::int64_t w) {
  static std::map<std::int64_t, std::unique_ptr<FixtureFolder>> cache;
  auto& f = cache[h * 100000 + w];
  if (!f) f = std::make_unique<FixtureFolder>(n, h, w);
  return *f;
}

void run(benchmark::State& state, const data::FileDataset& ds, data::LoaderOptions o) {
  o.workers = static_cast<int>(state.range(0));
  data::Loader loader(ds, o);
  (void)loader.next();  // the workers are started and the queue is filling
  for (auto _ : state) {
    auto b = loader.next();
    benchmark::DoNotOptimize(b.images.data());
  }
  state.SetItemsProcessed(state.iterations() * o.batch_size);
}

void BM_LoaderSmall(benchmark::State& state) {
  const auto ds = data::open_dataset(fixture(64, 64, 128).spec(), {.num_classes = data::synthetic_num_classes});
  run(state, ds, {.batch_size = 8, .seed = 1, .prefetch = 4});
}

void BM_LoaderLarge(benchmark::State& state) {
  const auto ds = data::open_dataset(fixture(16, 512, 1024).spec(),
                                     {.num_classes = data::synthetic_num_classes, .height = 256, .width = 512});
  run(state, ds,
      {.batch_size = 4, .seed = 1, .prefetch = 4, .augment = {.crop_height = 224, .crop_width = 448, .flip = true}});
}

}  // namespace

BENCHMARK(BM_LoaderSmall)->Arg(0)->Arg(2)->ArgName("workers")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoaderLarge)->Arg(0)->Arg(2)->ArgName("workers")->UseRealTime()->Unit(benchmark::kMillisecond);
