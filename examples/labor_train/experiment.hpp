#pragma once
// The comparison labor_train runs: its settings and presets, and the stages with their
// checkpoints. Shared stages are trained once: source-only → UDA → selector → one selection per
// method; every labeled method adapts its own copy of the UDA model.

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <labor/annotate.hpp>
#include <labor/data.hpp>
#include <labor/io/atomic_file.hpp>
#include <labor/io/weights.hpp>
#include <labor/models.hpp>
#include <labor/samplers.hpp>
#include <labor/train.hpp>

#include "progress.hpp"
#include "report.hpp"
#include "visuals.hpp"

namespace labor_train {

namespace fs = std::filesystem;
/// The classifier head and the discriminator of every comparison, on device D.
template <labor::Device D>
using HeadOn = labor::models::AsppHead<float, D>;
template <labor::Device D>
using DiscOn = labor::models::FcDiscriminator<float, D>;

/// Data read from files instead of the embedded benchmark (an empty `source` means the benchmark).
struct FileData {
  /// Dataset specs (folder:, list:, cityscapes:, gta5:): labeled source, target pool, target test,
  /// and the optional labeled target validation split (empty: none).
  std::string source, target, target_test, target_val;
  /// Every target image is resized to height×width (0×0: the files must share one size), every
  /// source image to source_height×source_width (0×0: height×width).
  std::int64_t height = 0, width = 0, source_height = 0, source_width = 0;
  /// Classes (0: the dataset kind's, 19 for cityscapes and gta5) and a raw-value map ("11:255,...").
  std::int64_t num_classes = 0;
  std::string label_map;
  /// Names for the table (empty: the kind's names, or class_0, class_1, ...).
  std::vector<std::string> class_names;

  [[nodiscard]] bool enabled() const { return !source.empty(); }
};

/// The labeled strategies labor_train runs: LabOR's SPL and PPL, and the peers.
inline const std::vector<std::string>& strategies() {
  static const std::vector<std::string> s = {"labor_spl", "labor_ppl",   "random",    "entropy",
                                             "margin",    "ripu_region", "ripu_pixel"};
  return s;
}

/// A budget curve instead of the comparison: every strategy of `strategies` at every budget of
/// `points` (labeled points per image, ascending, distinct), each from the same UDA model and
/// round-1 selector; SPL keeps at most that many pixels of its mask per image.
struct CurveSpec {
  std::vector<std::int64_t> points;
  std::vector<std::string> strategies;
  [[nodiscard]] bool enabled() const { return !points.empty(); }
};

/// Everything that determines the comparison's numbers.
struct Config {
  std::string preset = "default";
  labor::data::SyntheticOptions data;
  FileData files;
  /// Network preset: "small" (SmallBackbone) or "deeplabv2-r18" / "-r50" / "-r101".
  std::string model = "small";
  /// "cpu", or "cuda" (needs a labor_train built with nvcc and a visible GPU).
  std::string device = "cpu";
  /// Safetensors weights for the backbone (e.g. ImageNet weights exported by tools/export_safetensors.py).
  std::string weights;
  labor::models::SmallBackboneOptions backbone;
  std::vector<std::int64_t> aspp_dilations = {1, 2, 4, 6};
  std::int64_t ndf = 16;
  /// The source-only stage (its lambda_adv is 0).
  labor::train::SegmenterStageOptions source;
  /// UDA (continues the source-only model), the selector and the adaptation stages.
  labor::train::LaborOptions labor;
  /// PPL points per image, its min_distance, and SPL's per-image cap (0 = none; see preset()).
  std::int64_t ppl_points = 40;
  std::int64_t ppl_min_distance = 0;
  double spl_cap = 0.04;
  /// Save a stage's state every this many iterations (0: only when a stage ends), so an
  /// interrupted stage resumes where it was. Not part of the settings that decide the numbers.
  std::int64_t checkpoint_every = 0;
  /// A budget curve instead of the comparison (not enabled: the comparison). Each curve stage's
  /// fingerprint holds its own budget, so it is not part of to_json().
  CurveSpec curve;
};

/// The settings of a preset: "default" (the README's comparison, ≈ 5 minutes on 2 cores) or
/// "quick" (a smaller benchmark and fewer iterations, < 2 minutes; what the end-to-end test runs).
/// @throws labor::Error for another name.
inline Config preset(std::string_view name) {
  Config c;
  c.preset = std::string(name);
  c.data = {.height = 64, .width = 128, .source_images = 400, .target_pool = 100, .target_test = 100, .target_val = 50};
  c.source = {.iterations = 600, .batch_size = 4, .sgd = {.lr = 0.01, .weight_decay = 1e-4}, .lambda_adv = 0};
  c.labor.uda = {.iterations = 600, .batch_size = 4, .sgd = {.lr = 0.005, .weight_decay = 1e-4}, .lambda_adv = 0.001};
  c.labor.selector = {
      .iterations = 300, .batch_size = 4, .sgd = {.lr = 0.005, .weight_decay = 1e-4}, .lambda_dis = 1.0};
  // The weight-space discrepancy on top of the output one (docs/design.md: SPL +0.0 to +1.4 mIoU
  // over seeds 0–2 on this benchmark, and SPL above PPL in all three).
  c.labor.selector.lambda_weight = 1.0;
  c.labor.adapt = c.labor.uda;
  c.labor.adapt.iterations = 400;
  if (name == "quick") {
    c.data.source_images = 160;
    c.data.target_pool = 48;
    c.data.target_test = 48;
    c.data.target_val = 24;
    c.source.iterations = 250;
    c.labor.uda.iterations = 150;
    c.labor.selector.iterations = 100;
    c.labor.adapt.iterations = 120;
  } else if (name != "default") {
    labor::fail("--preset: expected default or quick, got '{}'", name);
  }
  return c;
}

/// Switches `c` to the network `name`: "small" (the presets' SmallBackbone, trained from scratch) or
/// "deeplabv2-r18" / "deeplabv2-r50" / "deeplabv2-r101" (DeepLab-v2: dilated ResNet with output
/// stride 8, batch norm frozen when weights are loaded and trained otherwise, the four-branch ASPP with dilations 6,
/// 12, 18, 24; inputs normalised with ImageNet's mean and std as torchvision's weights expect; SGD as the paper's:
/// lr 2.5e-4, heads ×10, momentum 0.9, weight decay 5e-4). @throws labor::Error for another name.
inline void set_model(Config& c, const std::string& name) {
  if (name == "small") {
    c.model = name;
    return;
  }
  LABOR_CHECK(name == "deeplabv2-r18" || name == "deeplabv2-r50" || name == "deeplabv2-r101",
              "--model: expected small, deeplabv2-r18, deeplabv2-r50 or deeplabv2-r101, got '{}'", name);
  c.model = name;
  c.aspp_dilations = {6, 12, 18, 24};
  c.labor.normalization = {.mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f}};
  for (auto* s : {&c.source.sgd, &c.labor.uda.sgd, &c.labor.selector.sgd, &c.labor.adapt.sgd})
    *s = {.lr = 2.5e-4, .head_lr_mult = 10, .momentum = 0.9, .weight_decay = 5e-4, .poly_power = 0.9};
}

/// Depth of a "deeplabv2-rN" model name.
inline int resnet_depth(const std::string& model) { return std::stoi(model.substr(model.rfind("-r") + 2)); }

using labor::train::to_json;

/// The settings as JSON (results.json's "config"; checkpoints must match it to be reused).
inline nlohmann::json to_json(const Config& c) {
  const auto& d = c.data;
  return {{"preset", c.preset},
          {"seed", c.labor.seed},
          {"data", c.files.enabled() ? nlohmann::json{{"source", c.files.source},
                                                      {"target", c.files.target},
                                                      {"target_test", c.files.target_test},
                                                      {"target_val", c.files.target_val},
                                                      {"height", c.files.height},
                                                      {"width", c.files.width},
                                                      {"source_height", c.files.source_height},
                                                      {"source_width", c.files.source_width},
                                                      {"num_classes", c.files.num_classes},
                                                      {"label_map", c.files.label_map}}
                                     : nlohmann::json{{"height", d.height},
                                                      {"width", d.width},
                                                      {"source_images", d.source_images},
                                                      {"target_pool", d.target_pool},
                                                      {"target_test", d.target_test},
                                                      {"target_val", d.target_val},
                                                      {"seed", d.seed},
                                                      {"palette_shift", d.palette_shift}}},
          {"device", c.device},
          {"model",
           {{"name", c.model},
            {"weights", c.weights},
            {"backbone_channels", c.backbone.channels},
            {"output_stride", c.backbone.output_stride},
            {"aspp_dilations", c.aspp_dilations},
            {"discriminator_ndf", c.ndf}}},
          {"source_only", to_json(c.source)},
          {"uda", to_json(c.labor.uda)},
          {"selector", to_json(c.labor.selector)},
          {"adapt", to_json(c.labor.adapt)},
          {"align_corners", c.labor.align_corners},
          {"ppl_points", c.ppl_points},
          {"ppl_min_distance", c.ppl_min_distance},
          {"spl_cap", c.spl_cap}};
}

/// The data of a comparison: the labeled source, the target pool (its labels are read only by the
/// simulated oracle and the supervised upper bound), the labeled target validation split (where
/// settings and strategies are chosen; may be empty) and the held-out target test split (read only
/// for the reported numbers).
struct Splits {
  labor::data::AnyDataset source, pool, test, val;
  std::vector<std::string> class_names;
  /// Size of every pool, validation and test image.
  std::int64_t height = 0, width = 0;
  /// One line for the log.
  std::string description;
};

/// What a comparison returns: the rows in table order, the settings and the per-stage timing.
struct RunOutput {
  std::vector<MethodResult> rows;
  /// With several rounds: per labeled method, its row after each round.
  std::map<std::string, std::vector<MethodResult>> round_rows;
  nlohmann::json config, timing;
};

/// The LabOR trainer of `cfg` on device B::device_type with `num_classes` classes: the backbone from
/// `make_backbone` (cfg.weights loaded into it when set), an ASPP head and a discriminator, all
/// initialised from stage_seed(seed, "init"), so every program that builds it gets the same weights.
template <labor::models::Backbone B, class Make>
labor::train::LaborTrainer<B, HeadOn<typename B::device_type>, DiscOn<typename B::device_type>> make_trainer(
    const Config& cfg, const Make& make_backbone, std::int64_t num_classes) {
  using D = typename B::device_type;
  using Trainer = labor::train::LaborTrainer<B, HeadOn<D>, DiscOn<D>>;
  labor::Rng rng(labor::train::stage_seed(cfg.labor.seed, "init"));
  B backbone = make_backbone(rng);
  if (!cfg.weights.empty()) labor::io::load_weights(backbone, cfg.weights);
  typename Trainer::HeadFactory make_head = [features = backbone.out_channels(), num_classes,
                                             dil = cfg.aspp_dilations](labor::Rng& r) {
    return HeadOn<D>({.in_channels = features, .num_classes = num_classes, .dilations = dil}, r);
  };
  HeadOn<D> head = make_head(rng);
  DiscOn<D> disc({.num_classes = num_classes, .ndf = cfg.ndf}, rng);
  return Trainer({std::move(backbone), std::move(head)}, std::move(disc), make_head, cfg.labor);
}

/// Calls `f(std::type_identity<B>{}, make_backbone)` with SmallBackbone on device D and its factory.
template <labor::Device D, class F>
decltype(auto) with_small(const Config& cfg, F&& f) {
  using B = labor::models::SmallBackbone<float, D>;
  return f(std::type_identity<B>{}, [o = cfg.backbone](labor::Rng& rng) { return B(o, rng); });
}

/// Calls `f(std::type_identity<B>{}, make_backbone)` with the DeepLab-v2 ResNet of cfg.model on device D
/// (batch norm frozen only with pretrained weights: a network trained from scratch has no
/// statistics to freeze).
template <labor::Device D, class F>
decltype(auto) with_resnet(const Config& cfg, F&& f) {
  auto options = labor::models::deeplabv2_options(resnet_depth(cfg.model));
  options.frozen_bn = !cfg.weights.empty();
  using Basic = labor::models::BasicResNet<float, D>;
  using Bottleneck = labor::models::BottleneckResNet<float, D>;
  if (labor::models::resnet_uses_bottleneck(options.depth))
    return f(std::type_identity<Bottleneck>{}, [options](labor::Rng& rng) { return Bottleneck(options, rng); });
  return f(std::type_identity<Basic>{}, [options](labor::Rng& rng) { return Basic(options, rng); });
}

/// with_small or with_resnet, as cfg.model says.
template <labor::Device D, class F>
decltype(auto) with_backbone(const Config& cfg, F&& f) {
  if (cfg.model == "small") return with_small<D>(cfg, std::forward<F>(f));
  return with_resnet<D>(cfg, std::forward<F>(f));
}

/// Runs the comparison with the SmallBackbone presets on the CPU (comparison_small.cpp).
RunOutput run_small(const Config& cfg, Splits data, const fs::path& out, Progress& progress, std::int64_t visuals);
/// Runs the comparison with the DeepLab-v2 ResNet presets on the CPU (comparison_resnet.cpp).
RunOutput run_resnet(const Config& cfg, Splits data, const fs::path& out, Progress& progress, std::int64_t visuals);
/// Runs the comparison on the GPU, any model (comparison_cuda.cu; only in builds with CUDA).
RunOutput run_cuda(const Config& cfg, Splits data, const fs::path& out, Progress& progress, std::int64_t visuals);
/// Throws labor::Error unless this labor_train can run on `device` ("cpu", or "cuda" in a build with
/// CUDA on a machine with a GPU); returns the GPU's name for "cuda", "" for "cpu".
std::string check_device(const std::string& device);

}  // namespace labor_train
