#pragma once
// The `labor` program's commands over a run folder: the run's settings (run.json) and every
// command that trains, selects, stores answers, predicts, evaluates or exports, generic over the
// backbone. The schedule itself is labor::train::LaborRun; this file reads the settings, opens
// the data, builds the networks and writes what a person reads.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <labor/annotate.hpp>
#include <labor/data.hpp>
#include <labor/io/atomic_file.hpp>
#include <labor/io/png.hpp>
#include <labor/metrics.hpp>
#include <labor/models.hpp>
#include <labor/models/export.hpp>
#include <labor/samplers.hpp>
#include <labor/train.hpp>

#include "../labor_train/experiment.hpp"
#include "../labor_train/progress.hpp"
#include "../labor_train/report.hpp"
#include "../labor_train/visuals.hpp"

namespace labor_cli {

namespace fs = std::filesystem;
using labor_train::Progress;

/// Version of run.json; another version is refused.
inline constexpr int config_version = 1;

/// The settings `labor init` writes to RUN/run.json; every later command reads them.
struct RunConfig {
  /// Dataset specs: labeled source, target pool (any kind, usually images:DIR), labeled target test ("" = none).
  std::string source, target, target_test;
  std::string model = "small", weights, preset = "default", label_map;
  std::int64_t num_classes = 0, height = 0, width = 0, source_height = 0, source_width = 0;
  std::vector<std::string> class_names;
  std::uint64_t seed = 0;

  [[nodiscard]] nlohmann::json to_json() const {
    return {{"labor_run_config", config_version},
            {"source", source},
            {"target", target},
            {"target_test", target_test},
            {"model", model},
            {"weights", weights},
            {"preset", preset},
            {"label_map", label_map},
            {"num_classes", num_classes},
            {"resize", {height, width}},
            {"source_resize", {source_height, source_width}},
            {"class_names", class_names},
            {"seed", seed}};
  }

  /// Reads RUN/run.json. @throws labor::Error naming the file for a missing, malformed or
  /// other-version file.
  static RunConfig read(const fs::path& run) {
    const auto file = run / "run.json";
    LABOR_CHECK(fs::is_directory(run), "run '{}': expected a run folder made by `labor init`, got {}", run.string(),
                fs::exists(run) ? "a file" : "nothing");
    LABOR_CHECK(fs::exists(file), "run '{}': no run.json (make the run with `labor init {} --source ... --target ...`)",
                run.string(), run.string());
    const auto j = labor::io::read_json(file);
    LABOR_CHECK(j.is_object() && j.contains("labor_run_config") && j["labor_run_config"] == config_version,
                "'{}': written by another labor version (expected labor_run_config {}); make a new run folder",
                file.string(), config_version);
    RunConfig c;
    try {
      c.source = j.at("source").get<std::string>();
      c.target = j.at("target").get<std::string>();
      c.target_test = j.at("target_test").get<std::string>();
      c.model = j.at("model").get<std::string>();
      c.weights = j.at("weights").get<std::string>();
      c.preset = j.at("preset").get<std::string>();
      c.label_map = j.at("label_map").get<std::string>();
      c.num_classes = j.at("num_classes").get<std::int64_t>();
      c.height = j.at("resize").at(0).get<std::int64_t>();
      c.width = j.at("resize").at(1).get<std::int64_t>();
      c.source_height = j.at("source_resize").at(0).get<std::int64_t>();
      c.source_width = j.at("source_resize").at(1).get<std::int64_t>();
      c.class_names = j.at("class_names").get<std::vector<std::string>>();
      c.seed = j.at("seed").get<std::uint64_t>();
    } catch (const nlohmann::json::exception& e) {
      labor::fail("'{}': expected the fields labor init writes ({})", file.string(), e.what());
    }
    LABOR_CHECK(c.num_classes >= 1 && c.num_classes <= 255, "'{}': num_classes: expected in [1, 255], got {}",
                file.string(), c.num_classes);
    LABOR_CHECK(static_cast<std::int64_t>(c.class_names.size()) == c.num_classes,
                "'{}': class_names: expected {} names, got {}", file.string(), c.num_classes, c.class_names.size());
    return c;
  }

  /// The stage settings: the preset's, for the model, with the run's seed.
  [[nodiscard]] labor_train::Config experiment() const {
    auto cfg = labor_train::preset(preset);
    labor_train::set_model(cfg, model);
    cfg.labor.seed = seed;
    cfg.weights = weights;
    return cfg;
  }

  /// Options of every file dataset of the run (resize, label map, classes).
  [[nodiscard]] labor::data::FileDatasetOptions dataset_options(bool source_side) const {
    labor::data::FileDatasetOptions o{.num_classes = static_cast<int>(num_classes), .height = height, .width = width};
    if (source_side && source_height > 0) {
      o.height = source_height;
      o.width = source_width;
    }
    if (!label_map.empty()) o.label_map = labor::data::LabelMap::from_argument(label_map);
    return o;
  }
};

/// Opens a dataset of the run; `labeled` requires labels (source, test sets). Errors name `what`.
inline labor::data::FileDataset open_data(const RunConfig& c, const std::string& what, const std::string& spec,
                                          bool labeled, bool source_side = false) {
  auto d = labor::data::open_dataset(spec, c.dataset_options(source_side));
  LABOR_CHECK(!labeled || d.has_labels(), "{} '{}': expected a labeled dataset, got images without labels", what, spec);
  return d;
}

/// What every command gets from the command line.
struct Common {
  fs::path run;
  std::string device = "cpu";
  int threads = 0;
  bool quiet = false;
};

/// Arguments of the commands that need them.
struct Args {
  std::string strategy = "ppl";
  std::optional<std::int64_t> points;
  std::optional<double> cap;
  std::int64_t min_distance = 0;
  std::optional<std::int64_t> round;
  std::string answers, images, out, test;
};

/// The `labor` command `name` with the networks of the run on device D.
template <labor::Device D>
int run_command(const std::string& name, const Common& common, const Args& args);

/// The stage options and hooks of the run `cfg` for LaborRun.
inline labor::train::RunOptions run_options(const RunConfig& rc, const labor_train::Config& cfg, Progress& progress) {
  labor::train::RunOptions o;
  o.identity = rc.to_json();
  o.identity.erase("class_names");  // names do not change any number
  o.identity["model_settings"] = {{"backbone_channels", cfg.backbone.channels},
                                  {"output_stride", cfg.backbone.output_stride},
                                  {"aspp_dilations", cfg.aspp_dilations},
                                  {"discriminator_ndf", cfg.ndf},
                                  {"align_corners", cfg.labor.align_corners}};
  o.source_only = cfg.source;
  o.labor = cfg.labor;
  o.num_classes = static_cast<std::int32_t>(rc.num_classes);
  o.class_names = rc.class_names;
  o.hooks.begin = [&progress](std::string_view s) { progress.begin(s); };
  o.hooks.end = [&progress](std::string_view s) { progress.end(s); };
  o.hooks.note = [](std::string_view s) { Progress::note(s); };
  return o;
}

/// The run's files and networks for one command, on the backbone B.
template <labor::models::Backbone B>
class Workflow {
 public:
  using D = typename B::device_type;
  using Trainer = labor::train::LaborTrainer<B, labor_train::HeadOn<D>, labor_train::DiscOn<D>>;
  using Run = labor::train::LaborRun<B, labor_train::HeadOn<D>, labor_train::DiscOn<D>>;

  template <class Make>
  Workflow(RunConfig rc, const Common& common, Make make_backbone)
      : rc_(std::move(rc)),
        cfg_(rc_.experiment()),
        common_(common),
        progress_(common.quiet),
        run_(common.run, run_options(rc_, cfg_, progress_)),
        trainer_(labor_train::make_trainer<B>(cfg_, make_backbone, rc_.num_classes)) {
    trainer_.set_monitor([this](const labor::train::StepInfo& s) { progress_.step(s); });
  }

  /// labor train: source-only, then UDA.
  int train() {
    auto source = open_data(rc_, "source", rc_.source, true, true);
    auto pool = open_data(rc_, "target", rc_.target, false);
    run_.source_only(trainer_, source, pool);
    run_.uda(trainer_, source, pool);
    evaluate_if_known("uda");
    std::printf("Trained source-only and UDA. Next: labor query %s --strategy ppl --points 40\n",
                common_.run.string().c_str());
    return 0;
  }

  /// labor query: the next round's selector, selection and the annotator's files.
  int query(const Args& a) {
    const std::int64_t last = run_.last_round();
    if (last > 0) {
      const auto status = run_.rounds_status().back();
      LABOR_CHECK(status.answered,
                  "round {} is waiting for answers: label the points in {}/ and run `labor answer {} ANSWERS` (or "
                  "--round {} to answer it later)",
                  last, run_.round_dir(last).string(), common_.run.string(), last);
      LABOR_CHECK(status.adapted, "round {} is answered but not adapted yet: run `labor adapt {}` first", last,
                  common_.run.string());
    }
    const std::int64_t round = last + 1;
    LABOR_CHECK(fs::exists(run_.checkpoint("uda")), "no trained model in '{}' yet: run `labor train {}` first",
                common_.run.string(), common_.run.string());
    auto pool = open_data(rc_, "target", rc_.target, false);
    const std::int64_t hw = pool.height() * pool.width();
    run_.load_model(round - 1, trainer_);
    auto sel = run_.selector(round, trainer_, pool);
    const labor::samplers::Query q = select(round, sel, pool, a, hw);
    const auto round_meta = labor::io::read_json(run_.round_dir(round) / "round.json");
    const auto selector_meta = run_.stage_meta(Run::stage_name("selector", round));
    const auto seconds = [](const nlohmann::json& j, const char* key) {
      return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].template get<double>() : 0.0;
    };
    Progress::note(fmt::format(
        "[timing] selection {:.2f}s (selector forward passes, sampler, queries.json, masks), "
        "pictures and answers template {:.2f}s; selector training {:.2f}s",
        seconds(round_meta, "seconds"), seconds(round_meta, "pictures_seconds"),
        selector_meta.is_object() && selector_meta.contains("timing") ? seconds(selector_meta["timing"], "seconds")
                                                                      : 0.0));
    std::printf(
        "Round %lld: %lld pixels queried in %lld images (%.3f%% of the pool). Label them:\n"
        "  pictures: %s/images/  (each point numbered as in answers_template.json)\n"
        "  fill %s/answers_template.json (\"labels\": a class 0..%lld or 255 per point) and run\n"
        "  labor answer %s %s/answers_template.json\n",
        static_cast<long long>(round), static_cast<long long>(q.selected_pixels()),
        static_cast<long long>(q.images.size()), 100.0 * q.fraction(), run_.round_dir(round).string().c_str(),
        run_.round_dir(round).string().c_str(), static_cast<long long>(rc_.num_classes - 1),
        common_.run.string().c_str(), run_.round_dir(round).string().c_str());
    return 0;
  }

  /// labor answer: an answers.json file or a folder of labels_<i>.png for a round.
  int answer(const Args& a) {
    const std::int64_t last = run_.last_round();
    LABOR_CHECK(last > 0, "no round has been queried in '{}' yet: run `labor query {}` first", common_.run.string(),
                common_.run.string());
    const std::int64_t round = a.round.value_or(last);
    LABOR_CHECK(round >= 1 && round <= last, "--round: expected a queried round in [1, {}], got {}", last, round);
    const auto q = run_.round_query(round);
    const auto meta = labor::io::read_json(run_.round_dir(round) / "round.json");
    std::vector<std::int64_t> ids(q.images.size());
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int64_t>(i);
    const fs::path src(a.answers);
    labor::annotate::Answers answers;
    const auto classes = static_cast<std::int32_t>(rc_.num_classes);
    if (fs::is_directory(src)) {
      answers = labor::annotate::import_answers(src, q, classes, ids, labor::annotate::AnswerFormat::png);
    } else {
      LABOR_CHECK(fs::exists(src), "answers '{}': no such file or folder", src.string());
      const auto j = labor::io::read_json(src);
      if (j.is_object() && j.contains("round"))
        LABOR_CHECK(j["round"] == round, "answers '{}': written for round {}, not round {} (pass --round)",
                    src.string(), labor::io::quote(j["round"]), round);
      if (j.is_object() && j.contains("query_id")) {
        LABOR_CHECK(meta.is_object() && meta.contains("query_id"), "'{}': expected a query_id, got none",
                    (run_.round_dir(round) / "round.json").string());
        LABOR_CHECK(j["query_id"] == meta["query_id"],
                    "answers '{}': they answer a query that no longer exists (query_id {}, round {} has {})",
                    src.string(), labor::io::quote(j["query_id"]), round, labor::io::quote(meta["query_id"]));
      }
      answers = labor::annotate::answers_from_json(j, src.string(), q, ids, classes);
    }
    const auto s = run_.answer(round, answers);
    if (s.changed)
      std::printf("Round %lld: stored %lld answers for %lld images. Next: labor adapt %s\n",
                  static_cast<long long>(round), static_cast<long long>(s.pixels), static_cast<long long>(s.images),
                  common_.run.string().c_str());
    else
      std::printf("Round %lld: these answers are stored already; nothing changed.\n", static_cast<long long>(round));
    return 0;
  }

  /// labor adapt: A continued with every answer so far.
  int adapt() {
    const std::int64_t last = run_.last_round();
    LABOR_CHECK(last > 0 && run_.round_store(last).num_images() > 0,
                "no answers in '{}' yet: run `labor query {}`, label the points, then `labor answer {} ANSWERS`",
                common_.run.string(), common_.run.string(), common_.run.string());
    auto source = open_data(rc_, "source", rc_.source, true, true);
    auto pool = open_data(rc_, "target", rc_.target, false);
    run_.load_model(last - 1, trainer_);
    run_.adapt(last, trainer_, source, pool);
    evaluate_if_known(Run::stage_name("adapt", last));
    std::printf(
        "Adapted with the answers of rounds 1..%lld. Next: labor query %s (another round), labor predict, "
        "labor eval or labor export\n",
        static_cast<long long>(last), common_.run.string().c_str());
    return 0;
  }

  /// labor predict: a label PNG and a colour overlay per image.
  int predict(const Args& a) {
    const auto [round, stage] = latest_model();
    run_.load_model(round, trainer_);
    auto images = open_data(rc_, "--images", a.images, false);
    const fs::path out(a.out);
    LABOR_CHECK(!fs::exists(out) || fs::is_directory(out), "--out '{}': expected a folder, got a file", out.string());
    fs::create_directories(out);
    const auto& norm = cfg_.labor.normalization;
    for (std::int64_t i = 0; i < images.size(); ++i) {
      const std::vector<std::int64_t> idx{i};
      const auto pred =
          trainer_.predict(labor::data::batch_images(images, idx, norm).template to<D>()).template to<labor::cpu>();
      const std::string stem = images.image_file(i).stem().string();
      const std::int64_t h = pred.size(1), w = pred.size(2);
      labor::Tensor<std::uint8_t, labor::cpu> labels(labor::Shape{h, w});
      for (std::int64_t p = 0; p < h * w; ++p) labels[p] = static_cast<std::uint8_t>(pred[p]);
      labor::io::write_png(out / (stem + ".png"), labels);
      const auto image = images.image(i);
      auto overlay = labor_train::image_panel(image);
      for (std::int64_t p = 0; p < h * w; ++p) {
        const auto c = labor_train::class_colour(pred[p]);
        for (int k = 0; k < 3; ++k)
          overlay[p * 3 + k] = static_cast<std::uint8_t>((overlay[p * 3 + k] + c[static_cast<std::size_t>(k)] + 1) / 2);
      }
      labor::io::write_png(out / (stem + "_overlay.png"), overlay);
    }
    std::printf("Wrote %lld label maps (class indices) and colour overlays to %s (model: %s).\n",
                static_cast<long long>(images.size()), out.string().c_str(), stage.c_str());
    return 0;
  }

  /// labor eval: the per-class IoU table and mIoU of the latest model.
  int eval(const Args& a) {
    const std::string spec = a.test.empty() ? rc_.target_test : a.test;
    LABOR_CHECK(!spec.empty(), "--test: expected a labeled target test spec (the run has none), got none");
    const auto [round, stage] = latest_model();
    run_.load_model(round, trainer_);
    auto test = open_data(rc_, "--test", spec, true);
    const auto cm = trainer_.evaluate(test);
    labor_train::MethodResult r;
    r.name = stage;
    r.miou = 100.0 * cm.miou();
    for (double v : cm.iou()) r.per_class_iou.push_back(100.0 * v);
    const auto labels = run_.labels_through(round);
    const auto pool_pixels = pool_size();
    r.labeled_fraction = pool_pixels.second > 0
                             ? static_cast<double>(labels.queried_pixels()) / static_cast<double>(pool_pixels.second)
                             : 0.0;
    r.points_per_image = pool_pixels.first > 0
                             ? static_cast<double>(labels.queried_pixels()) / static_cast<double>(pool_pixels.first)
                             : 0.0;
    std::printf("%s\nmIoU %.10f on %lld images of %s\n", labor_train::markdown_table({r}, rc_.class_names).c_str(),
                r.miou, static_cast<long long>(test.size()), spec.c_str());
    return 0;
  }

  /// labor export: the latest segmenter as safetensors with torchvision-style names.
  int export_model(const Args& a) {
    const auto [round, stage] = latest_model();
    run_.load_model(round, trainer_);
    LABOR_CHECK(!a.out.empty(), "--out: expected a .safetensors file, got none");
    labor::models::export_segmenter(trainer_.model(), a.out, architecture());
    std::printf("Wrote %s (model %s after %s). Load it in PyTorch with tools/load_labor_model.py.\n", a.out.c_str(),
                rc_.model.c_str(), stage.c_str());
    return 0;
  }

  /// The architecture of the run's segmenter for export_segmenter: the networks' description, the
  /// input normalisation and the logits' upsampling, what tools/load_labor_model.py needs.
  [[nodiscard]] nlohmann::json architecture();

 private:
  /// The selection of `round` with the strategy of `a` (its budget checked against the images' hw).
  template <class Sel, class Pool>
  labor::samplers::Query select(std::int64_t round, Sel& sel, const Pool& pool, const Args& a, std::int64_t hw) {
    namespace s = labor::samplers;
    const auto& st = a.strategy;
    LABOR_CHECK(!(st == "spl" && a.points),
                "--points: SPL takes --cap (a fraction of each image's pixels), not --points");
    LABOR_CHECK(st == "spl" || !a.cap, "--cap: only SPL takes a cap; {} takes --points", st);
    const std::int64_t points = a.points.value_or(40);
    LABOR_CHECK(points >= 1 && points <= hw, "--points: expected 1 to {} (the pixels of an image), got {}", hw, points);
    LABOR_CHECK(!a.cap || (*a.cap > 0 && *a.cap <= 1), "--cap: expected a fraction in (0, 1], got {}",
                a.cap.value_or(0));
    LABOR_CHECK(a.min_distance >= 0, "--min-distance: expected >= 0, got {}", a.min_distance);
    const auto seed = labor::train::stage_seed(cfg_.labor.seed, "random", round - 1);
    if (st == "ppl")
      return run_.query(round, trainer_, sel, pool, s::PplSampler{points, static_cast<double>(a.min_distance)},
                        {{"points", points}, {"min_distance", a.min_distance}});
    if (st == "spl") {
      s::SplSampler spl;
      if (a.cap) spl.cap = *a.cap;
      return run_.query(round, trainer_, sel, pool, spl, {{"cap", a.cap ? nlohmann::json(*a.cap) : nlohmann::json()}});
    }
    if (st == "random")
      return run_.query(round, trainer_, sel, pool, s::RandomSampler{points, seed},
                        {{"points", points}, {"seed", seed}});
    if (st == "entropy") return run_.query(round, trainer_, sel, pool, s::EntropySampler{points}, {{"points", points}});
    if (st == "margin") return run_.query(round, trainer_, sel, pool, s::MarginSampler{points}, {{"points", points}});
    if (st == "ripu_region" || st == "ripu_pixel")
      return run_.query(
          round, trainer_, sel, pool,
          s::RipuSampler{st == "ripu_region" ? s::RipuSampler::Mode::region : s::RipuSampler::Mode::pixel, points, 1},
          {{"points", points}, {"radius", 1}});
    labor::fail("--strategy: expected ppl, spl, random, entropy, margin, ripu_region or ripu_pixel, got '{}'", st);
  }

  /// The latest finished model: (round, stage name), round 0 = UDA.
  [[nodiscard]] std::pair<std::int64_t, std::string> latest_model() const {
    for (std::int64_t r = run_.last_round(); r >= 1; --r)
      if (fs::exists(run_.checkpoint(Run::stage_name("adapt", r)))) return {r, Run::stage_name("adapt", r)};
    LABOR_CHECK(fs::exists(run_.checkpoint("uda")), "no trained model in '{}' yet: run `labor train {}` first",
                common_.run.string(), common_.run.string());
    return {0, "uda"};
  }

  /// (images, pixels) of the target pool.
  [[nodiscard]] std::pair<std::int64_t, std::int64_t> pool_size() const {
    auto pool = open_data(rc_, "target", rc_.target, false);
    return {pool.size(), pool.size() * pool.height() * pool.width()};
  }

  /// After a stage: its mIoU on the run's test set (when it has one) into RUN/metrics.json.
  void evaluate_if_known(const std::string& stage) {
    if (rc_.target_test.empty()) return;
    auto test = open_data(rc_, "target test", rc_.target_test, true);
    const double miou = 100.0 * trainer_.evaluate(test).miou();
    const auto file = common_.run / "metrics.json";
    nlohmann::json m = fs::exists(file) ? labor::io::read_json(file) : nlohmann::json::object();
    LABOR_CHECK(m.is_object(), "'{}': expected a JSON object of mIoU per stage, got {}", file.string(),
                labor::io::quote(m));
    m[stage] = miou;
    labor::io::atomic_write(file, "json", m.dump(2) + "\n");
    Progress::note(fmt::format("[{}] mIoU {:.1f} on the target test set", stage, miou));
  }

  RunConfig rc_;
  labor_train::Config cfg_;
  Common common_;
  Progress progress_;
  Run run_;
  Trainer trainer_;
};

template <labor::models::Backbone B>
nlohmann::json Workflow<B>::architecture() {
  auto a = labor::models::describe(trainer_.model());
  a["input"] = labor::models::describe(cfg_.labor.normalization);
  a["align_corners"] = cfg_.labor.align_corners;
  return a;
}

/// The `labor` command `name` with the run's networks on device D.
template <labor::Device D>
int run_command(const std::string& name, const Common& common, const Args& args) {
  const RunConfig rc = RunConfig::read(common.run);
  const auto cfg = rc.experiment();
  return labor_train::with_backbone<D>(cfg, [&]<class B, class Make>(std::type_identity<B>, Make make) {
    Workflow<B> w(rc, common, make);
    if (name == "train") return w.train();
    if (name == "query") return w.query(args);
    if (name == "answer") return w.answer(args);
    if (name == "adapt") return w.adapt();
    if (name == "predict") return w.predict(args);
    if (name == "eval") return w.eval(args);
    if (name == "export") return w.export_model(args);
    labor::fail("labor: unknown command '{}'", name);
  });
}

}  // namespace labor_cli
