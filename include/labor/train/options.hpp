#pragma once
/// @file options.hpp
/// Every hyper-parameter of the LabOR schedule, with the paper-scale defaults (AdaptSeg's optimiser
/// settings, DESIGN §1). Small CPU models want other values: labor_train's presets set them.

#include <cstdint>

#include "labor/core/error.hpp"
#include "labor/data/dataset.hpp"
#include "labor/data/transforms.hpp"

namespace labor::train {

/// SGD with momentum and the poly schedule, as AdaptSeg trains DeepLab.
struct SgdSchedule {
  /// Base learning rate of the backbone; heads use head_lr_mult × lr.
  double lr = 2.5e-4;
  double head_lr_mult = 10.0;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  /// lr·(1 − i/T)^poly_power at iteration i of T.
  double poly_power = 0.9;
};

/// One training stage of the segmenter A: source-only, UDA (AdaptSeg) or adaptation with target labels.
struct SegmenterStageOptions {
  std::int64_t iterations = 2000;
  /// Images per domain per iteration (a source batch and a target batch).
  std::int64_t batch_size = 4;
  SgdSchedule sgd;
  /// Weight λ_adv of the adversarial loss on target outputs; 0 trains without the discriminator
  /// (source-only, or adaptation without alignment).
  double lambda_adv = 0.001;
  /// Weight of L_tgt, the cross-entropy on labeled target pixels (used when labels are given).
  double lambda_tgt = 1.0;
  /// Discriminator: Adam with this learning rate (poly-decayed like A's) and betas.
  double d_lr = 1e-4;
  double d_beta1 = 0.9;
  double d_beta2 = 0.99;
  /// Augmentation of every training item, source and target (scale jitter → crop → flip; labels
  /// follow the image's geometry). Default: random horizontal flips only.
  data::AugmentOptions augment{.flip = true};
};

/// The pixel selector's training (model B, LabOR eq. 5–6).
struct SelectorStageOptions {
  std::int64_t iterations = 1000;
  std::int64_t batch_size = 4;
  SgdSchedule sgd;
  /// Weight λ_dis of the discrepancy the heads maximise (heads minimise L_pl − λ_dis·L_dis; the
  /// backbone minimises L_pl only).
  double lambda_dis = 1.0;
  /// Weight λ_w of the weight-space discrepancy (DESIGN §1's variant): the heads also minimise
  /// λ_w·cos(w_B1, w_B2), the cosine similarity of their kernels (loss::weight_cosine); 0: off.
  double lambda_weight = 0.0;
  /// Augmentation of the target items (and their pseudo-labels). Default: random horizontal flips.
  data::AugmentOptions augment{.flip = true};
  /// IAST pseudo-labels (eq. 5): α, γ, momentum of the thresholds, their initial value and upper clip.
  double pl_alpha = 0.2;
  double pl_gamma = 8.0;
  double pl_momentum = 0.9;
  double pl_init = 0.9;
  double pl_max = 0.999;
};

/// The whole schedule.
struct LaborOptions {
  /// Stage 1: UDA (set lambda_adv = 0 for source-only).
  SegmenterStageOptions uda;
  /// Stage 3: the pixel selector.
  SelectorStageOptions selector;
  /// Stage 5: adaptation with the labeled target pixels (continues A and D).
  SegmenterStageOptions adapt;
  /// Selection rounds R (stages 2–5 repeated).
  std::int64_t rounds = 1;
  /// Images per forward pass when evaluating, pseudo-labeling and selecting.
  std::int64_t eval_batch = 8;
  /// Alignment of the bilinear upsampling of logits to the label size.
  bool align_corners = true;
  /// Input normalisation applied to every batch.
  data::Normalization normalization;
  /// Background threads of each training loader (data::LoaderOptions::workers): they decode and
  /// augment the next batches while the current one trains; 0 prepares them in the training thread.
  /// Results do not depend on it.
  int loader_workers = 2;
  /// Seed of every random choice of the schedule (batches, flips, the second head's initialisation).
  std::uint64_t seed = 0;
};

/// Throws labor::Error naming the first option outside its range.
inline void validate(const SgdSchedule& s, const char* stage) {
  LABOR_CHECK(s.lr > 0, "{}: lr: expected > 0, got {}", stage, s.lr);
  LABOR_CHECK(s.head_lr_mult >= 0, "{}: head_lr_mult: expected >= 0, got {}", stage, s.head_lr_mult);
  LABOR_CHECK(s.momentum >= 0 && s.weight_decay >= 0 && s.poly_power >= 0,
              "{}: momentum, weight_decay and poly_power: expected >= 0, got {}, {}, {}", stage, s.momentum,
              s.weight_decay, s.poly_power);
}

/// Throws labor::Error naming the first option outside its range.
inline void validate(const SegmenterStageOptions& o, const char* stage) {
  LABOR_CHECK(o.iterations > 0, "{}: iterations: expected > 0, got {}", stage, o.iterations);
  LABOR_CHECK(o.batch_size > 0, "{}: batch_size: expected > 0, got {}", stage, o.batch_size);
  LABOR_CHECK(o.lambda_adv >= 0 && o.lambda_tgt >= 0, "{}: lambda_adv and lambda_tgt: expected >= 0, got {} and {}",
              stage, o.lambda_adv, o.lambda_tgt);
  LABOR_CHECK(o.d_lr > 0, "{}: d_lr: expected > 0, got {}", stage, o.d_lr);
  data::check_augment_options(o.augment);
  validate(o.sgd, stage);
}

/// Throws labor::Error naming the first option outside its range.
inline void validate(const SelectorStageOptions& o, const char* stage) {
  LABOR_CHECK(o.iterations > 0, "{}: iterations: expected > 0, got {}", stage, o.iterations);
  LABOR_CHECK(o.batch_size > 0, "{}: batch_size: expected > 0, got {}", stage, o.batch_size);
  LABOR_CHECK(o.lambda_dis >= 0, "{}: lambda_dis: expected >= 0, got {}", stage, o.lambda_dis);
  LABOR_CHECK(o.lambda_weight >= 0, "{}: lambda_weight: expected >= 0, got {}", stage, o.lambda_weight);
  data::check_augment_options(o.augment);
  validate(o.sgd, stage);
}

/// Throws labor::Error naming the first option outside its range.
inline void validate(const LaborOptions& o) {
  validate(o.uda, "uda");
  validate(o.selector, "selector");
  validate(o.adapt, "adapt");
  LABOR_CHECK(o.rounds > 0, "rounds: expected > 0, got {}", o.rounds);
  LABOR_CHECK(o.eval_batch > 0, "eval_batch: expected > 0, got {}", o.eval_batch);
  LABOR_CHECK(o.loader_workers >= 0, "loader_workers: expected >= 0, got {}", o.loader_workers);
}

}  // namespace labor::train
