#pragma once
/// @file trainer.hpp
/// The LabOR schedule (DESIGN §1): UDA, pseudo-labels, the pixel selector with discrepancy
/// maximisation, selection through an oracle into a label store, and adaptation — as stages a
/// program can run one by one (and checkpoint between), or all at once with LaborTrainer::run.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "labor/annotate/label_store.hpp"
#include "labor/annotate/oracle.hpp"
#include "labor/core/elementwise.hpp"
#include "labor/core/error.hpp"
#include "labor/core/labels.hpp"
#include "labor/core/rng.hpp"
#include "labor/core/tensor.hpp"
#include "labor/data/dataset.hpp"
#include "labor/data/loader.hpp"
#include "labor/loss/bce_with_logits.hpp"
#include "labor/loss/cross_entropy.hpp"
#include "labor/loss/discrepancy.hpp"
#include "labor/loss/pseudo_label.hpp"
#include "labor/loss/weight_cosine.hpp"
#include "labor/metrics/confusion_matrix.hpp"
#include "labor/models/discriminator.hpp"
#include "labor/models/segmenter.hpp"
#include "labor/nn/layer.hpp"
#include "labor/nn/residual.hpp"
#include "labor/nn/softmax.hpp"
#include "labor/nn/upsample.hpp"
#include "labor/optim/adam.hpp"
#include "labor/optim/schedule.hpp"
#include "labor/optim/sgd.hpp"
#include "labor/samplers/query.hpp"
#include "labor/samplers/sampler.hpp"
#include "labor/train/checkpoint.hpp"
#include "labor/train/options.hpp"

namespace labor::train {

/// What a stage reports after each iteration.
struct StepInfo {
  std::string_view stage;
  /// 1-based iteration and the stage's iteration count.
  std::int64_t iteration = 0;
  std::int64_t iterations = 0;
  /// The backbone's learning rate at this iteration.
  double lr = 0;
  /// The iteration's loss values by name ("src", "tgt", "adv", "d", "pl", "dis").
  std::vector<std::pair<std::string_view, double>> losses;
};

/// Called after every training iteration (progress bars, logs); may be empty.
using Monitor = std::function<void(const StepInfo&)>;

/// Dense target label maps indexed by target pool image: H×W, a class or 255 (unlabeled).
using TargetLabels = std::vector<Tensor<std::int32_t, cpu>>;

/// The label store's answers as dense maps for the `images` pool images of size h×w (255 where
/// nothing was answered, and for images the store does not hold).
inline TargetLabels dense_labels(const annotate::LabelStore& store, std::int64_t images, std::int64_t h,
                                 std::int64_t w) {
  TargetLabels out;
  out.reserve(static_cast<std::size_t>(images));
  for (std::int64_t i = 0; i < images; ++i) {
    if (store.contains(i)) {
      out.push_back(store.dense(i));
      check_shape("dense_labels: stored image", out.back().shape(), Shape{h, w});
    } else {
      out.push_back(Tensor<std::int32_t, cpu>::full(Shape{h, w}, labor::ignore_label));
    }
  }
  return out;
}

/// Every label of a dataset as TargetLabels (the fully supervised upper bound).
template <data::Dataset S>
TargetLabels all_labels(const S& dataset) {
  TargetLabels out;
  for (std::int64_t i = 0; i < dataset.size(); ++i) out.push_back(dataset.label(i));
  return out;
}

/// Seed of a named stage: the schedule's seed mixed with the stage name and round (FNV-1a).
inline std::uint64_t stage_seed(std::uint64_t seed, std::string_view stage, std::int64_t round = 0) {
  std::uint64_t h = 1469598103934665603ull ^ seed;
  for (char c : stage) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return (h ^ static_cast<std::uint64_t>(round)) * 1099511628211ull;
}


namespace detail {

/// SGD over a backbone (lr) and a head (head_lr_mult × lr), on the backbone's device.
template <class Bk, class Hd>
auto make_sgd(Bk& backbone, std::vector<Hd*> heads, const SgdSchedule& s) {
  using D = typename Bk::device_type;
  std::vector<optim::ParamGroup<float, D>> groups{{nn::trainable_parameters(backbone), 1.0}};
  std::vector<nn::Parameter<float, D>*> head_params;
  for (Hd* h : heads)
    for (auto* p : nn::trainable_parameters(*h)) head_params.push_back(p);
  groups.push_back({head_params, s.head_lr_mult});
  return optim::Sgd<float, D>(groups, {.lr = s.lr, .momentum = s.momentum, .weight_decay = s.weight_decay});
}


/// `t` on device To: a copy when it lives elsewhere, `t` itself (a reference) when it is there.
template <Device To, class T, Device From>
decltype(auto) moved_to(const Tensor<T, From>& t) {
  if constexpr (std::is_same_v<To, From>)
    return (t);
  else
    return t.template to<To>();
}

/// Optimiser states as host tensors (a StageState) and back on device D.
template <Device To, Device From>
std::vector<optim::SgdState<float, To>> convert(const std::vector<optim::SgdState<float, From>>& in) {
  std::vector<optim::SgdState<float, To>> out(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) out[i].momentum_buffer = moved_to<To>(in[i].momentum_buffer);
  return out;
}
template <Device To, Device From>
std::vector<optim::AdamState<float, To>> convert(const std::vector<optim::AdamState<float, From>>& in) {
  std::vector<optim::AdamState<float, To>> out(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    out[i].step = in[i].step;
    out[i].exp_avg = moved_to<To>(in[i].exp_avg);
    out[i].exp_avg_sq = moved_to<To>(in[i].exp_avg_sq);
  }
  return out;
}

}  // namespace detail

/// The LabOR trainer over a backbone B, a head H and a discriminator Dis (float, on the device
/// `B::device_type`: cpu, or cuda in a .cu file; data is loaded on the host and copied over). It owns
/// the segmenter A (G_A + F_A) and the discriminator D; every stage is a member function, so a
/// program can run, time and checkpoint them one by one, and copies of a trainer share nothing
/// (value semantics: copying one copies every weight). `run` chains the stages for R rounds.
template <models::Backbone B, models::Head H, models::Discriminator Dis>
class LaborTrainer {
 public:
  using Model = models::Segmenter<B, H>;
  using Selector = models::PixelSelector<B, H>;
  /// Makes a freshly initialised head (the selector's second head F_B2) from a generator.
  using HeadFactory = std::function<H(Rng&)>;
  /// The device the models, losses and optimisers run on.
  using device_type = typename B::device_type;
  using TensorF = Tensor<float, device_type>;
  using TensorI = Tensor<std::int32_t, device_type>;
  static_assert(std::is_same_v<typename B::value_type, float>, "LaborTrainer: float models");
  static_assert(std::is_same_v<typename H::device_type, device_type> &&
                    std::is_same_v<typename Dis::device_type, device_type>,
                "LaborTrainer: backbone, head and discriminator on one device");

  /// @throws labor::Error for options outside their ranges.
  LaborTrainer(Model model, Dis discriminator, HeadFactory make_head, LaborOptions options)
      : model_(std::move(model)),
        disc_(std::move(discriminator)),
        make_head_(std::move(make_head)),
        options_(std::move(options)) {
    validate(options_);
    LABOR_CHECK(static_cast<bool>(make_head_), "LaborTrainer: make_head: expected a callable, got none");
  }

  Model& model() { return model_; }
  Dis& discriminator() { return disc_; }
  [[nodiscard]] const LaborOptions& options() const { return options_; }
  void set_monitor(Monitor m) { monitor_ = std::move(m); }
  /// The factory of fresh heads (the selector's second head F_B2).
  [[nodiscard]] const HeadFactory& head_factory() const { return make_head_; }

  /// Called inside a stage every `every` iterations (not after its last): the stage's name, its
  /// state, and the selector being trained (nullptr in the segmenter stages, whose weights are
  /// model() and discriminator()). A program saves them to resume an interrupted stage.
  using CheckpointHook = std::function<void(std::string_view stage, const StageState&, Selector* selector)>;
  /// Sets the checkpoint hook (`every` ≥ 1; an empty hook turns it off).
  void set_checkpoint_hook(CheckpointHook hook, std::int64_t every) {
    LABOR_CHECK(!hook || every >= 1, "set_checkpoint_hook: every: expected >= 1, got {}", every);
    checkpoint_hook_ = std::move(hook);
    checkpoint_every_ = every;
  }

  /// Logits of `images` (N×3×H×W, normalised) upsampled to h×w.
  template <class M>
  TensorF logits(M& net, const TensorF& images, std::int64_t h, std::int64_t w) {
    return nn::upsample_bilinear(net.forward(images), h, w, options_.align_corners);
  }

  /// The optimisers of a segmenter stage: SGD over A (backbone at lr, head at head_lr_mult × lr)
  /// and Adam over D.
  struct SegmenterOptimizers {
    optim::Sgd<float, device_type> sgd;
    optim::Adam<float, device_type> adam;
  };

  /// Fresh optimisers for a segmenter stage with options `o`.
  SegmenterOptimizers segmenter_optimizers(const SegmenterStageOptions& o) {
    std::vector<H*> heads{&model_.head};
    return {detail::make_sgd(model_.backbone, heads, o.sgd),
            optim::Adam<float, device_type>({{nn::trainable_parameters(disc_), 1.0}},
                                            {.lr = o.d_lr, .beta1 = o.d_beta1, .beta2 = o.d_beta2})};
  }

  /// Stage 1 (UDA, or source-only with lambda_adv = 0) and stage 5 (adaptation): trains A on
  /// L_src + λ_tgt·L_tgt + λ_adv·L_adv for o.iterations, and D on its domain loss when λ_adv > 0.
  /// `target_labels` (dense maps per target image, 255 = unlabeled) enables L_tgt; without it and
  /// with λ_adv = 0 the target set is not read. Fresh optimisers each stage; the weights continue.
  /// `resume` continues the stage from a StageState the checkpoint hook reported (with model() and
  /// discriminator() restored to that point); the result equals an uninterrupted run's.
  template <data::Dataset S, data::Dataset T>
  void train_segmenter(std::string_view stage, const S& source, const T& target, const TargetLabels* target_labels,
                       const SegmenterStageOptions& o, std::uint64_t seed, const StageState* resume = nullptr) {
    validate(o, "train_segmenter");
    if (target_labels != nullptr)
      LABOR_CHECK(static_cast<std::int64_t>(target_labels->size()) == target.size(),
                  "train_segmenter: target_labels: expected one map per target image ({}), got {}", target.size(),
                  target_labels->size());
    const bool use_target = o.lambda_adv > 0 || target_labels != nullptr;
    auto opt = segmenter_optimizers(o);
    const std::int64_t first = restore(resume, stage, o.iterations, opt.sgd, &opt.adam);
    data::Loader<S> src_batches(source, loader_options(o.batch_size, seed, o.augment, true, first));
    // The target is read only when it is used; without target labels, its labels are not read.
    std::optional<data::Loader<T>> tgt_batches;
    if (use_target)
      tgt_batches.emplace(target,
                          loader_options(o.batch_size, seed ^ 0x5851F42D4C957F2Dull, o.augment, target_labels != nullptr,
                                         first),
                          target_labels != nullptr ? label_source(*target_labels) : data::LabelSource{});
    model_.set_training(true);
    disc_.set_training(true);
    for (std::int64_t it = first; it < o.iterations; ++it) {
      const data::Batch sb = src_batches.next();
      std::optional<data::Batch> tb;
      if (use_target) tb = tgt_batches->next();
      const auto& xs = detail::moved_to<device_type>(sb.images);
      const auto& ys = detail::moved_to<device_type>(sb.labels);
      StepInfo info{stage, it + 1, o.iterations, 0.0, {}};
      if (tb) {
        const auto& xt = detail::moved_to<device_type>(tb->images);
        if (target_labels != nullptr) {
          const auto& yt = detail::moved_to<device_type>(tb->labels);
          segmenter_step(opt, o, it, xs, ys, &xt, &yt, info);
        } else {
          segmenter_step(opt, o, it, xs, ys, &xt, nullptr, info);
        }
      } else {
        segmenter_step(opt, o, it, xs, ys, nullptr, nullptr, info);
      }
      if (monitor_) monitor_(info);
      report_checkpoint(stage, it + 1, o.iterations, opt.sgd, &opt.adam, nullptr);
    }
    model_.set_training(false);
  }

  /// Iteration `it` of a segmenter stage with options `o` on given batches (what train_segmenter runs
  /// each iteration; public for benchmarks and custom loops): L_src on (xs, ys); with a target batch
  /// `xt`, λ_tgt·L_tgt when `yt` is given and λ_adv·L_adv when λ_adv > 0; an SGD step of A at the
  /// poly rate of `it`, then D's Adam step on its domain loss. Loss values and the rate go to `info`.
  /// Models must be in training mode.
  void segmenter_step(SegmenterOptimizers& opt, const SegmenterStageOptions& o, std::int64_t it, const TensorF& xs,
                      const TensorI& ys, const TensorF* xt, const TensorI* yt, StepInfo& info) {
    const bool adversarial = o.lambda_adv > 0 && xt != nullptr;
    const double lr = optim::poly_lr(o.sgd.lr, it, o.iterations, o.sgd.poly_power);
    auto& sgd = opt.sgd;
    auto& adam = opt.adam;
    sgd.set_lr(lr);
    sgd.zero_grad();
    info.lr = lr;
    const loss::CrossEntropyOptions ce{.ignore_index = labor::ignore_label};
    // Source: L_src.
    const auto ls = model_.forward(xs);
    const auto us = nn::upsample_bilinear(ls, xs.size(2), xs.size(3), options_.align_corners);
    const auto l_src = loss::cross_entropy(us, ys, ce);
    model_.backward(nn::upsample_bilinear_backward(l_src.grad, ls.size(2), ls.size(3), options_.align_corners));
    info.losses.emplace_back("src", l_src.value);
    TensorF ps, pt, dt;
    if (adversarial) ps = nn::softmax_channels(us);
    if (xt != nullptr && (adversarial || yt != nullptr)) {
      // Target: λ_tgt·L_tgt on labeled pixels and λ_adv·L_adv (fool D into "source").
      const auto lt = model_.forward(*xt);
      const auto ut = nn::upsample_bilinear(lt, xt->size(2), xt->size(3), options_.align_corners);
      TensorF g(ut.shape());
      if (yt != nullptr) {
        const auto l_tgt = loss::cross_entropy(ut, *yt, ce);
        labor::axpy(g, static_cast<float>(o.lambda_tgt), l_tgt.grad);
        info.losses.emplace_back("tgt", l_tgt.value);
      }
      if (adversarial) {
        pt = nn::softmax_channels(ut);
        dt = disc_.forward(pt);
        const auto l_adv = loss::bce_with_logits(dt, 0.0f);
        TensorF gd = l_adv.grad;
        labor::scale(gd, static_cast<float>(o.lambda_adv));
        labor::axpy(g, 1.0f, nn::softmax_channels_backward(pt, disc_.backward(gd)));
        info.losses.emplace_back("adv", l_adv.value);
      }
      model_.backward(nn::upsample_bilinear_backward(g, lt.size(2), lt.size(3), options_.align_corners));
    }
    sgd.step();
    if (adversarial) {
      // D: ½·BCE(D(p_t), 1) + ½·BCE(D(p_s), 0); D's last forward was on p_t.
      adam.set_lr(optim::poly_lr(o.d_lr, it, o.iterations, o.sgd.poly_power));
      adam.zero_grad();
      auto l_t = loss::bce_with_logits(dt, 1.0f);
      labor::scale(l_t.grad, 0.5f);
      disc_.backward(l_t.grad);
      auto l_s = loss::bce_with_logits(disc_.forward(ps), 0.0f);
      labor::scale(l_s.grad, 0.5f);
      disc_.backward(l_s.grad);
      adam.step();
      info.losses.emplace_back("d", 0.5 * (l_t.value + l_s.value));
    }
  }

  /// Stage 2: IAST pseudo-labels of every target image from A (eq. 5). One pass updates the
  /// class thresholds batch by batch; a second labels every image with the final thresholds.
  /// @return one H×W map per image (255 below threshold).
  template <data::Dataset T>
  TargetLabels pseudo_labels(const T& target, const SelectorStageOptions& o) {
    loss::PseudoLabeler<float, device_type> labeler({.num_classes = static_cast<int>(model_.num_classes()),
                                        .alpha = o.pl_alpha,
                                        .gamma = o.pl_gamma,
                                        .momentum = o.pl_momentum,
                                        .init_threshold = o.pl_init,
                                        .max_threshold = o.pl_max});
    model_.set_training(false);
    const nn::NoGradGuard no_grad;
    for (int pass = 0; pass < 2; ++pass) {
      TargetLabels out;
      for_each_batch(target.size(), [&](std::span<const std::int64_t> idx) {
        const auto batch = data::batch_images(target, idx, options_.normalization);
        const auto& x = detail::moved_to<device_type>(batch);
        const auto p = nn::softmax_channels(logits(model_, x, x.size(2), x.size(3)));
        if (pass == 0) {
          labeler.update(p);
        } else {
          const auto labels = labeler.label(p);
          const auto& lab = detail::moved_to<cpu>(labels);
          for (std::int64_t k = 0; k < lab.size(0); ++k) out.emplace_back(lab.slice(k));
        }
      });
      if (pass == 1) {
        thresholds_ = labeler.thresholds();
        return out;
      }
    }
    return {};
  }

  /// The class thresholds θ_c of the last pseudo_labels call.
  [[nodiscard]] const std::vector<double>& pseudo_label_thresholds() const { return thresholds_; }

  /// Stage 3: the pixel selector B. G_B ← G_A, F_B1 ← F_A, F_B2 fresh from make_head (seeded by
  /// `seed`), trained on the target images with L_pl (eq. 5) for every part and −λ_dis·L_dis
  /// (eq. 6) for the heads only: the discrepancy gradient never reaches G_B.
  template <data::Dataset T>
  Selector train_selector(const T& target, const TargetLabels& pseudo, const SelectorStageOptions& o,
                          std::uint64_t seed) {
    validate(o, "train_selector");
    LABOR_CHECK(static_cast<std::int64_t>(pseudo.size()) == target.size(),
                "train_selector: pseudo labels: expected one map per target image ({}), got {}", target.size(),
                pseudo.size());
    Rng head_rng(seed ^ 0xD1B54A32D192ED03ull);
    Selector sel(model_.backbone, model_.head, make_head_(head_rng));
    LABOR_CHECK(sel.head2.num_classes() == model_.num_classes(),
                "train_selector: make_head: expected a head with {} classes, got {}", model_.num_classes(),
                sel.head2.num_classes());
    train_selector_steps(sel, target, pseudo, o, seed);
    return sel;
  }

  /// The iterations of stage 3 on an existing selector (exposed for tests and custom schedules).
  /// `resume` continues from a StageState the checkpoint hook reported for "selector" (with `sel`
  /// restored to that point).
  template <data::Dataset T>
  void train_selector_steps(Selector& sel, const T& target, const TargetLabels& pseudo, const SelectorStageOptions& o,
                            std::uint64_t seed, const StageState* resume = nullptr) {
    auto sgd = detail::make_sgd(sel.backbone, std::vector<H*>{&sel.head1, &sel.head2}, o.sgd);
    LABOR_CHECK(static_cast<std::int64_t>(pseudo.size()) == target.size(),
                "train_selector: pseudo: expected one map per target image ({}), got {}", target.size(), pseudo.size());
    const std::int64_t first = restore(resume, "selector", o.iterations, sgd, nullptr);
    data::Loader<T> batches(target, loader_options(o.batch_size, seed, o.augment, true, first), label_source(pseudo));
    sel.set_training(true);
    const loss::CrossEntropyOptions ce{.ignore_index = labor::ignore_label};
    for (std::int64_t it = first; it < o.iterations; ++it) {
      const double lr = optim::poly_lr(o.sgd.lr, it, o.iterations, o.sgd.poly_power);
      sgd.set_lr(lr);
      sgd.zero_grad();
      const data::Batch b = batches.next();
      const auto& x = detail::moved_to<device_type>(b.images);
      const auto& y = detail::moved_to<device_type>(b.labels);
      // The weight-space term reads the weights before the step, like the output terms.
      const double cw = o.lambda_weight > 0 ? loss::weight_cosine(sel.head1, sel.head2, o.lambda_weight) : 0.0;
      selector_step(sel, x, y, o.lambda_dis, ce, [&](double l1, double l2, double dis) {
        if (!monitor_) return;
        StepInfo info{"selector", it + 1, o.iterations, lr, {{"pl", l1 + l2}, {"dis", dis}}};
        if (o.lambda_weight > 0) info.losses.emplace_back("cos", cw);
        monitor_(info);
      });
      sgd.step();
      report_checkpoint("selector", it + 1, o.iterations, sgd, nullptr, &sel);
    }
    sel.set_training(false);
  }

  /// One forward/backward of the selector on a batch (gradients accumulate into its parameters):
  /// heads get d(L_pl − λ_dis·L_dis), the backbone d(L_pl) only. `report(pl1, pl2, dis)`.
  template <class Report>
  void selector_step(Selector& sel, const TensorF& x, const TensorI& y, double lambda_dis,
                     const loss::CrossEntropyOptions& ce, Report&& report) {
    const std::int64_t h = x.size(2), w = x.size(3);
    const auto f = sel.backbone.forward(x);
    const auto l1 = sel.head1.forward(f);
    const auto l2 = sel.head2.forward(f);
    const auto u1 = nn::upsample_bilinear(l1, h, w, options_.align_corners);
    const auto u2 = nn::upsample_bilinear(l2, h, w, options_.align_corners);
    const auto c1 = loss::cross_entropy(u1, y, ce);
    const auto c2 = loss::cross_entropy(u2, y, ce);
    const auto dis = loss::discrepancy(u1, u2);
    const auto down = [&](const TensorF& g) {
      return nn::upsample_bilinear_backward(g, l1.size(2), l1.size(3), options_.align_corners);
    };
    // L_pl through both heads into the backbone.
    auto df = sel.head1.backward(down(c1.grad));
    labor::add_inplace(df, sel.head2.backward(down(c2.grad)));
    sel.backbone.backward(df);
    // −λ_dis·L_dis into the heads' parameters only: their input gradients are dropped.
    if (lambda_dis > 0) {
      TensorF g1 = dis.grad_a, g2 = dis.grad_b;
      labor::scale(g1, static_cast<float>(-lambda_dis));
      labor::scale(g2, static_cast<float>(-lambda_dis));
      (void)sel.head1.backward(down(g1));
      (void)sel.head2.backward(down(g2));
    }
    report(c1.value, c2.value, dis.value);
  }

  /// The two heads' class probabilities of `images` (normalised N×3×H×W) at H×W (evaluation mode,
  /// under NoGradGuard: the selector keeps nothing for backward).
  std::pair<TensorF, TensorF> selector_probabilities(Selector& sel, const TensorF& images) {
    sel.set_training(false);
    const nn::NoGradGuard no_grad;
    const auto f = sel.backbone.forward(images);
    const std::int64_t h = images.size(2), w = images.size(3);
    return {nn::softmax_channels(nn::upsample_bilinear(sel.head1.forward(f), h, w, options_.align_corners)),
            nn::softmax_channels(nn::upsample_bilinear(sel.head2.forward(f), h, w, options_.align_corners))};
  }

  /// Stage 4: selection on every target pool image and the oracle's answers merged into `store`.
  /// With `exclude_labeled` (the default), a pixel `store` already holds for an image (a class or an
  /// ignore answer: it was paid for) is never selected again: each batch's N×H×W exclusion mask goes
  /// to the sampler with the maps, on the maps' device. An empty store excludes nothing.
  /// Throws labor::Error when a stored image's size differs from the pool image's.
  /// @return the selection (one ImageQuery per pool image, in pool order).
  template <data::Dataset T, samplers::Sampler<device_type> Smp, annotate::Oracle O>
  samplers::Query select(Selector& sel, const T& pool, const Smp& sampler, O& oracle, annotate::LabelStore& store,
                         bool exclude_labeled = true) {
    samplers::Query all;
    all.strategy = std::string(sampler.name());
    all.num_classes = static_cast<std::int32_t>(model_.num_classes());
    annotate::Answers answers;
    // The stored pixels of the batch's images as an N×H×W mask (empty when none is stored).
    const auto labeled_mask = [&](std::span<const std::int64_t> idx, std::int64_t h, std::int64_t w) {
      Tensor<std::uint8_t, cpu> mask;
      if (!exclude_labeled) return mask;
      for (std::size_t b = 0; b < idx.size(); ++b) {
        if (!store.contains(idx[b])) continue;
        const auto& im = store.image(idx[b]);
        LABOR_CHECK(im.height == h && im.width == w, "select: store: image {}: size: expected {}x{}, got {}x{}", idx[b],
                    h, w, im.height, im.width);
        if (im.entries.empty()) continue;
        if (mask.numel() == 0) mask = Tensor<std::uint8_t, cpu>(Shape{static_cast<std::int64_t>(idx.size()), h, w});
        for (const auto& e : im.entries) mask[static_cast<std::int64_t>(b) * h * w + e.index] = 1;
      }
      return mask;
    };
    for_each_batch(pool.size(), [&](std::span<const std::int64_t> idx) {
      const auto [p1, p2] = selector_probabilities(
          sel, detail::moved_to<device_type>(data::batch_images(pool, idx, options_.normalization)));
      const auto mask = labeled_mask(idx, p1.size(2), p1.size(3));
      const auto& device_mask = detail::moved_to<device_type>(mask);
      const samplers::ExcludeView<device_type> exclude =
          mask.numel() > 0 ? device_mask.view() : samplers::exclude_nothing<device_type>();
      samplers::Query q = sampler.select(samplers::device_policy<device_type>(), p1.view(), p2.view(), exclude);
      auto a = oracle.answer(q, idx);
      for (auto& im : a.images) answers.images.push_back(std::move(im));
      for (auto& im : q.images) all.images.push_back(std::move(im));
    });
    store.merge(answers);
    return all;
  }

  /// Predicted classes of `images` (normalised N×3×H×W) at H×W, A in evaluation mode, under
  /// NoGradGuard.
  TensorI predict(const TensorF& images) {
    model_.set_training(false);
    const nn::NoGradGuard no_grad;
    return argmax_channels(logits(model_, images, images.size(2), images.size(3)));
  }

  /// Confusion matrix of A on a labeled dataset (ignore label 255).
  template <data::Dataset S>
  metrics::ConfusionMatrix evaluate(const S& test) {
    metrics::ConfusionMatrix cm(static_cast<int>(model_.num_classes()), labor::ignore_label);
    for_each_batch(test.size(), [&](std::span<const std::int64_t> idx) {
      cm.update(predict(detail::moved_to<device_type>(data::batch_images(test, idx, options_.normalization))),
                detail::moved_to<device_type>(data::batch_labels(test, idx)));
    });
    return cm;
  }

  /// The whole schedule: UDA, then R rounds of pseudo-labels, selector, selection with `sampler`
  /// through `oracle` into `store`, and adaptation on the stored labels.
  /// `exclude_labeled` as in select: a round never selects a pixel an earlier round (or `store` as
  /// passed in) labeled.
  template <data::Dataset S, data::Dataset T, samplers::Sampler<device_type> Smp, annotate::Oracle O>
  void run(const S& source, const T& pool, const Smp& sampler, O& oracle, annotate::LabelStore& store,
           bool exclude_labeled = true) {
    train_segmenter("uda", source, pool, nullptr, options_.uda, stage_seed(options_.seed, "uda"));
    for (std::int64_t r = 0; r < options_.rounds; ++r) {
      const auto pseudo = pseudo_labels(pool, options_.selector);
      Selector sel = train_selector(pool, pseudo, options_.selector, stage_seed(options_.seed, "selector", r));
      (void)select(sel, pool, sampler, oracle, store, exclude_labeled);
      const Shape size = pool.image(0).shape();  // one decode for a file dataset
      const auto labels = dense_labels(store, pool.size(), size[1], size[2]);
      train_segmenter("adapt", source, pool, &labels, options_.adapt, stage_seed(options_.seed, "adapt", r));
    }
  }

 private:
  /// Options of a training loader: shuffled batches of `batch` items drawn from `seed`, augmented,
  /// normalised with the schedule's normalisation; `labels` false reads no label.
  [[nodiscard]] data::LoaderOptions loader_options(std::int64_t batch, std::uint64_t seed,
                                                   const data::AugmentOptions& augment, bool labels,
                                                   std::int64_t first_batch) const {
    return {.batch_size = batch,
            .seed = seed,
            .workers = options_.loader_workers,
            .augment = augment,
            .normalization = options_.normalization,
            .first_batch = first_batch,
            .labels = labels};
  }

  /// Restores the optimisers from `resume` (if any) and returns the first iteration to run.
  static std::int64_t restore(const StageState* resume, std::string_view stage, std::int64_t iterations,
                              optim::Sgd<float, device_type>& sgd, optim::Adam<float, device_type>* adam) {
    if (resume == nullptr) return 0;
    LABOR_CHECK(resume->iteration >= 0 && resume->iteration < iterations,
                "{}: resume: iteration: expected in [0, {}), got {}", stage, iterations, resume->iteration);
    LABOR_CHECK(resume->sgd.size() == sgd.state().size(),
                "{}: resume: SGD state: expected {} parameters, got {}", stage, sgd.state().size(), resume->sgd.size());
    const std::size_t n_adam = adam != nullptr ? adam->state().size() : 0;
    LABOR_CHECK(resume->adam.empty() || resume->adam.size() == n_adam,
                "{}: resume: Adam state: expected {} parameters, got {}", stage, n_adam, resume->adam.size());
    sgd.state() = detail::convert<device_type>(resume->sgd);
    if (adam != nullptr && !resume->adam.empty()) adam->state() = detail::convert<device_type>(resume->adam);
    return resume->iteration;
  }

  /// Calls the checkpoint hook after iteration `done` when it is due (not after the last).
  void report_checkpoint(std::string_view stage, std::int64_t done, std::int64_t iterations,
                         const optim::Sgd<float, device_type>& sgd, const optim::Adam<float, device_type>* adam,
                         Selector* sel) const {
    if (!checkpoint_hook_ || done >= iterations || done % checkpoint_every_ != 0) return;
    StageState st{.iteration = done, .sgd = detail::convert<cpu>(sgd.state()), .adam = {}};
    if (adam != nullptr) st.adam = detail::convert<cpu>(adam->state());
    checkpoint_hook_(stage, st, sel);
  }
  /// Dense per-image label maps as a loader's label source (read-only: safe from worker threads).
  static data::LabelSource label_source(const TargetLabels& maps) {
    return [&maps](std::int64_t i) {
      LABOR_CHECK(i >= 0 && i < static_cast<std::int64_t>(maps.size()),
                  "training: target labels: expected a map for image {}, got {} maps", i, maps.size());
      return maps[static_cast<std::size_t>(i)];
    };
  }

  template <class F>
  void for_each_batch(std::int64_t n, F&& f) {
    std::vector<std::int64_t> idx;
    for (std::int64_t i = 0; i < n; i += options_.eval_batch) {
      idx.clear();
      for (std::int64_t k = i; k < std::min(n, i + options_.eval_batch); ++k) idx.push_back(k);
      f(std::span<const std::int64_t>(idx));
    }
  }

  Model model_;
  Dis disc_;
  HeadFactory make_head_;
  LaborOptions options_;
  Monitor monitor_;
  CheckpointHook checkpoint_hook_;
  std::int64_t checkpoint_every_ = 0;
  std::vector<double> thresholds_;
};

}  // namespace labor::train
