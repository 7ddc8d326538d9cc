#pragma once
// The comparison labor_train runs, generic over the backbone, on labor::train::LaborRun's
// resumable stages. Shared stages are trained once: source-only → UDA → the round-1 selector; every
// labeled method then runs its own rounds from the UDA model (selection, answers from the
// simulated oracle, adaptation; from round 2 on a selector retrained from the method's model).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <labor/annotate.hpp>
#include <labor/data.hpp>
#include <labor/io/atomic_file.hpp>
#include <labor/io/json.hpp>
#include <labor/io/weights.hpp>
#include <labor/metrics.hpp>
#include <labor/models.hpp>
#include <labor/samplers.hpp>
#include <labor/train.hpp>

#include "experiment.hpp"
#include "progress.hpp"
#include "report.hpp"
#include "visuals.hpp"

namespace labor_train {

/// The budget of round `r` (1-based) of `rounds` when `total` is split evenly: total / rounds, the
/// remainder going one each to the first rounds.
inline std::int64_t round_share(std::int64_t total, std::int64_t rounds, std::int64_t r) {
  return total / rounds + (r <= total % rounds ? 1 : 0);
}

/// Runs the comparison into `out` (checkpoints/, labels/, visuals/), resuming every stage whose
/// checkpoint is there. run() returns the rows in table order.
template <labor::models::Backbone B>
class Comparison {
 public:
  using D = typename B::device_type;
  using Head = HeadOn<D>;
  using Disc = DiscOn<D>;
  using Trainer = labor::train::LaborTrainer<B, Head, Disc>;
  using Run = labor::train::LaborRun<B, Head, Disc>;
  using Selector = typename Trainer::Selector;
  using MakeBackbone = std::function<B(labor::Rng&)>;

  Comparison(Config cfg, Splits data, MakeBackbone make_backbone, fs::path out, Progress& progress,
             std::int64_t visuals)
      : cfg_(std::move(cfg)),
        data_(std::move(data)),
        make_backbone_(std::move(make_backbone)),
        out_(std::move(out)),
        progress_(progress),
        config_json_(to_json(cfg_)),
        visuals_(visuals),
        run_(out_, run_options()) {}

  /// Checks every checkpoint of the shared stages before anything runs or is written.
  /// @throws labor::Error for a folder that is a file, an unreadable, corrupt or mismatched checkpoint.
  void check_output() const {
    LABOR_CHECK(!fs::exists(out_) || fs::is_directory(out_), "--out '{}': expected a folder, got a file",
                out_.string());
    run_.check_stage("source_only", run_.source_only_fingerprint());
    run_.check_stage("uda", run_.uda_fingerprint());
    run_.check_stage(Run::stage_name("selector", 1), run_.selector_fingerprint(1));
  }

  std::vector<MethodResult> run() {
    using namespace labor;
    check_output();
    Trainer src = make_trainer<B>(cfg_, make_backbone_, num_classes());  // loads --weights first
    src.set_monitor([this](const train::StepInfo& s) { progress_.step(s); });
    // No folder is made before something is written into it: an error in the data (a PNG that
    // fails to decode in the first batch) leaves --out as it was.
    progress_.note(fmt::format("[data] {}", data_.description));
    for (std::int64_t i = 0; i < std::min(visuals_, data_.test.size()); ++i) vis_idx_.push_back(i);

    model_stage("source_only", run_.source_only_fingerprint(), src, cfg_.source, nullptr, "source_only", 0, 0, 0);
    Trainer uda = src;
    model_stage("uda", run_.uda_fingerprint(), uda, cfg_.labor.uda, nullptr, "uda", 0, 0, 0);
    Selector first = run_.selector_stage(Run::stage_name("selector", 1), run_.selector_fingerprint(1), uda, data_.pool,
                                         train::stage_seed(cfg_.labor.seed, "selector", 0),
                                         [this](const train::TargetLabels& p) { report_pseudo(p); });
    draw_selector(uda, first);

    std::vector<std::int64_t> spl_points;
    if (cfg_.curve.enabled()) {
      // A budget curve: every strategy at every budget, each from the same UDA model and selector.
      for (const std::int64_t k : cfg_.curve.points)
        for (const auto& m : cfg_.curve.strategies) {
          const std::string name = curve_stage(m, k);
          curve_names_.push_back(name);
          method(m, name, k, uda, first, spl_points);
        }
    } else {
      // SPL first: random, entropy and RIPU take its realised pixels per image in each round.
      for (const char* m : {"labor_spl", "labor_ppl", "random", "entropy", "ripu_region"})
        method(m, m, std::nullopt, uda, first, spl_points);
    }
    const std::int64_t h = data_.height, w = data_.width;
    const auto all = train::all_labels(data_.pool);
    Trainer full = uda;
    model_stage("target_supervised", labeled_fingerprint("target_supervised", run_.uda_fingerprint(), "all"), full,
                cfg_.labor.adapt, &all, "adapt", 0, 1.0, static_cast<double>(h * w));
    write_visuals();
    return ordered_rows();
  }

  [[nodiscard]] const nlohmann::json& config_json() const { return config_json_; }
  [[nodiscard]] const nlohmann::json& timing() const { return timing_; }

 private:
  labor::train::RunOptions run_options() const {
    labor::train::RunOptions o;
    const auto& j = config_json_;
    o.identity = {
        {"seed", j["seed"]}, {"data", j["data"]}, {"model", j["model"]}, {"align_corners", j["align_corners"]}};
    o.source_only = cfg_.source;
    o.labor = cfg_.labor;
    o.num_classes = static_cast<std::int32_t>(num_classes());
    o.checkpoint_every = cfg_.checkpoint_every;
    o.hooks.begin = [this](std::string_view s) { progress_.begin(s); };
    o.hooks.end = [this](std::string_view s) { progress_.end(s); };
    o.hooks.note = [](std::string_view s) { Progress::note(s); };
    return o;
  }

  /// Fingerprint of an adaptation on labels `labels_id` from the model with fingerprint `parent`.
  [[nodiscard]] std::string labeled_fingerprint(const std::string& stage, const std::string& parent,
                                                const std::string& labels_id) const {
    return run_.fingerprint(stage, parent, {{"adapt", labor::train::to_json(cfg_.labor.adapt)}, {"labels", labels_id}});
  }

  /// The stage name of strategy `m` at `points` per image in a budget curve.
  static std::string curve_stage(const std::string& m, std::int64_t points) { return fmt::format("{}_k{}", m, points); }

  /// The rounds of one labeled method, strategy `m` under the stage name `name`, from the UDA model
  /// `uda` and the round-1 selector `first`: at `budget` labeled points per image when set (a curve
  /// point, split over the rounds), else at the comparison's budgets (PPL's points, SPL's cap, the
  /// others SPL's realised points per image, which `spl_points` collects).
  void method(const std::string& m, const std::string& name, std::optional<std::int64_t> budget, const Trainer& uda,
              Selector& first, std::vector<std::int64_t>& spl_points) {
    using namespace labor;
    const std::int64_t rounds = cfg_.labor.rounds, pool = data_.pool.size(), h = data_.height, w = data_.width;
    const auto classes = static_cast<std::int32_t>(num_classes());
    annotate::SimulatedOracle oracle([this](std::int64_t id) { return data_.pool.label(id); }, classes);
    annotate::LabelStore store(classes);
    Trainer a = uda;
    std::string parent = run_.uda_fingerprint();
    for (std::int64_t r = 1; r <= rounds; ++r) {
      const std::string suffix = rounds == 1 ? "" : fmt::format("_r{}", r);
      const std::string stage = name + suffix;
      // The round's selector: the shared one in round 1, then one retrained from this method's model.
      std::optional<Selector> own;
      if (r > 1 && m != "random")
        own.emplace(run_.selector_stage(
            fmt::format("selector_{}_r{}", name, r),
            run_.fingerprint(fmt::format("selector_{}_r{}", name, r), parent, train::to_json(cfg_.labor.selector)), a,
            data_.pool, train::stage_seed(cfg_.labor.seed, "selector", r - 1)));
      Selector& sel = own ? *own : first;
      const fs::path store_file = out_ / "labels" / (stage + ".lstore");
      const std::string select_fp =
          run_.fingerprint("selection_" + stage, parent, selection_settings(m, r, spl_points, budget));
      const fs::path marker = out_ / "checkpoints" / ("selection_" + stage + ".json");
      if (fs::exists(marker) && fs::exists(store_file)) {
        const auto j = labor::io::read_json(marker);
        LABOR_CHECK(j.is_object() && j.contains("config") && j["config"] == select_fp,
                    "checkpoint '{}': written by a run with other settings (preset, seed or options differ); pass "
                    "another --out, or --restart to discard the old checkpoints",
                    marker.string());
        store = annotate::LabelStore::read(store_file);
        Progress::note(fmt::format("[selection {}] resumed from {}", stage, marker.string()));
        if (m == "labor_spl" && !budget) {
          LABOR_CHECK(j.contains("points") && j["points"].is_number_integer() && j["points"].get<std::int64_t>() >= 1,
                      "checkpoint '{}': points: expected an integer >= 1, got {}", marker.string(),
                      j.contains("points") ? labor::io::quote(j["points"]) : std::string("none"));
          spl_points.push_back(j["points"].get<std::int64_t>());
        }
      } else {
        progress_.begin("selection " + stage);
        const auto q = select(m, r, a, sel, oracle, store, spl_points, budget);
        fs::create_directories(store_file.parent_path());
        store.save(store_file);
        const auto k = std::max<std::int64_t>(1, std::llround(q.points_per_image()));
        if (m == "labor_spl" && !budget) spl_points.push_back(k);
        fs::create_directories(marker.parent_path());
        io::atomic_write(marker, "selection checkpoint",
                         nlohmann::json{{"stage", "selection_" + stage},
                                        {"config", select_fp},
                                        {"fraction", q.fraction()},
                                        {"points", k},
                                        {"points_per_image", q.points_per_image()}}
                             .dump(2));
        progress_.end(fmt::format("{:.2f}% of the pool's pixels ({:.1f}/image); {} labeled so far",
                                  100.0 * q.fraction(), q.points_per_image(), store.queried_pixels()));
      }
      profiles_[stage] = profile(a, parent, store);
      const auto labels = train::dense_labels(store, pool, h, w);
      const double frac = static_cast<double>(store.queried_pixels()) / static_cast<double>(pool * h * w);
      const std::string fp = labeled_fingerprint(stage, parent, fnv1a64_hex(store.serialize()));
      model_stage(stage, fp, a, cfg_.labor.adapt, &labels, "adapt", r - 1, frac, frac * static_cast<double>(h * w));
      rows_.at(stage).selection = profiles_.at(stage);
      rows_.at(stage).strategy = m;
      rows_.at(stage).budget = budget.value_or(0);
      if (rounds > 1) {
        round_rows_[name].push_back(rows_.at(stage));
        rows_[name] = rows_.at(stage);
        rows_[name].name = name;
        predictions_[name] = predictions_.at(stage);
      }
      parent = fp;
    }
  }

  /// What decides the selection of method m in round r (the budget of that round).
  [[nodiscard]] nlohmann::json selection_settings(const std::string& m, std::int64_t r,
                                                  const std::vector<std::int64_t>& spl_points,
                                                  std::optional<std::int64_t> budget) const {
    const std::int64_t rounds = cfg_.labor.rounds;
    if (budget) {
      nlohmann::json j = {{"points", round_share(*budget, rounds, r)}};
      if (m == "labor_ppl") j["min_distance"] = cfg_.ppl_min_distance;
      return j;
    }
    if (m == "labor_ppl")
      return {{"points", round_share(cfg_.ppl_points, rounds, r)}, {"min_distance", cfg_.ppl_min_distance}};
    if (m == "labor_spl") return {{"cap", cfg_.spl_cap / static_cast<double>(rounds)}};
    return {{"points", spl_points.at(static_cast<std::size_t>(r - 1))}};
  }

  /// Round r's selection of method m with selector `sel`, answered by `oracle` into `store`.
  /// Round r's selection of method m with selector `sel`, answered by `oracle` into `store`: at
  /// `budget` points per image (split over the rounds) when set; SPL then keeps at most that many
  /// pixels of each image's inconsistency mask.
  labor::samplers::Query select(const std::string& m, std::int64_t r, Trainer& a, Selector& sel,
                                labor::annotate::SimulatedOracle& oracle, labor::annotate::LabelStore& store,
                                const std::vector<std::int64_t>& spl_points, std::optional<std::int64_t> budget) {
    using namespace labor;
    const std::int64_t rounds = cfg_.labor.rounds, hw = data_.height * data_.width;
    if (m == "labor_spl") {
      samplers::SplSampler spl;
      // floor(cap·H·W) = the round's points: the cap a half pixel above them.
      if (budget)
        spl.cap = std::min(1.0, (static_cast<double>(round_share(*budget, rounds, r)) + 0.5) / static_cast<double>(hw));
      else if (cfg_.spl_cap > 0)
        spl.cap = cfg_.spl_cap / static_cast<double>(rounds);
      return a.select(sel, data_.pool, spl, oracle, store);
    }
    if (m == "labor_ppl")
      return a.select(sel, data_.pool,
                      samplers::PplSampler{round_share(budget.value_or(cfg_.ppl_points), rounds, r),
                                           static_cast<double>(cfg_.ppl_min_distance)},
                      oracle, store);
    const std::int64_t k = budget ? round_share(*budget, rounds, r) : spl_points.at(static_cast<std::size_t>(r - 1));
    if (m == "random")
      return a.select(sel, data_.pool, samplers::RandomSampler{k, train::stage_seed(cfg_.labor.seed, "random", r - 1)},
                      oracle, store);
    if (m == "ripu_region" || m == "ripu_pixel")
      return a.select(
          sel, data_.pool,
          samplers::RipuSampler{
              m == "ripu_region" ? samplers::RipuSampler::Mode::region : samplers::RipuSampler::Mode::pixel, k, 1},
          oracle, store);
    if (m == "margin") return a.select(sel, data_.pool, samplers::MarginSampler{k}, oracle, store);
    LABOR_CHECK(m == "entropy", "labor_train: strategy: expected one of {}, got '{}'", fmt::join(strategies(), ", "),
                m);
    return a.select(sel, data_.pool, samplers::EntropySampler{k}, oracle, store);
  }

  /// What the labels of `store` are made of (metrics::SelectionProfile, closeness within 2 pixels),
  /// against the pool's truth and the predictions of `model` (fingerprint `model_fp`, the model that
  /// selected them), as JSON shares; null for a pool above 2^28 pixels, whose predictions are not kept.
  nlohmann::json profile(Trainer& model, const std::string& model_fp, const labor::annotate::LabelStore& store) {
    using namespace labor;
    const std::int64_t n = data_.pool.size(), h = data_.height, w = data_.width, hw = h * w;
    if (n * hw > (std::int64_t{1} << 28)) return nullptr;
    auto& pred = pool_predictions_[model_fp];  // classes < 256: one byte a pixel
    if (pred.empty()) {
      pred.resize(static_cast<std::size_t>(n * hw));
      constexpr std::int64_t batch = 8;
      for (std::int64_t b = 0; b < n; b += batch) {
        std::vector<std::int64_t> idx;
        for (std::int64_t i = b; i < std::min(n, b + batch); ++i) idx.push_back(i);
        const auto p = model.predict(data::batch_images(data_.pool, idx, cfg_.labor.normalization).template to<D>())
                           .template to<cpu>();
        for (std::int64_t k = 0; k < p.numel(); ++k)
          pred[static_cast<std::size_t>(b * hw + k)] = static_cast<std::uint8_t>(p[k]);
      }
    }
    metrics::SelectionProfile prof(static_cast<std::int32_t>(num_classes()), 2);
    Tensor<std::int32_t, cpu> predicted({h, w});
    std::vector<std::int64_t> pixels;
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::int64_t k = 0; k < hw; ++k) predicted[k] = pred[static_cast<std::size_t>(i * hw + k)];
      pixels.clear();
      if (store.contains(i))
        for (const auto& e : store.image(i).entries) pixels.push_back(e.index);
      prof.add(data_.pool.label(i), predicted, pixels);
    }
    return {{"close_distance", prof.close_distance()}, {"selected", prof.selected()},
            {"boundary_share", prof.boundary_share()}, {"boundary_base", prof.boundary_base()},
            {"error_share", prof.error_share()},       {"error_base", prof.error_base()},
            {"close_share", prof.close_share()},       {"class_shares", prof.class_shares()},
            {"class_base", prof.class_base()}};
  }

  /// A stage that produces a segmenter: loaded from its checkpoint, or trained (from the model in
  /// `t`), evaluated on the validation split (when there is one) and the test split, and saved with
  /// both results.
  void model_stage(const std::string& name, const std::string& fp, Trainer& t,
                   const labor::train::SegmenterStageOptions& o, const labor::train::TargetLabels* labels,
                   const std::string& stream, std::int64_t round, double fraction, double points) {
    using namespace labor;
    const auto seed = train::stage_seed(cfg_.labor.seed, stream, round);
    const auto rec = run_.segmenter_stage(
        name, fp, t, o.iterations,
        [&](Trainer& tr, const train::StageState* resume) {
          tr.train_segmenter(name, data_.source, data_.pool, labels, o, seed, resume);
        },
        [&](Trainer& tr) {
          const auto cm = tr.evaluate(data_.test);
          MethodResult r;
          r.name = name;
          r.miou = 100.0 * cm.miou();
          if (data_.val.size() > 0) r.val_miou = 100.0 * tr.evaluate(data_.val).miou();
          for (double v : cm.iou()) r.per_class_iou.push_back(100.0 * v);
          r.labeled_fraction = fraction;
          r.points_per_image = points;
          auto j = r.to_json();
          j["summary"] = std::isnan(r.val_miou) ? fmt::format("mIoU {:.1f}", r.miou)
                                                : fmt::format("val mIoU {:.1f}, test mIoU {:.1f}", r.val_miou, r.miou);
          return j;
        });
    try {
      rows_[name] = MethodResult::from_json(rec.meta.at("result"));
      timing_[name] = rec.meta.at("timing");
    } catch (const nlohmann::json::exception& e) {
      fail("checkpoint '{}': metadata: expected the result and timing labor_train writes ({})",
           run_.checkpoint(name).string(), e.what());
    }
    predictions_[name] = t.predict(data::batch_images(data_.test, vis_idx_, cfg_.labor.normalization).template to<D>())
                             .template to<cpu>();
  }

  /// Prints the share of pool pixels the pseudo-labels cover and how many of them are right.
  void report_pseudo(const labor::train::TargetLabels& pseudo) const {
    std::int64_t labeled = 0, correct = 0, total = 0;
    for (std::int64_t i = 0; i < data_.pool.size(); ++i) {
      const auto truth = data_.pool.label(i);
      for (std::int64_t p = 0; p < pseudo[static_cast<std::size_t>(i)].numel(); ++p) {
        const auto v = pseudo[static_cast<std::size_t>(i)][p];
        ++total;
        if (v != labor::ignore_label) {
          ++labeled;
          correct += v == truth[p];
        }
      }
    }
    Progress::note(
        fmt::format("[pseudo_labels] {:.1f}% of target pixels pseudo-labeled, {:.1f}% of those correct",
                    100.0 * static_cast<double>(labeled) / static_cast<double>(std::max<std::int64_t>(total, 1)),
                    100.0 * static_cast<double>(correct) / static_cast<double>(std::max<std::int64_t>(labeled, 1))));
  }

  /// The selector's view of the visualised test images: its mask and the points PPL would pick.
  void draw_selector(Trainer& uda, Selector& sel) {
    using namespace labor;
    const auto x = data::batch_images(data_.test, vis_idx_, cfg_.labor.normalization).template to<D>();
    const auto [d1, d2] = uda.selector_probabilities(sel, x);
    const auto p1 = d1.template to<cpu>(), p2 = d2.template to<cpu>();
    const auto a1 = labor::argmax_channels(p1), a2 = labor::argmax_channels(p2);
    vis_mask_.assign(static_cast<std::size_t>(a1.numel()), 0);
    for (std::int64_t i = 0; i < a1.numel(); ++i) vis_mask_[static_cast<std::size_t>(i)] = a1[i] != a2[i];
    vis_ppl_ = samplers::PplSampler{cfg_.ppl_points, static_cast<double>(cfg_.ppl_min_distance)}.select(p1, p2);
  }

  void write_visuals() const {
    using namespace labor;
    const std::int64_t h = data_.height, w = data_.width;
    if (!vis_idx_.empty()) fs::create_directories(out_ / "visuals");
    for (std::size_t v = 0; v < vis_idx_.size(); ++v) {
      const auto i = vis_idx_[v];
      std::vector<Panel> panels{image_panel(data_.test.image(i)), label_panel(data_.test.label(i))};
      std::vector<std::string> captions{"input", "ground truth"};
      for (const auto& m : order())
        if (predictions_.count(m) != 0) {
          const auto& p = predictions_.at(m);
          panels.push_back(label_panel(Tensor<std::int32_t, cpu>(p.slice(static_cast<std::int64_t>(v)))));
          captions.push_back(m);
        }
      std::vector<std::uint8_t> mask(vis_mask_.begin() + static_cast<std::ptrdiff_t>(v * h * w),
                                     vis_mask_.begin() + static_cast<std::ptrdiff_t>((v + 1) * h * w));
      panels.push_back(mask_panel(mask, h, w));
      const auto& q = vis_ppl_.images[v];
      panels.push_back(points_panel(data_.test.image(i), q.pixels, q.classes));
      captions.insert(captions.end(), {"mask (heads disagree)", "PPL points"});
      write_row(out_ / "visuals" / fmt::format("test_{:03d}.png", i), panels, captions);
    }
  }

  static const std::vector<std::string>& order() {
    static const std::vector<std::string> o = {"source_only", "uda",     "labor_ppl",   "labor_spl",
                                               "random",      "entropy", "ripu_region", "target_supervised"};
    return o;
  }

  /// The rows of order(), then a curve's in the order they ran (budget, then strategy).
  std::vector<MethodResult> ordered_rows() const {
    std::vector<MethodResult> out;
    for (const auto& m : order())
      if (rows_.count(m) != 0) out.push_back(rows_.at(m));
    for (const auto& m : curve_names_) out.push_back(rows_.at(m));
    return out;
  }

  [[nodiscard]] std::int64_t num_classes() const { return static_cast<std::int64_t>(data_.class_names.size()); }

 public:
  /// Per method, its rows after each round (only with more than one round).
  [[nodiscard]] const std::map<std::string, std::vector<MethodResult>>& round_rows() const { return round_rows_; }

 private:
  Config cfg_;
  Splits data_;
  MakeBackbone make_backbone_;
  fs::path out_;
  Progress& progress_;
  nlohmann::json config_json_;
  std::int64_t visuals_;
  Run run_;
  std::vector<std::int64_t> vis_idx_;
  std::map<std::string, MethodResult> rows_;
  std::map<std::string, std::vector<MethodResult>> round_rows_;
  std::map<std::string, labor::Tensor<std::int32_t, labor::cpu>> predictions_;
  /// Per model fingerprint, its predicted classes on the pool (image-major, for profile()).
  std::map<std::string, std::vector<std::uint8_t>> pool_predictions_;
  /// Per labeled stage, profile() of its labels.
  std::map<std::string, nlohmann::json> profiles_;
  /// A curve's labeled stages, in the order they ran.
  std::vector<std::string> curve_names_;
  std::vector<std::uint8_t> vis_mask_;
  labor::samplers::Query vis_ppl_;
  nlohmann::json timing_ = nlohmann::json::object();
};

/// Runs the comparison of `cfg` on `data` with backbones made by `make_backbone` (the weights of
/// cfg.weights loaded into each, when set), on the backbone's device.
template <labor::models::Backbone B, class Make>
RunOutput run_comparison(const Config& cfg, Splits data, Make make_backbone, const fs::path& out, Progress& progress,
                         std::int64_t visuals) {
  Comparison<B> c(cfg, std::move(data), make_backbone, out, progress, visuals);
  RunOutput r;
  r.rows = c.run();
  r.config = c.config_json();
  r.timing = c.timing();
  for (const auto& [m, rows] : c.round_rows())
    for (const auto& row : rows) r.round_rows[m].push_back(row);
  return r;
}

/// The comparison with the SmallBackbone presets on device D.
template <labor::Device D>
RunOutput run_small_on(const Config& cfg, Splits data, const fs::path& out, Progress& progress, std::int64_t visuals) {
  return with_small<D>(cfg, [&]<class B, class Make>(std::type_identity<B>, Make make) {
    return run_comparison<B>(cfg, std::move(data), make, out, progress, visuals);
  });
}

/// The comparison with a DeepLab-v2 ResNet preset (cfg.model) on device D.
template <labor::Device D>
RunOutput run_resnet_on(const Config& cfg, Splits data, const fs::path& out, Progress& progress, std::int64_t visuals) {
  return with_resnet<D>(cfg, [&]<class B, class Make>(std::type_identity<B>, Make make) {
    return run_comparison<B>(cfg, std::move(data), make, out, progress, visuals);
  });
}

}  // namespace labor_train
