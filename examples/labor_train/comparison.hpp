#pragma once
// The comparison labor_train runs, generic over the backbone: the stages with their checkpoints.
// Shared stages are trained once: source-only → UDA → selector → one selection per method; every
// labeled method adapts its own copy of the UDA model.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string_view>
#include <string>
#include <type_traits>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <labor/annotate.hpp>
#include <labor/data.hpp>
#include <labor/io/detail/atomic_file.hpp>
#include <labor/io/weights.hpp>
#include <labor/models.hpp>
#include <labor/samplers.hpp>
#include <labor/train.hpp>

#include "experiment.hpp"
#include "progress.hpp"
#include "report.hpp"
#include "visuals.hpp"

namespace labor_train {

/// Runs the comparison into `out` (checkpoints/, labels/, visuals/, results.json, miou_vs_labels.svg),
/// resuming every stage whose checkpoint is there. Returns the rows in table order.
template <labor::models::Backbone B>
class Comparison {
 public:
  using D = typename B::device_type;
  using Head = HeadOn<D>;
  using Disc = DiscOn<D>;
  using Trainer = labor::train::LaborTrainer<B, Head, Disc>;
  using MakeBackbone = std::function<B(labor::Rng&)>;

  Comparison(Config cfg, Splits data, MakeBackbone make_backbone, fs::path out, Progress& progress,
             std::int64_t visuals)
      : cfg_(std::move(cfg)),
        data_(std::move(data)),
        make_backbone_(std::move(make_backbone)),
        out_(std::move(out)),
        progress_(progress),
        config_json_(to_json(cfg_)),
        visuals_(visuals) {
    // Each stage's fingerprint covers the settings it and the stages before it depend on, so a
    // change of, say, the adaptation iterations leaves the earlier checkpoints valid.
    const auto& j = config_json_;
    nlohmann::json f = {
        {"seed", j["seed"]}, {"data", j["data"]}, {"model", j["model"]}, {"align_corners", j["align_corners"]}};
    f["source_only"] = j["source_only"];
    fingerprints_["source_only"] = f.dump();
    f["uda"] = j["uda"];
    fingerprints_["uda"] = f.dump();
    f["selector"] = j["selector"];
    fingerprints_["selector"] = f.dump();
    f["selection"] = {j["ppl_points"], j["ppl_min_distance"], j["spl_cap"]};
    fingerprints_["selection"] = f.dump();
    f["adapt"] = j["adapt"];
    for (const auto& m : order()) fingerprints_.try_emplace(m, f.dump());
  }

  /// Checks the output folder and every checkpoint in it before anything runs or is written.
  /// @throws labor::Error for a folder that is a file, an unreadable, corrupt or mismatched checkpoint.
  void check_output() const {
    LABOR_CHECK(!fs::exists(out_) || fs::is_directory(out_), "--out '{}': expected a folder, got a file",
                out_.string());
    const fs::path ck = out_ / "checkpoints";
    if (!fs::is_directory(ck)) return;
    for (const auto& e : fs::directory_iterator(ck)) {
      const auto ext = e.path().extension();
      if (ext == ".safetensors") {
        const auto f = labor::io::read_safetensors(e.path());
        const auto it = f.metadata.find("labor");
        LABOR_CHECK(it != f.metadata.end(), "checkpoint {}: no labor metadata (not written by labor_train)",
                    e.path().string());
        check_fingerprint(e.path(), stage_of(e.path()), parse(e.path(), it->second));
      } else if (ext == ".json") {
        check_fingerprint(e.path(), e.path().stem().string(), read_json(e.path()));
      }
    }
  }

  std::vector<MethodResult> run() {
    using namespace labor;
    check_output();
    Trainer src = make_trainer();  // loads --weights: a bad file stops the run before anything is written
    fs::create_directories(out_ / "checkpoints");
    fs::create_directories(out_ / "labels");
    fs::create_directories(out_ / "visuals");
    progress_.note(fmt::format("[data] {}", data_.description));
    for (std::int64_t i = 0; i < std::min(visuals_, data_.test.size()); ++i) vis_idx_.push_back(i);

    model_stage(
        "source_only", src,
        [&](Trainer& t, const train::StageState* resume) {
          t.train_segmenter("source_only", data_.source, data_.pool, nullptr, cfg_.source,
                            train::stage_seed(cfg_.labor.seed, "source_only"), resume);
        },
        0, 0);
    Trainer uda = src;
    model_stage(
        "uda", uda,
        [&](Trainer& t, const train::StageState* resume) {
          t.train_segmenter("uda", data_.source, data_.pool, nullptr, cfg_.labor.uda,
                            train::stage_seed(cfg_.labor.seed, "uda"), resume);
        },
        0, 0);
    auto selector = selector_stage(uda);
    selection_stage(uda, selector);

    const std::int64_t pool = data_.pool.size(), h = data_.height, w = data_.width;
    for (const char* m : {"labor_ppl", "labor_spl", "random", "entropy", "target_supervised"}) {
      const std::string name = m;
      const bool full = name == "target_supervised";
      const auto labels =
          full ? train::all_labels(data_.pool) : train::dense_labels(stores_.at(name), pool, h, w);
      const double frac =
          full ? 1.0 : static_cast<double>(stores_.at(name).queried_pixels()) / static_cast<double>(pool * h * w);
      Trainer t = uda;
      model_stage(
          name, t,
          [&](Trainer& tr, const train::StageState* resume) {
            tr.train_segmenter(name, data_.source, data_.pool, &labels, cfg_.labor.adapt,
                               train::stage_seed(cfg_.labor.seed, "adapt"), resume);
          },
          frac, frac * static_cast<double>(h * w));
    }
    write_visuals();
    return ordered_rows();
  }

  [[nodiscard]] const nlohmann::json& config_json() const { return config_json_; }
  [[nodiscard]] const nlohmann::json& timing() const { return timing_; }

 private:
  Trainer make_trainer() const {
    using namespace labor;
    Rng rng(train::stage_seed(cfg_.labor.seed, "init"));
    B backbone = make_backbone_(rng);
    const auto make_head = head_factory(backbone.out_channels());
    Head head = make_head(rng);
    Disc disc({.num_classes = num_classes(), .ndf = cfg_.ndf}, rng);
    Trainer t({std::move(backbone), std::move(head)}, std::move(disc), make_head, cfg_.labor);
    t.set_monitor([this](const train::StepInfo& s) { progress_.step(s); });
    return t;
  }

  /// A stage that produces a segmenter: loads its checkpoint, or trains, evaluates and saves.
  template <class Train>
  void model_stage(const std::string& name, Trainer& t, Train&& train_fn, double fraction, double points) {
    using namespace labor;
    const fs::path ck = out_ / "checkpoints" / (name + ".safetensors");
    train::StateDict state;
    state.add(t.model(), "model.").add(t.discriminator(), "discriminator.");
    MethodResult r;
    if (fs::exists(ck)) {
      const auto meta = state.load(ck);
      r = MethodResult::from_json(meta.at("result"));
      timing_[name] = meta.at("timing");
      progress_.note(fmt::format("[{}] resumed from {} · mIoU {:.1f}", name, ck.string(), r.miou));
    } else {
      progress_.begin(name);
      const auto t0 = std::chrono::steady_clock::now();
      const fs::path partial = partial_path(name);
      const auto resume = load_partial(partial, name, state);
      if (cfg_.checkpoint_every > 0)
        t.set_checkpoint_hook([&](std::string_view, const train::StageState& st,
                                  typename Trainer::Selector*) { save_partial(partial, name, state, st); },
                              cfg_.checkpoint_every);
      train_fn(t, resume ? &*resume : nullptr);
      t.set_checkpoint_hook({}, 0);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const auto cm = t.evaluate(data_.test);
      r.name = name;
      r.miou = 100.0 * cm.miou();
      for (double v : cm.iou()) r.per_class_iou.push_back(100.0 * v);
      r.labeled_fraction = fraction;
      r.points_per_image = points;
      const auto& o = name == "source_only" ? cfg_.source : (name == "uda" ? cfg_.labor.uda : cfg_.labor.adapt);
      timing_[name] = {{"seconds", secs},
                       {"iterations", o.iterations},
                       {"iterations_per_second", static_cast<double>(o.iterations) / secs}};
      // A checkpoint is written when its stage has finished: the iteration is the stage's last, and
      // no optimiser state is kept (every stage starts fresh optimisers).
      const bool labeled = name != "source_only" && name != "uda" && name != "target_supervised";
      state.save(ck, {{"stage", name},
                      {"iteration", o.iterations},
                      {"rng", {{"seed", cfg_.labor.seed}, {"stream", name == "source_only" || name == "uda" ? name : "adapt"}}},
                      {"labels", labeled ? nlohmann::json("labels/" + name + ".lstore") : nlohmann::json(nullptr)},
                      {"config", fingerprints_.at(name)},
                      {"result", r.to_json()},
                      {"timing", timing_[name]}});
      fs::remove(partial);
      progress_.end(fmt::format("mIoU {:.1f}", r.miou));
    }
    rows_[name] = r;
    predictions_[name] =
        t.predict(data::batch_images(data_.test, vis_idx_, cfg_.labor.normalization).template to<D>())
            .template to<cpu>();
  }

  typename Trainer::Selector selector_stage(Trainer& uda) {
    using namespace labor;
    const fs::path ck = out_ / "checkpoints" / "selector.safetensors";
    // The selector's structure: A's backbone and head and a fresh second head (weights then loaded or trained).
    if (fs::exists(ck)) {
      Rng rng(0);
      typename Trainer::Selector sel(uda.model().backbone, uda.model().head,
                                     head_factory(uda.model().backbone.out_channels())(rng));
      train::StateDict state;
      state.add(sel, "selector.");
      const auto meta = state.load(ck);
      timing_["selector"] = meta.at("timing");
      progress_.note(fmt::format("[selector] resumed from {}", ck.string()));
      return sel;
    }
    progress_.begin("pseudo_labels");
    const auto pseudo = uda.pseudo_labels(data_.pool, cfg_.labor.selector);
    std::int64_t labeled = 0, correct = 0, total = 0;
    for (std::int64_t i = 0; i < data_.pool.size(); ++i)
      for (std::int64_t p = 0; p < pseudo[static_cast<std::size_t>(i)].numel(); ++p) {
        const auto v = pseudo[static_cast<std::size_t>(i)][p];
        ++total;
        if (v != annotate::ignore_label) {
          ++labeled;
          correct += v == data_.pool.label(i)[p];
        }
      }
    progress_.end(
        fmt::format("{:.1f}% of target pixels pseudo-labeled, {:.1f}% of those correct",
                    100.0 * static_cast<double>(labeled) / static_cast<double>(total),
                    100.0 * static_cast<double>(correct) / static_cast<double>(std::max<std::int64_t>(labeled, 1))));
    progress_.begin("selector");
    const auto t0 = std::chrono::steady_clock::now();
    const fs::path partial = partial_path("selector");
    if (cfg_.checkpoint_every > 0)
      uda.set_checkpoint_hook(
          [&](std::string_view, const train::StageState& st, typename Trainer::Selector* s) {
            train::StateDict weights;
            weights.add(*s, "selector.");
            save_partial(partial, "selector", weights, st);
          },
          cfg_.checkpoint_every);
    const std::uint64_t seed = train::stage_seed(cfg_.labor.seed, "selector");
    typename Trainer::Selector sel = [&] {
      Rng rng(0);
      typename Trainer::Selector s(uda.model().backbone, uda.model().head,
                                   head_factory(uda.model().backbone.out_channels())(rng));
      train::StateDict weights;
      weights.add(s, "selector.");
      if (const auto resume = load_partial(partial, "selector", weights)) {
        uda.train_selector_steps(s, data_.pool, pseudo, cfg_.labor.selector, seed, &*resume);
        return s;
      }
      return uda.train_selector(data_.pool, pseudo, cfg_.labor.selector, seed);
    }();
    uda.set_checkpoint_hook({}, 0);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    timing_["selector"] = {{"seconds", secs},
                           {"iterations", cfg_.labor.selector.iterations},
                           {"iterations_per_second", static_cast<double>(cfg_.labor.selector.iterations) / secs}};
    train::StateDict state;
    state.add(sel, "selector.");
    state.save(ck, {{"stage", "selector"},
                    {"iteration", cfg_.labor.selector.iterations},
                    {"rng", {{"seed", cfg_.labor.seed}, {"stream", "selector"}}},
                    {"config", fingerprints_.at("selector")},
                    {"timing", timing_["selector"]}});
    fs::remove(partial);
    progress_.end("");
    return sel;
  }

  /// SPL and PPL from the selector, random and entropy at SPL's realised budget: one label store each.
  void selection_stage(Trainer& uda, typename Trainer::Selector& sel) {
    using namespace labor;
    const fs::path marker = out_ / "checkpoints" / "selection.json";
    const std::vector<std::string> methods = {"labor_spl", "labor_ppl", "random", "entropy"};
    const auto store_path = [&](const std::string& m) { return out_ / "labels" / (m + ".lstore"); };
    // The selector's view of the visualised test images: its mask and the points PPL would pick.
    {
      const auto x = data::batch_images(data_.test, vis_idx_, cfg_.labor.normalization).template to<D>();
      const auto [d1, d2] = uda.selector_probabilities(sel, x);
      const auto p1 = d1.template to<cpu>(), p2 = d2.template to<cpu>();
      const auto a1 = train::argmax_channels(p1), a2 = train::argmax_channels(p2);
      vis_mask_.assign(static_cast<std::size_t>(a1.numel()), 0);
      for (std::int64_t i = 0; i < a1.numel(); ++i) vis_mask_[static_cast<std::size_t>(i)] = a1[i] != a2[i];
      vis_ppl_ =
          samplers::PplSampler{.points = cfg_.ppl_points, .min_distance = static_cast<double>(cfg_.ppl_min_distance)}
              .select(p1, p2);
    }
    if (fs::exists(marker)) {
      for (const auto& m : methods) stores_.emplace(m, annotate::LabelStore::read(store_path(m)));
      timing_["selection"] = read_json(marker).at("timing");
      progress_.note(fmt::format("[selection] resumed from {}", marker.string()));
      return;
    }
    progress_.begin("selection");
    const auto t0 = std::chrono::steady_clock::now();
    const auto classes = static_cast<std::int32_t>(num_classes());
    annotate::SimulatedOracle oracle([this](std::int64_t id) { return data_.pool.label(id); }, classes);
    nlohmann::json summary;
    const auto run = [&](const std::string& m, const auto& sampler) {
      annotate::LabelStore store(classes);
      const auto q = uda.select(sel, data_.pool, sampler, oracle, store);
      summary[m] = {{"fraction", q.fraction()}, {"points_per_image", q.points_per_image()}};
      stores_.emplace(m, std::move(store));
      return q;
    };
    samplers::SplSampler spl;
    if (cfg_.spl_cap > 0) spl.cap = cfg_.spl_cap;
    const auto q_spl = run("labor_spl", spl);
    run("labor_ppl",
        samplers::PplSampler{.points = cfg_.ppl_points, .min_distance = static_cast<double>(cfg_.ppl_min_distance)});
    // Equal budget: SPL's realised pixels per image (at least one).
    const auto k = std::max<std::int64_t>(1, std::llround(q_spl.points_per_image()));
    run("random", samplers::RandomSampler{.points = k, .seed = train::stage_seed(cfg_.labor.seed, "random")});
    run("entropy", samplers::EntropySampler{.points = k});
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    timing_["selection"] = {{"seconds", secs}};
    for (const auto& m : methods) stores_.at(m).save(store_path(m));
    io::detail::atomic_write(marker, "selection checkpoint",
                             nlohmann::json{{"stage", "selection"},
                                            {"config", fingerprints_.at("selection")},
                                            {"queries", summary},
                                            {"timing", timing_["selection"]}}
                                 .dump(2));
    progress_.end(
        fmt::format("SPL {:.2f}% of pixels ({:.0f}/image), PPL {} points/image, random and entropy {} "
                    "pixels/image",
                    100.0 * q_spl.fraction(), q_spl.points_per_image(), cfg_.ppl_points, k));
  }

  void write_visuals() const {
    using namespace labor;
    const std::int64_t h = data_.height, w = data_.width;
    for (std::size_t v = 0; v < vis_idx_.size(); ++v) {
      const auto i = vis_idx_[v];
      std::vector<Panel> panels{image_panel(data_.test.image(i)), label_panel(data_.test.label(i))};
      for (const auto& m : order())
        if (predictions_.count(m) != 0) {
          const auto& p = predictions_.at(m);
          panels.push_back(label_panel(Tensor<std::int32_t, cpu>(p.slice(static_cast<std::int64_t>(v)))));
        }
      std::vector<std::uint8_t> mask(vis_mask_.begin() + static_cast<std::ptrdiff_t>(v * h * w),
                                     vis_mask_.begin() + static_cast<std::ptrdiff_t>((v + 1) * h * w));
      panels.push_back(mask_panel(mask, h, w));
      const auto& q = vis_ppl_.images[v];
      panels.push_back(points_panel(data_.test.image(i), q.pixels, q.classes));
      write_row(out_ / "visuals" / fmt::format("test_{:03d}.png", i), panels);
    }
  }

  static const std::vector<std::string>& order() {
    static const std::vector<std::string> o = {"source_only", "uda",     "labor_ppl",        "labor_spl",
                                               "random",      "entropy", "target_supervised"};
    return o;
  }

  std::vector<MethodResult> ordered_rows() const {
    std::vector<MethodResult> out;
    for (const auto& m : order())
      if (rows_.count(m) != 0) out.push_back(rows_.at(m));
    return out;
  }

  [[nodiscard]] fs::path partial_path(const std::string& stage) const {
    return out_ / "checkpoints" / (stage + ".partial.safetensors");
  }
  /// The stage a checkpoint file belongs to: its stem, without ".partial" for a mid-stage one.
  static std::string stage_of(const fs::path& file) {
    std::string stem = file.stem().string();
    constexpr std::string_view suffix = ".partial";
    if (stem.size() > suffix.size() && stem.compare(stem.size() - suffix.size(), suffix.size(), suffix) == 0)
      stem.resize(stem.size() - suffix.size());
    return stem;
  }

  /// Saves the weights in `weights` and the optimiser state `st` of a stage part-way (atomically).
  void save_partial(const fs::path& file, const std::string& stage, labor::train::StateDict weights,
                    labor::train::StageState st) const {
    weights.add(st, "optim.");
    weights.save(file, {{"stage", stage},
                        {"iteration", st.iteration},
                        {"optimizer", st.describe()},
                        {"rng", {{"seed", cfg_.labor.seed}, {"stream", stage}}},
                        {"config", fingerprints_.at(stage)}});
  }

  /// Loads a mid-stage checkpoint into `weights` and returns its optimiser state (none without a file).
  std::optional<labor::train::StageState> load_partial(const fs::path& file, const std::string& stage,
                                                       labor::train::StateDict weights) {
    using namespace labor;
    if (!fs::exists(file)) return std::nullopt;
    const auto f = io::read_safetensors(file);
    const auto it = f.metadata.find("labor");
    LABOR_CHECK(it != f.metadata.end(), "checkpoint {}: no labor metadata (not written by labor_train)", file.string());
    const auto meta = parse(file, it->second);
    check_fingerprint(file, stage, meta);
    LABOR_CHECK(meta.contains("optimizer"), "checkpoint {}: metadata: expected an 'optimizer' entry", file.string());
    auto st = train::StageState::shaped_like(meta["optimizer"], f, "optim.", file.string());
    weights.add(st, "optim.");
    (void)weights.load(f, file);  // the file read once: its shapes sized `st`, its data fills it
    progress_.note(fmt::format("[{}] resuming at iteration {} from {}", stage, st.iteration, file.string()));
    return st;
  }

  static nlohmann::json parse(const fs::path& file, const std::string& text) {
    try {
      return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      labor::fail("checkpoint {}: metadata: expected JSON, got a parse error ({})", file.string(), e.what());
    }
  }
  static nlohmann::json read_json(const fs::path& file) {
    std::ifstream in(file);
    LABOR_CHECK(in.good(), "checkpoint {}: cannot open the file", file.string());
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return parse(file, text);
  }
  void check_fingerprint(const fs::path& file, const std::string& stage, const nlohmann::json& meta) const {
    const auto it = fingerprints_.find(stage);
    LABOR_CHECK(it != fingerprints_.end(), "checkpoint {}: unknown stage '{}' (not written by labor_train?)",
                file.string(), stage);
    LABOR_CHECK(meta.is_object() && meta.contains("config") && meta["config"].is_string(),
                "checkpoint {}: metadata: expected a 'config' entry (not written by labor_train?)", file.string());
    LABOR_CHECK(meta["config"].get<std::string>() == it->second,
                "checkpoint {}: written by a run with other settings (preset, seed or options differ); pass another "
                "--out, or --restart to discard the old checkpoints",
                file.string());
  }

  [[nodiscard]] std::int64_t num_classes() const { return static_cast<std::int64_t>(data_.class_names.size()); }

  /// Makes the classifier heads (F_A, F_B1, F_B2) on `features` channels.
  [[nodiscard]] typename Trainer::HeadFactory head_factory(std::int64_t features) const {
    return [features, classes = num_classes(), dil = cfg_.aspp_dilations](labor::Rng& r) {
      return Head({.in_channels = features, .num_classes = classes, .dilations = dil}, r);
    };
  }

  Config cfg_;
  Splits data_;
  MakeBackbone make_backbone_;
  fs::path out_;
  Progress& progress_;
  nlohmann::json config_json_;
  std::map<std::string, std::string> fingerprints_;
  std::int64_t visuals_;
  std::vector<std::int64_t> vis_idx_;
  std::map<std::string, MethodResult> rows_;
  std::map<std::string, labor::Tensor<std::int32_t, labor::cpu>> predictions_;
  std::map<std::string, labor::annotate::LabelStore> stores_;
  std::vector<std::uint8_t> vis_mask_;
  labor::samplers::Query vis_ppl_;
  nlohmann::json timing_ = nlohmann::json::object();
};

/// Runs the comparison of `cfg` on `data` with backbones made by `make_backbone` (the weights of
/// cfg.weights loaded into each, when set), on the backbone's device.
template <labor::models::Backbone B, class Make>
RunOutput run_comparison(const Config& cfg, Splits data, Make make_backbone, const fs::path& out, Progress& progress,
                         std::int64_t visuals) {
  Comparison<B> c(
      cfg, std::move(data),
      [make_backbone, weights = cfg.weights](labor::Rng& rng) {
        B backbone = make_backbone(rng);
        if (!weights.empty()) labor::io::load_weights(backbone, weights);
        return backbone;
      },
      out, progress, visuals);
  RunOutput r;
  r.rows = c.run();
  r.config = c.config_json();
  r.timing = c.timing();
  return r;
}

/// The comparison with the SmallBackbone presets on device D.
template <labor::Device D>
RunOutput run_small_on(const Config& cfg, Splits data, const fs::path& out, Progress& progress,
                       std::int64_t visuals) {
  using Backbone = labor::models::SmallBackbone<float, D>;
  return run_comparison<Backbone>(
      cfg, std::move(data), [o = cfg.backbone](labor::Rng& rng) { return Backbone(o, rng); }, out, progress,
      visuals);
}

/// The comparison with a DeepLab-v2 ResNet preset (cfg.model) on device D.
template <labor::Device D>
RunOutput run_resnet_on(const Config& cfg, Splits data, const fs::path& out, Progress& progress,
                        std::int64_t visuals) {
  auto options = labor::models::deeplabv2_options(resnet_depth(cfg.model));
  // DeepLab-v2 freezes batch norm at the statistics of its pretrained weights; a network trained
  // from scratch has no statistics to freeze, so there it is trained.
  options.frozen_bn = !cfg.weights.empty();
  const auto make = [options]<class B>(std::type_identity<B>) {
    return [options](labor::Rng& rng) { return B(options, rng); };
  };
  using Basic = labor::models::BasicResNet<float, D>;
  using Bottleneck = labor::models::BottleneckResNet<float, D>;
  if (labor::models::resnet_uses_bottleneck(options.depth))
    return run_comparison<Bottleneck>(cfg, std::move(data), make(std::type_identity<Bottleneck>{}), out, progress,
                                      visuals);
  return run_comparison<Basic>(cfg, std::move(data), make(std::type_identity<Basic>{}), out, progress, visuals);
}

}  // namespace labor_train
