#pragma once
// One LabOR adaptation iteration on fixed random batches, for the training benchmarks on either
// device (train_gpu_bench.cu on cuda, shared_cores_bench.cpp on cpu): LaborTrainer::segmenter_step
// of the adaptation stage (source cross-entropy; target cross-entropy on labeled pixels and the
// adversarial loss through the discriminator; SGD step of the segmenter; Adam step of the
// discriminator). The same iteration in PyTorch: benchmarks/torch_train_step.py.
//
//   auto it = labor::bench::TrainIteration<Backbone, D>(std::move(backbone), classes, dilations, ndf, n, h, w);
//   it.step();   // one iteration (two warm-up iterations have already run)

#include <cstdint>
#include <utility>
#include <vector>

#include <labor/core/rng.hpp>
#include <labor/core/tensor.hpp>
#include <labor/models/aspp.hpp>
#include <labor/models/fc_discriminator.hpp>
#include <labor/train/trainer.hpp>

namespace labor::bench {

template <class B, Device D = cpu>
class TrainIteration {
 public:
  using Head = models::AsppHead<float, D>;
  using Disc = models::FcDiscriminator<float, D>;
  using Trainer = train::LaborTrainer<B, Head, Disc>;

  /// A trainer over `backbone` with an ASPP head (`dilations`) of `classes` classes and a
  /// discriminator of width `ndf`, batches of n source and n target images of h×w.
  TrainIteration(B backbone, std::int64_t classes, std::vector<std::int64_t> dilations, std::int64_t ndf, std::int64_t n,
                 std::int64_t h, std::int64_t w)
      : trainer_(make_trainer(std::move(backbone), classes, std::move(dilations), ndf)),
        options_(train::LaborOptions{}.adapt),
        opt_(trainer_.segmenter_optimizers(options_)) {
    Rng rng(11);
    Tensor<float> xs(Shape{n, 3, h, w}), xt(Shape{n, 3, h, w}), u(Shape{2, n, h, w});
    fill_normal(xs.view(), rng);
    fill_normal(xt.view(), rng);
    fill_uniform(u.view(), rng);
    Tensor<std::int32_t> ys(Shape{n, h, w}), yt(Shape{n, h, w});
    const auto c = static_cast<std::int32_t>(classes);
    for (std::int64_t i = 0; i < ys.numel(); ++i) {
      ys[i] = static_cast<std::int32_t>(u[i] * static_cast<float>(classes)) % c;
      const float v = u[ys.numel() + i];  // a few ignored target pixels
      yt[i] = v < 0.1f ? 255 : static_cast<std::int32_t>(v * static_cast<float>(classes)) % c;
    }
    xs_ = xs.template to<D>();
    xt_ = xt.template to<D>();
    ys_ = ys.template to<D>();
    yt_ = yt.template to<D>();
    trainer_.model().set_training(true);
    trainer_.discriminator().set_training(true);
    for (int warm = 0; warm < 2; ++warm) step();
  }

  /// One iteration; on cuda it returns when its loss values have reached the host.
  void step() {
    info_.losses.clear();
    trainer_.segmenter_step(opt_, options_, it_++ % options_.iterations, xs_, ys_, &xt_, &yt_, info_);
  }

  /// The source loss of the last iteration.
  double source_loss() const { return info_.losses.empty() ? 0.0 : info_.losses.front().second; }

 private:
  static Trainer make_trainer(B backbone, std::int64_t classes, std::vector<std::int64_t> dilations, std::int64_t ndf) {
    Rng rng(7);
    const std::int64_t features = backbone.out_channels();
    auto make_head = [features, classes, dilations](Rng& r) {
      return Head({.in_channels = features, .num_classes = classes, .dilations = dilations}, r);
    };
    Head head = make_head(rng);
    Disc disc({.num_classes = classes, .ndf = ndf}, rng);
    return Trainer({std::move(backbone), std::move(head)}, std::move(disc), make_head, train::LaborOptions{});
  }

  Trainer trainer_;
  train::SegmenterStageOptions options_;
  typename Trainer::SegmenterOptimizers opt_;
  Tensor<float, D> xs_, xt_;
  Tensor<std::int32_t, D> ys_, yt_;
  train::StepInfo info_;
  std::int64_t it_ = 0;
};

}  // namespace labor::bench
