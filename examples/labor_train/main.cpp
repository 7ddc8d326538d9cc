// labor_train: LabOR end to end on the embedded synthetic two-domain benchmark.
//
//   labor_train [--preset default|quick] [--out DIR] [--seed N] [--threads N] [--quiet] [--restart]
//               [--points N] [--spl-cap F] [--visuals N] [stage and data overrides, see --help]
//
// Trains source-only, UDA (AdaptSeg), LabOR's pixel selector, selects with LabOR-SPL, LabOR-PPL,
// random and entropy (at SPL's realised budget), adapts one model per selection and a fully
// supervised upper bound, and prints a Markdown table. Writes DIR/results.json,
// DIR/miou_vs_labels.svg, DIR/visuals/test_*.png, DIR/labels/*.lstore and DIR/checkpoints/ (one
// per stage: a rerun resumes after the last finished stage and prints the same table). Any bad
// input ends with one line on stderr starting "labor_train: error: " and exit status 1 (2 for
// command-line syntax errors), before anything in DIR is written.

#include <CLI/CLI.hpp>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>

#include <fmt/format.h>

#include <labor/core/parallel.hpp>

#include "experiment.hpp"

namespace {

void print_error(std::string message) {
  for (auto& ch : message)
    if (ch == '\n' || ch == '\r') ch = ' ';
  std::fprintf(stderr, "labor_train: error: %s\n", message.c_str());
}

/// Command-line overrides of a preset (unset = keep the preset's value).
struct Overrides {
  std::optional<std::int64_t> source_iters, uda_iters, selector_iters, adapt_iters, batch;
  std::optional<std::int64_t> source_images, pool_images, test_images, height, width;
  std::optional<double> lambda_adv, lambda_dis, palette_shift;
};

template <class T>
void set_if(const std::optional<T>& v, T& field) {
  if (v) field = *v;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "labor_train: LabOR (Labeling Only if Required) end to end on the embedded synthetic benchmark.\n"
      "Runs source-only, UDA, LabOR-PPL, LabOR-SPL, random and entropy at SPL's budget, and target-"
      "supervised; prints the table and writes results.json, a plot and visuals to --out."};
  std::string preset_name = "default", out = "labor_out";
  std::uint64_t seed = 0;
  int threads = 0;
  bool quiet = false, restart = false;
  std::int64_t visuals = 4;
  std::optional<std::int64_t> points, min_distance;
  std::optional<double> spl_cap;
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
  app.add_option("--visuals", visuals, "target test images to draw in visuals/")->capture_default_str();
  app.add_option("--source-iters", ov.source_iters, "iterations of the source-only stage");
  app.add_option("--uda-iters", ov.uda_iters, "iterations of the UDA stage");
  app.add_option("--selector-iters", ov.selector_iters, "iterations of the selector stage");
  app.add_option("--adapt-iters", ov.adapt_iters, "iterations of each adaptation stage");
  app.add_option("--batch", ov.batch, "images per domain per iteration, every stage");
  app.add_option("--lambda-adv", ov.lambda_adv, "weight of the adversarial loss (UDA and adaptation)");
  app.add_option("--lambda-dis", ov.lambda_dis, "weight of the discrepancy the selector's heads maximise");
  app.add_option("--source-images", ov.source_images, "source images of the benchmark");
  app.add_option("--pool-images", ov.pool_images, "target pool images of the benchmark");
  app.add_option("--test-images", ov.test_images, "target test images of the benchmark");
  app.add_option("--height", ov.height, "image height of the benchmark");
  app.add_option("--width", ov.width, "image width of the benchmark");
  app.add_option("--palette-shift", ov.palette_shift, "how far the target palette moves from the source's, in [0, 1]");
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
    set_if(ov.source_images, cfg.data.source_images);
    set_if(ov.pool_images, cfg.data.target_pool);
    set_if(ov.test_images, cfg.data.target_test);
    set_if(ov.height, cfg.data.height);
    set_if(ov.width, cfg.data.width);
    set_if(ov.palette_shift, cfg.data.palette_shift);
    set_if(points, cfg.ppl_points);
    set_if(min_distance, cfg.ppl_min_distance);
    set_if(spl_cap, cfg.spl_cap);
    LABOR_CHECK(cfg.ppl_points > 0, "--points: expected a budget > 0 points per image, got {}", cfg.ppl_points);
    LABOR_CHECK(cfg.ppl_points <= cfg.data.height * cfg.data.width,
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

    const std::filesystem::path dir(out);
    Progress progress(quiet);
    Comparison comparison(cfg, dir, progress, visuals);
    if (restart) {
      LABOR_CHECK(!std::filesystem::exists(dir) || std::filesystem::is_directory(dir),
                  "--out '{}': expected a folder, got a file", out);
      std::filesystem::remove_all(dir / "checkpoints");
    }
    const auto t0 = std::chrono::steady_clock::now();
    const auto rows = comparison.run();
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    std::vector<std::string> classes(labor::data::synthetic_class_names.begin(),
                                     labor::data::synthetic_class_names.end());
    auto timing = comparison.timing();
    timing["total_seconds"] = total;
    write_results(dir / "results.json", rows, classes, comparison.config_json(), timing);
    labor::io::detail::atomic_write(dir / "miou_vs_labels.svg", "plot", svg_plot(rows));
    std::printf("\n%s\n", markdown_table(rows, classes).c_str());
    std::printf(
        "labeled %% = share of target pool pixels labeled by the oracle; mIoU on the %lld held-out target "
        "test images.\nWrote %s/results.json, %s/miou_vs_labels.svg and %s/visuals/ (%s in all).\n",
        static_cast<long long>(cfg.data.target_test), out.c_str(), out.c_str(), out.c_str(),
        format_seconds(total).c_str());
    return 0;
  } catch (const std::exception& e) {
    print_error(e.what());
    return 1;
  }
}
