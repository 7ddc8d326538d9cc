// labor: LabOR on your own unlabeled target images, with a person answering the queries.
//
//   labor init RUN --source SPEC --target SPEC [--target-test SPEC] [--num-classes C] [--model ...]
//   labor train RUN                       source-only, then UDA (resumable)
//   labor query RUN [--strategy ppl] [--points 40 | --cap F]
//                                         the round's selector and selection; pictures to label
//   labor answer RUN ANSWERS [--round r]  answers.json, or a folder of labels_<i>.png
//   labor adapt RUN                       adapts the segmenter with every answer so far
//   labor predict RUN --images SPEC --out DIR
//   labor eval RUN [--test SPEC]
//   labor export RUN --out model.safetensors
//   labor status RUN
//
// Every error is one line on stderr starting "labor: error: " with exit status 1 (2 for
// command-line syntax); a command that fails changes nothing in RUN.

#include <CLI/CLI.hpp>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <labor/core/parallel.hpp>

#include "../labor_train/cli.hpp"
#include "workflow.hpp"

namespace labor_cli {

using labor_train::check_device;
/// run_command on the GPU (device_cuda.cu; a build without CUDA refuses).
int run_command_cuda(const std::string& name, const Common& common, const Args& args);

namespace {

using labor_train::parse_size;
using labor_train::split_list;

void print_error(std::string message) { labor_train::print_error("labor", std::move(message)); }

/// labor init: checks the specs by opening every dataset, then writes RUN/run.json.
int init(const Common& common, RunConfig c, const std::string& resize, const std::string& source_resize,
         const std::string& class_names) {
  namespace fs = std::filesystem;
  LABOR_CHECK(!fs::exists(common.run) || fs::is_directory(common.run), "run '{}': expected a folder, got a file",
              common.run.string());
  if (!resize.empty()) std::tie(c.height, c.width) = parse_size(resize, "--resize");
  if (!source_resize.empty()) std::tie(c.source_height, c.source_width) = parse_size(source_resize, "--source-resize");
  const bool cityscapes_like = c.source.rfind("cityscapes:", 0) == 0 || c.source.rfind("gta5:", 0) == 0;
  if (c.num_classes == 0) {
    LABOR_CHECK(cityscapes_like, "--num-classes: expected the number of classes for folder: and list: data, got none");
    c.num_classes = 19;
  }
  LABOR_CHECK(c.num_classes >= 1 && c.num_classes <= 255, "--num-classes: expected in [1, 255], got {}", c.num_classes);
  c.class_names = split_list(class_names);
  if (c.class_names.empty() && c.num_classes == 19 && cityscapes_like)
    c.class_names.assign(labor::data::cityscapes_class_names.begin(), labor::data::cityscapes_class_names.end());
  if (c.class_names.empty())
    for (std::int64_t k = 0; k < c.num_classes; ++k) c.class_names.push_back(fmt::format("class_{}", k));
  LABOR_CHECK(static_cast<std::int64_t>(c.class_names.size()) == c.num_classes,
              "--class-names: expected {} names (one per class), got {}", c.num_classes, c.class_names.size());
  (void)c.experiment();  // checks --preset and --model
  const auto source = open_data(c, "--source", c.source, true, true);
  const auto pool = open_data(c, "--target", c.target, false);
  LABOR_CHECK(pool.height() >= 32 && pool.width() >= 32,
              "--target: expected images of at least 32×32 (the discriminator halves the size 5 times), got {}×{}; "
              "pass --resize HxW",
              pool.height(), pool.width());
  if (!c.target_test.empty()) {
    const auto test = open_data(c, "--target-test", c.target_test, true);
    LABOR_CHECK(test.height() == pool.height() && test.width() == pool.width(),
                "--target-test: expected the target pool's image size {}×{}, got {}×{}; pass --resize HxW",
                pool.height(), pool.width(), test.height(), test.width());
  }
  const auto file = common.run / "run.json";
  const std::string text = c.to_json().dump(2) + "\n";
  if (fs::exists(file)) {
    const auto old = RunConfig::read(common.run);
    LABOR_CHECK(old.to_json() == c.to_json(),
                "run '{}' exists with other settings ({}): choose another folder for a new run", common.run.string(),
                file.string());
    std::printf("%s is set up already with these settings.\n", common.run.string().c_str());
    return 0;
  }
  fs::create_directories(common.run);
  labor::io::atomic_write(file, "json", text);
  std::printf("Made run %s: %lld source, %lld target pool images of %lld×%lld, %lld classes.\nNext: labor train %s\n",
              common.run.string().c_str(), static_cast<long long>(source.size()), static_cast<long long>(pool.size()),
              static_cast<long long>(pool.height()), static_cast<long long>(pool.width()),
              static_cast<long long>(c.num_classes), common.run.string().c_str());
  return 0;
}

/// labor status: rounds, labels so far, mIoU per stage, the next command.
int status(const Common& common) {
  namespace fs = std::filesystem;
  const auto rc = RunConfig::read(common.run);
  Progress progress(true);
  using Run = labor::train::LaborRun<labor::models::SmallBackbone<float, labor::cpu>, labor_train::HeadOn<labor::cpu>,
                                     labor_train::DiscOn<labor::cpu>>;
  const Run run(common.run, run_options(rc, rc.experiment(), progress));
  const auto metrics = fs::exists(common.run / "metrics.json")
                           ? labor::io::read_json(common.run / "metrics.json")
                           : nlohmann::json::object();
  const auto miou = [&](const std::string& stage) {
    return metrics.is_object() && metrics.contains(stage) && metrics[stage].is_number()
               ? fmt::format(" · mIoU {:.1f}", metrics[stage].get<double>())
               : std::string();
  };
  std::printf("run %s: model %s, %lld classes, target %s\n", common.run.string().c_str(), rc.model.c_str(),
              static_cast<long long>(rc.num_classes), rc.target.c_str());
  const bool trained = fs::exists(run.checkpoint("uda"));
  std::printf("  source-only %s, UDA %s%s\n", fs::exists(run.checkpoint("source_only")) ? "done" : "not yet",
              trained ? "done" : "not yet", miou("uda").c_str());
  std::string next = trained ? fmt::format("labor query {} --strategy ppl --points 40", common.run.string())
                             : fmt::format("labor train {}", common.run.string());
  std::int64_t points = 0, labeled = 0;
  for (const auto& s : run.rounds_status()) {
    points += s.answered_pixels;
    labeled += s.labeled_pixels;
    std::printf("  round %lld (%s): %lld pixels queried in %lld images; answers for %lld images (%lld pixels, %lld "
                "with a class); %s%s\n",
                static_cast<long long>(s.round), s.strategy.c_str(), static_cast<long long>(s.queried_pixels),
                static_cast<long long>(s.images), static_cast<long long>(s.answered_images),
                static_cast<long long>(s.answered_pixels), static_cast<long long>(s.labeled_pixels),
                s.adapted ? "adapted" : "not adapted", miou(Run::stage_name("adapt", s.round)).c_str());
    if (!s.answered)
      next = fmt::format("label {}/answers_template.json, then labor answer {} {}/answers_template.json",
                         run.round_dir(s.round).string(), common.run.string(), run.round_dir(s.round).string());
    else if (!s.adapted)
      next = fmt::format("labor adapt {}", common.run.string());
    else
      next = fmt::format("labor query {} (round {}), or labor predict / eval / export", common.run.string(),
                         s.round + 1);
  }
  std::printf("  labeled so far: %lld pixels answered, %lld with a class\nnext: %s\n", static_cast<long long>(points),
              static_cast<long long>(labeled), next.c_str());
  return 0;
}

}  // namespace
}  // namespace labor_cli

int main(int argc, char** argv) {
  using namespace labor_cli;
  CLI::App app{"labor: LabOR (Labeling Only if Required) on your own target images.\n"
               "A run folder holds the settings, the models, every round's queries and the answers.\n"
               "Example:\n"
               "  labor init run --source folder:src/images:src/labels --target images:target --num-classes 19\n"
               "  labor train run && labor query run --strategy ppl --points 40\n"
               "  labor answer run run/rounds/1/answers_template.json && labor adapt run\n"
               "  labor predict run --images images:new --out predictions"};
  app.require_subcommand(1);
  Common common;
  Args args;
  RunConfig init_config;
  std::string resize, source_resize, class_names;
  const auto add_common = [&](CLI::App* sub, bool device) {
    sub->add_option("RUN", common.run, "the run folder")->required();
    if (device) {
      sub->add_option("--device", common.device, "cpu, or cuda (a build with nvcc, on a machine with a GPU)")
          ->capture_default_str();
      sub->add_option("--threads", common.threads, "CPU threads (0: all)")->capture_default_str();
      sub->add_flag("--quiet", common.quiet, "no progress bars: one line per stage");
    }
  };
  auto* init_cmd = app.add_subcommand("init", "make a run folder: the data, the model and the schedule's preset\n"
                                              "  e.g. labor init run --source folder:S/images:S/labels "
                                              "--target images:T --target-test folder:V/images:V/labels "
                                              "--num-classes 10");
  add_common(init_cmd, false);
  init_cmd->add_option("--source", init_config.source, "labeled source SPEC (folder:, list:, cityscapes:, gta5:)")
      ->required();
  init_cmd->add_option("--target", init_config.target, "target pool SPEC, usually images:DIR (unlabeled)")->required();
  init_cmd->add_option("--target-test", init_config.target_test, "labeled target test SPEC (optional: mIoU)");
  init_cmd->add_option("--model", init_config.model, "small, deeplabv2-r18, deeplabv2-r50 or deeplabv2-r101")
      ->capture_default_str();
  init_cmd->add_option("--weights", init_config.weights, "backbone weights (safetensors)");
  init_cmd->add_option("--preset", init_config.preset, "stage lengths: default or quick")->capture_default_str();
  init_cmd->add_option("--seed", init_config.seed, "seed of every random choice")->capture_default_str();
  init_cmd->add_option("--num-classes", init_config.num_classes, "classes (default 19 for cityscapes:/gta5:)");
  init_cmd->add_option("--class-names", class_names, "comma-separated class names");
  init_cmd->add_option("--label-map", init_config.label_map, "raw label value → class ('7:0,8:1,...' or a file)");
  init_cmd->add_option("--resize", resize, "resize every target image to HxW");
  init_cmd->add_option("--source-resize", source_resize, "resize every source image to HxW (default: --resize)");

  auto* train_cmd = app.add_subcommand("train", "train source-only, then UDA (resumes where it stopped)\n"
                                                "  e.g. labor train run");
  add_common(train_cmd, true);
  auto* query_cmd = app.add_subcommand("query", "the next round: train its selector, select pixels, write what to "
                                                "label to RUN/rounds/<r>/\n  e.g. labor query run --strategy ppl "
                                                "--points 40");
  add_common(query_cmd, true);
  query_cmd
      ->add_option("--strategy", args.strategy,
                   "ppl, spl, random, entropy, margin, ripu_region or ripu_pixel (RIPU with 3×3 windows; "
                   "ripu_region labels ceil(points / 9) whole windows)")
      ->capture_default_str();
  query_cmd->add_option("--points", args.points,
                        "points per image (ppl, random, entropy, margin, ripu_pixel; the budget of ripu_region; "
                        "default 40)");
  query_cmd->add_option("--cap", args.cap, "SPL: at most this fraction of each image's pixels");
  query_cmd->add_option("--min-distance", args.min_distance, "PPL: minimum distance between points of a class")
      ->capture_default_str();
  auto* answer_cmd = app.add_subcommand("answer", "store a round's answers: an answers.json (the round's "
                                                  "answers_template.json filled in) or a folder of labels_<i>.png\n"
                                                  "  e.g. labor answer run run/rounds/1/answers_template.json");
  add_common(answer_cmd, true);
  answer_cmd->add_option("ANSWERS", args.answers, "answers.json or a folder of label PNGs")->required();
  answer_cmd->add_option("--round", args.round, "the round answered (default: the latest)");
  auto* adapt_cmd = app.add_subcommand("adapt", "adapt the segmenter with every answer so far\n  e.g. labor adapt run");
  add_common(adapt_cmd, true);
  auto* predict_cmd = app.add_subcommand("predict", "label PNGs and colour overlays for images\n"
                                                    "  e.g. labor predict run --images images:new --out pred");
  add_common(predict_cmd, true);
  predict_cmd->add_option("--images", args.images, "image SPEC (images:DIR, ...)")->required();
  predict_cmd->add_option("--out", args.out, "output folder")->required();
  auto* eval_cmd = app.add_subcommand("eval", "per-class IoU and mIoU on a labeled set\n  e.g. labor eval run");
  add_common(eval_cmd, true);
  eval_cmd->add_option("--test", args.test, "labeled SPEC (default: the run's --target-test)");
  auto* export_cmd = app.add_subcommand("export", "the segmenter as safetensors for PyTorch (tools/load_labor_model.py)"
                                                  "\n  e.g. labor export run --out model.safetensors");
  add_common(export_cmd, true);
  export_cmd->add_option("--out", args.out, "output .safetensors file")->required();
  auto* status_cmd = app.add_subcommand("status", "rounds, labels so far, mIoU per round, the next command\n"
                                                  "  e.g. labor status run");
  add_common(status_cmd, false);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    print_error(e.what());
    return 2;
  }
  try {
    if (init_cmd->parsed()) return init(common, init_config, resize, source_resize, class_names);
    if (status_cmd->parsed()) return status(common);
    LABOR_CHECK(common.threads >= 0, "--threads: expected >= 0, got {}", common.threads);
    const std::string gpu = check_device(common.device);  // before anything is read or written
    if (common.threads > 0) labor::set_num_threads(common.threads);
    if (!gpu.empty()) Progress::note(fmt::format("[device] cuda: {}", gpu));
    const std::string name = app.get_subcommands().front()->get_name();
    return common.device == "cuda" ? run_command_cuda(name, common, args)
                                   : run_command<labor::cpu>(name, common, args);
  } catch (const std::exception& e) {
    print_error(e.what());
    return 1;
  }
}
