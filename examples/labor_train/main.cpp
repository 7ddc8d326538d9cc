// labor_train: LabOR end to end on the embedded synthetic two-domain benchmark.
//
//   labor_train [--preset default|quick] [--out DIR] [--seed N] [--threads N] [--quiet] [--restart]
//               [--points N] [--spl-cap F] [--visuals N] [stage and data overrides, see --help]
//
// Trains source-only, UDA (AdaptSeg), LabOR's pixel selector, selects with LabOR-SPL, LabOR-PPL,
// random, entropy and RIPU's region mode (the last three at SPL's realised budget), adapts one model
// per selection and a fully supervised upper bound, scores each on the target validation split and
// the target test split, and prints a Markdown table. Writes DIR/results.json,
// DIR/miou_vs_labels.svg, DIR/visuals/test_*.png, DIR/labels/*.lstore and DIR/checkpoints/ (one
// per stage: a rerun resumes after the last finished stage and prints the same table). Any bad
// input ends with one line on stderr starting "labor_train: error: " and exit status 1 (2 for
// command-line syntax errors), before anything in DIR is written.

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <labor/core/parallel.hpp>

#include "cli.hpp"
#include "curve.hpp"
#include "experiment.hpp"
#include "splits.hpp"

namespace {

using labor_train::parse_size;
using labor_train::split_list;

void print_error(std::string message) { labor_train::print_error("labor_train", std::move(message)); }


/// Command-line overrides of a preset (unset = keep the preset's value).
struct Overrides {
  std::optional<std::int64_t> source_iters, uda_iters, selector_iters, adapt_iters, batch;
  std::optional<std::int64_t> source_images, pool_images, test_images, val_images, height, width;
  std::optional<double> lambda_adv, lambda_dis, lambda_weight, palette_shift;
};

template <class T>
void set_if(const std::optional<T>& v, T& field) {
  if (v) field = *v;
}

/// The comma-separated numbers of `text` for `flag` (none for an empty text), each parsed by `parse`
/// (std::stoll, std::stod, ...). @throws labor::Error naming the flag for an item that is not a number.
template <class F>
auto parse_numbers(const std::string& text, const char* flag, F parse) {
  std::vector<decltype(parse(std::string(), nullptr))> out;
  for (const auto& item : split_list(text)) {
    std::size_t used = 0;
    try {
      out.push_back(parse(item, &used));
    } catch (const std::exception&) {
      used = 0;
    }
    LABOR_CHECK(used == item.size() && !item.empty(), "{}: expected comma-separated numbers, got '{}'", flag, text);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "labor_train: LabOR (Labeling Only if Required) end to end on the embedded synthetic benchmark.\n"
      "Runs source-only, UDA, LabOR-PPL, LabOR-SPL, random, entropy and RIPU (region) at SPL's budget, and "
      "target-supervised; scores each on the target validation and test splits; prints the table and writes "
      "results.json, a plot and visuals to --out."};
  std::string preset_name = "default", out = "labor_out";
  std::uint64_t seed = 0;
  int threads = 0;
  bool quiet = false, restart = false;
  std::int64_t visuals = 4;
  std::optional<std::int64_t> points, min_distance;
  std::optional<double> spl_cap;
  std::string export_dir, resize, source_resize, class_names, weights, crop, scale, device = "cpu";
  std::optional<int> workers;
  std::int64_t checkpoint_every = 0, rounds = 1;
  std::optional<std::string> model;
  bool curve = false;
  std::optional<std::string> curve_points, curve_fractions, curve_strategies, seeds;
  labor_train::FileData files;
  Overrides ov;
  app.add_option("--preset", preset_name, "default (≈ 5 min on 2 cores) or quick (< 2 min)")->capture_default_str();
  app.add_option("--out", out, "output folder (created; checkpoints in it are resumed)")->capture_default_str();
  app.add_option("--seed", seed, "seed of the benchmark and of every random choice")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (0: all)")->capture_default_str();
  app.add_flag("--quiet", quiet, "no progress bars: one line per stage (for logs)");
  app.add_flag("--restart", restart, "delete the checkpoints in --out first and train every stage again");
  app.add_option("--points", points, "LabOR-PPL points per image (default 40)");
  app.add_option("--min-distance", min_distance, "LabOR-PPL minimum Chebyshev distance between points of a class");
  app.add_option("--spl-cap", spl_cap, "LabOR-SPL per-image cap as a fraction of the pixels, in (0, 1]");
  app.add_option("--rounds", rounds,
                 "labeling rounds R: each labeled method spends its budget (--points, --spl-cap) in R equal parts, "
                 "retraining the selector from its own model and never re-selecting a labeled pixel")
      ->capture_default_str();
  app.add_option("--visuals", visuals, "target test images to draw in visuals/")->capture_default_str();
  app.add_flag("--curve", curve,
               "budget curves instead of the comparison: every strategy at every budget (--curve-points and "
               "--curve-fractions) for every seed of --seeds, sharing each seed's source-only, UDA and selector "
               "stages; writes OUT/seed_<s>/ per seed and OUT/curve.md, curve.json, curve.svg");
  app.add_option("--curve-points", curve_points,
                 "--curve: budgets in labeled points per image (default 5,10,20,40,80)");
  app.add_option("--curve-fractions", curve_fractions,
                 "--curve: budgets as fractions of an image's pixels, rounded to points (default "
                 "0.005,0.01,0.02,0.04)");
  app.add_option("--curve-strategies", curve_strategies,
                 "--curve: strategies (default labor_spl,labor_ppl,random,entropy,margin,ripu_region,ripu_pixel; "
                 "labor_spl keeps at most the budget's pixels of its mask per image)");
  app.add_option("--seeds", seeds, "--curve: comma-separated seeds (default: --seed)");
  app.add_option("--source-iters", ov.source_iters, "iterations of the source-only stage");
  app.add_option("--uda-iters", ov.uda_iters, "iterations of the UDA stage");
  app.add_option("--selector-iters", ov.selector_iters, "iterations of the selector stage");
  app.add_option("--adapt-iters", ov.adapt_iters, "iterations of each adaptation stage");
  app.add_option("--batch", ov.batch, "images per domain per iteration, every stage");
  app.add_option("--lambda-adv", ov.lambda_adv, "weight of the adversarial loss (UDA and adaptation)");
  app.add_option("--lambda-dis", ov.lambda_dis, "weight of the discrepancy the selector's heads maximise");
  app.add_option("--lambda-weight", ov.lambda_weight,
                 "weight of the selector heads' weight-space cosine similarity, which they minimise (the presets use 1; 0: off)");
  app.add_option("--source-images", ov.source_images, "source images of the benchmark");
  app.add_option("--pool-images", ov.pool_images, "target pool images of the benchmark");
  app.add_option("--test-images", ov.test_images, "target test images of the benchmark");
  app.add_option("--val-images", ov.val_images,
                 "target validation images of the benchmark (the default preset has 50, quick 24; 0: none)");
  app.add_option("--height", ov.height, "image height of the benchmark");
  app.add_option("--width", ov.width, "image width of the benchmark");
  app.add_option("--palette-shift", ov.palette_shift, "how far the target palette moves from the source's, in [0, 1]");
  auto* data_group = app.add_option_group(
      "Data from files",
      "Instead of the embedded benchmark, read PNG images and label maps (class indices, 255 = ignore). SPEC is "
      "folder:IMAGES:LABELS (matched by file stem), list:FILE (one 'image label' pair per line, relative to the "
      "file's folder), cityscapes:ROOT:SPLIT (leftImg8bit/ and gtFine/ *_labelIds.png, 19 train ids) or "
      "gta5:ROOT (images/ and labels/, 19 train ids). Unlabeled images (images:DIR) are for the `labor` program");
  data_group->add_option("--source", files.source, "labeled source domain SPEC");
  data_group->add_option("--target", files.target, "target pool SPEC (its labels answer the simulated oracle)");
  data_group->add_option("--target-test", files.target_test, "held-out target test SPEC");
  data_group->add_option("--target-val", files.target_val,
                         "labeled target validation SPEC (optional; its images apart from the pool's and the test "
                         "split's): settings are chosen on it, and the table shows both");
  data_group->add_option("--num-classes", files.num_classes,
                         "classes in the label maps (default: 19 for cityscapes/gta5; required for folder/list)");
  data_group->add_option("--label-map", files.label_map,
                         "raw label value → class, as '7:0,8:1,...' or a file of 'raw class' lines; a value the "
                         "map does not name is an error (map it to 255 to ignore it)");
  data_group->add_option("--class-names", class_names, "comma-separated class names for the table");
  data_group->add_option("--resize", resize, "resize every target image and label map to HxW (e.g. 512x1024)");
  data_group->add_option("--source-resize", source_resize, "resize every source image and label map to HxW (default: --resize)");
  app.add_option("--crop", crop, "train on random HxW crops (padded where an image is smaller)");
  app.add_option("--scale", scale, "random rescaling of training images by a factor in MIN,MAX (e.g. 0.5,1.5)");
  app.add_option("--checkpoint-every", checkpoint_every,
                 "also save a stage's weights and optimiser state every N iterations, so an interrupted stage "
                 "resumes where it was (0: only when a stage ends)")
      ->capture_default_str();
  app.add_option("--workers", workers, "loader threads decoding and augmenting ahead of training (default 2)");
  app.add_option("--model", model,
                 "network: small (CPU preset), deeplabv2-r18, deeplabv2-r50 or deeplabv2-r101 (the paper's)");
  app.add_option("--device", device,
                 "where the networks train: cpu, or cuda (a build with nvcc, on a machine with an NVIDIA GPU)")
      ->capture_default_str();
  app.add_option("--weights", weights,
                 "backbone weights (safetensors, e.g. from tools/export_safetensors.py); with a deeplabv2 model "
                 "its batch norm is then frozen, as DeepLab-v2 does");
  app.add_option("--export-data", export_dir,
                 "write the benchmark (as set by --preset, --seed and the benchmark options) as PNG folders and "
                 "list files to this folder, then exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    print_error(e.what());
    return 2;
  }
  try {
    using namespace labor_train;
    Config cfg = preset(preset_name);
    cfg.labor.seed = seed;
    cfg.data.seed = seed;
    set_if(ov.source_iters, cfg.source.iterations);
    set_if(ov.uda_iters, cfg.labor.uda.iterations);
    set_if(ov.selector_iters, cfg.labor.selector.iterations);
    set_if(ov.adapt_iters, cfg.labor.adapt.iterations);
    if (ov.batch)
      cfg.source.batch_size = cfg.labor.uda.batch_size = cfg.labor.selector.batch_size = cfg.labor.adapt.batch_size =
          *ov.batch;
    if (ov.lambda_adv) cfg.labor.uda.lambda_adv = cfg.labor.adapt.lambda_adv = *ov.lambda_adv;
    set_if(ov.lambda_dis, cfg.labor.selector.lambda_dis);
    set_if(ov.lambda_weight, cfg.labor.selector.lambda_weight);
    set_if(ov.source_images, cfg.data.source_images);
    set_if(ov.pool_images, cfg.data.target_pool);
    set_if(ov.test_images, cfg.data.target_test);
    set_if(ov.val_images, cfg.data.target_val);
    LABOR_CHECK(cfg.data.target_val >= 0, "--val-images: expected >= 0, got {}", cfg.data.target_val);
    set_if(ov.height, cfg.data.height);
    set_if(ov.width, cfg.data.width);
    set_if(ov.palette_shift, cfg.data.palette_shift);
    set_if(points, cfg.ppl_points);
    set_if(min_distance, cfg.ppl_min_distance);
    set_if(spl_cap, cfg.spl_cap);
    if (model) set_model(cfg, *model);
    const std::string gpu = check_device(device);  // before anything is read or written
    cfg.device = device;
    LABOR_CHECK(rounds >= 1, "--rounds: expected >= 1, got {}", rounds);
    cfg.labor.rounds = rounds;
    LABOR_CHECK(checkpoint_every >= 0, "--checkpoint-every: expected >= 0, got {}", checkpoint_every);
    cfg.checkpoint_every = checkpoint_every;
    if (workers) {
      LABOR_CHECK(*workers >= 0, "--workers: expected >= 0, got {}", *workers);
      cfg.labor.loader_workers = *workers;
    }
    if (!crop.empty() || !scale.empty()) {
      labor::data::AugmentOptions a{.flip = true};
      if (!crop.empty()) std::tie(a.crop_height, a.crop_width) = parse_size(crop, "--crop");
      if (!scale.empty()) {
        const auto parts = split_list(scale);
        try {
          LABOR_CHECK(parts.size() == 2, "");
          a.scale_min = std::stod(parts[0]);
          a.scale_max = std::stod(parts[1]);
        } catch (const std::exception&) {
          labor::fail("--scale: expected MIN,MAX (e.g. 0.5,1.5), got '{}'", scale);
        }
        LABOR_CHECK(a.scale_min > 0 && a.scale_min <= a.scale_max,
                    "--scale: expected 0 < MIN <= MAX, got '{}'", scale);
      }
      for (auto* o : {&cfg.source.augment, &cfg.labor.uda.augment, &cfg.labor.adapt.augment}) *o = a;
      cfg.labor.selector.augment = a;
    }
    cfg.weights = weights;
    if (!files.source.empty() || !files.target.empty() || !files.target_test.empty() || !files.target_val.empty()) {
      LABOR_CHECK(!files.source.empty(), "--source: expected a dataset spec with --target/--target-test, got none");
      LABOR_CHECK(!files.target.empty(), "--target: expected a dataset spec with --source, got none");
      LABOR_CHECK(!files.target_test.empty(), "--target-test: expected a dataset spec with --source, got none");
      LABOR_CHECK(files.num_classes >= 0 && files.num_classes <= 255, "--num-classes: expected in [1, 255], got {}",
                  files.num_classes);
      if (!resize.empty()) std::tie(files.height, files.width) = parse_size(resize, "--resize");
      if (!source_resize.empty())
        std::tie(files.source_height, files.source_width) = parse_size(source_resize, "--source-resize");
      files.class_names = split_list(class_names);
      cfg.files = files;
    }
    LABOR_CHECK(cfg.ppl_points > 0, "--points: expected a budget > 0 points per image, got {}", cfg.ppl_points);
    LABOR_CHECK(cfg.ppl_points >= rounds, "--points: expected at least one point per round ({} rounds), got {}",
                rounds, cfg.ppl_points);
    LABOR_CHECK(cfg.files.enabled() || cfg.ppl_points <= cfg.data.height * cfg.data.width,
                "--points: expected at most the {} pixels of an image, got {}", cfg.data.height * cfg.data.width,
                cfg.ppl_points);
    LABOR_CHECK(cfg.ppl_min_distance >= 0, "--min-distance: expected >= 0, got {}", cfg.ppl_min_distance);
    LABOR_CHECK(!spl_cap || (*spl_cap > 0 && *spl_cap <= 1), "--spl-cap: expected a fraction in (0, 1], got {}",
                spl_cap.value_or(0));
    LABOR_CHECK(visuals >= 0, "--visuals: expected >= 0, got {}", visuals);
    LABOR_CHECK(threads >= 0, "--threads: expected >= 0, got {}", threads);
    LABOR_CHECK(cfg.data.height >= 32 && cfg.data.width >= 32,
                "--height/--width: expected >= 32 (the discriminator halves the size 5 times), got {}×{}",
                cfg.data.height, cfg.data.width);
    labor::train::validate(cfg.source, "source_only");
    labor::train::validate(cfg.labor);
    if (threads > 0) labor::set_num_threads(threads);
    if (!export_dir.empty()) {
      export_benchmark(cfg, export_dir);
      const bool val = cfg.data.target_val > 0;
      std::printf(
          "Wrote the benchmark to %s: source/, target_pool/, target_test/%s (images/ and labels/ each) and "
          "source.txt, target_pool.txt, target_test.txt%s.\n",
          export_dir.c_str(), val ? ", target_val/" : "", val ? ", target_val.txt" : "");
      return 0;
    }

    const std::filesystem::path dir(out);
    LABOR_CHECK(!std::filesystem::exists(dir) || std::filesystem::is_directory(dir),
                "--out '{}': expected a folder, got a file", out);
    Progress progress(quiet);
    Splits splits = make_splits(cfg);
    LABOR_CHECK(splits.height >= 32 && splits.width >= 32,
                "target images: expected at least 32×32 (the discriminator halves the size 5 times), got {}×{}; "
                "pass --resize HxW",
                splits.height, splits.width);
    LABOR_CHECK(cfg.ppl_points <= splits.height * splits.width,
                "--points: expected at most the {} pixels of a target image, got {}", splits.height * splits.width,
                cfg.ppl_points);
    if (!curve)
      for (const auto& [flag, v] :
           {std::pair{"--curve-points", curve_points}, std::pair{"--curve-fractions", curve_fractions},
            std::pair{"--curve-strategies", curve_strategies}, std::pair{"--seeds", seeds}})
        LABOR_CHECK(!v, "{}: only with --curve", flag);
    if (curve) {
      const std::int64_t hw = splits.height * splits.width;
      std::vector<std::int64_t> budgets = parse_numbers(
          curve_points.value_or("5,10,20,40,80"), "--curve-points",
          [](const std::string& t, std::size_t* n) { return static_cast<std::int64_t>(std::stoll(t, n)); });
      for (const double f : parse_numbers(curve_fractions.value_or("0.005,0.01,0.02,0.04"), "--curve-fractions",
                                          [](const std::string&t, std::size_t*n) { return std::stod(t, n); })) {
        LABOR_CHECK(f > 0 && f <= 1, "--curve-fractions: expected fractions in (0, 1], got {}", f);
        budgets.push_back(std::max<std::int64_t>(1, std::llround(f * static_cast<double>(hw))));
      }
      LABOR_CHECK(!budgets.empty(), "--curve-points, --curve-fractions: expected at least one budget, got none");
      std::sort(budgets.begin(), budgets.end());
      budgets.erase(std::unique(budgets.begin(), budgets.end()), budgets.end());
      for (const auto b : budgets)
        LABOR_CHECK(
            b >= rounds && b <= hw,
            "--curve-points: expected budgets from {} (one point per round) to the {} pixels of an image, got {}",
            rounds, hw, b);
      cfg.curve.points = budgets;
      cfg.curve.strategies = split_list(curve_strategies.value_or(fmt::format("{}", fmt::join(strategies(), ","))));
      for (const auto& m : cfg.curve.strategies)
        LABOR_CHECK(std::find(strategies().begin(), strategies().end(), m) != strategies().end(),
                    "--curve-strategies: expected names from {}, got '{}'", fmt::join(strategies(), ", "), m);
      LABOR_CHECK(!cfg.curve.strategies.empty(), "--curve-strategies: expected at least one strategy, got none");
      const auto seed_list = parse_numbers(
          seeds.value_or(std::to_string(seed)), "--seeds",
          [](const std::string& t, std::size_t* n) { return static_cast<std::uint64_t>(std::stoull(t, n)); });
      LABOR_CHECK(!seed_list.empty(), "--seeds: expected at least one seed, got none");
      for (std::size_t i = 0; i < seed_list.size(); ++i)  // each seed once: one folder and one benchmark each
        LABOR_CHECK(std::find(seed_list.begin(), seed_list.begin() + static_cast<std::ptrdiff_t>(i), seed_list[i]) ==
                        seed_list.begin() + static_cast<std::ptrdiff_t>(i),
                    "--seeds: expected distinct seeds, got {} twice in '{}'", seed_list[i], *seeds);
      std::vector<std::vector<MethodResult>> per_seed;
      const auto t0 = std::chrono::steady_clock::now();
      for (const auto s : seed_list) {
        Config c = cfg;
        c.labor.seed = c.data.seed = s;
        const auto sd = dir / fmt::format("seed_{}", s);
        if (restart) std::filesystem::remove_all(sd / "checkpoints");
        progress.note(fmt::format("[curve] seed {}: {} strategies at {} budgets", s, c.curve.strategies.size(),
                                  c.curve.points.size()));
        Splits sp = s == seed ? std::move(splits) : make_splits(c);
        const auto names = sp.class_names;
        const RunOutput r = c.device == "cuda"   ? run_cuda(c, std::move(sp), sd, progress, visuals)
                            : c.model == "small" ? run_small(c, std::move(sp), sd, progress, visuals)
                                                 : run_resnet(c, std::move(sp), sd, progress, visuals);
        write_results(sd / "results.json", r.rows, names, r.config, r.timing);
        per_seed.push_back(r.rows);
      }
      const auto data = CurveData::from(per_seed);
      const std::string tables = curve_tables(data);
      labor::io::atomic_write(dir / "curve.md", "curve table", tables);
      labor::io::atomic_write(dir / "curve.json", "curve.json", curve_json(data).dump(2) + "\n");
      labor::io::atomic_write(dir / "curve.svg", "curve plot", curve_svg(data));
      std::printf("\n%s", tables.c_str());
      std::printf("Wrote %s/curve.md, %s/curve.json, %s/curve.svg and %s/seed_<s>/ (%s in all).\n", out.c_str(),
                  out.c_str(), out.c_str(), out.c_str(),
                  format_seconds(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()).c_str());
      return 0;
    }
    const auto classes = splits.class_names;
    const std::int64_t test_images = splits.test.size(), val_images = splits.val.size();
    if (restart) {
      LABOR_CHECK(!std::filesystem::exists(dir) || std::filesystem::is_directory(dir),
                  "--out '{}': expected a folder, got a file", out);
      std::filesystem::remove_all(dir / "checkpoints");
    }
    const auto t0 = std::chrono::steady_clock::now();
    if (!gpu.empty()) progress.note(fmt::format("[device] cuda: {}", gpu));
    const RunOutput result = cfg.device == "cuda"  ? run_cuda(cfg, std::move(splits), dir, progress, visuals)
                             : cfg.model == "small" ? run_small(cfg, std::move(splits), dir, progress, visuals)
                                                    : run_resnet(cfg, std::move(splits), dir, progress, visuals);
    const auto& rows = result.rows;
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    auto timing = result.timing;
    timing["total_seconds"] = total;
    write_results(dir / "results.json", rows, classes, result.config, timing);
    labor::io::atomic_write(dir / "miou_vs_labels.svg", "plot", svg_plot(rows));
    std::printf("\n%s\n", markdown_table(rows, classes).c_str());
    if (const auto sel = selection_table(rows); !sel.empty())
      std::printf("What the labels are (the model that selected them, on the target pool):\n\n%s\n", sel.c_str());
    for (const auto& [m, per_round] : result.round_rows) {
      std::vector<MethodResult> numbered = per_round;
      for (std::size_t r = 0; r < numbered.size(); ++r) numbered[r].name = fmt::format("{} round {}", m, r + 1);
      std::printf("%s\n", markdown_table(numbered, classes).c_str());
    }
    const std::string val_note =
        val_images > 0
            ? fmt::format("val mIoU on the {} target validation images (choose settings by it), ", val_images)
            : std::string();
    std::printf(
        "labeled %% = share of target pool pixels labeled by the oracle; %stest mIoU on the %lld held-out "
        "target test images.\nWrote %s/results.json, %s/miou_vs_labels.svg and %s/visuals/ (%s in all).\n",
        val_note.c_str(), static_cast<long long>(test_images), out.c_str(), out.c_str(), out.c_str(),
        format_seconds(total).c_str());
    return 0;
  } catch (const std::exception& e) {
    print_error(e.what());
    return 1;
  }
}
