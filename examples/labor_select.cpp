// labor_select: pick the pixels a human should label from a model's probability maps.
//
//   labor_select --p1 A.npy [--p2 B.npy] [--logits]
//                --strategy spl|ppl|random|entropy|margin|ripu_region|ripu_pixel [--points N] [--radius K]
//                [--cap F] [--min-distance R] [--seed S] --out DIR
//
// A.npy and B.npy are float32, little-endian, C-order arrays of shape C×H×W or N×C×H×W: the two
// heads' probability maps (a model with one head passes only --p1, used for both), or logits with
// --logits (a channel softmax is applied first). Writes DIR/queries.json and DIR/mask_<i>.png (see
// labor/annotate/file_oracle.hpp) and prints a short summary. Any bad input ends with one line on
// stderr starting "labor_select: error: " and exit status 1 (2 for command-line syntax errors);
// nothing is written to DIR before every input has been checked and the selection is complete.

#include <CLI/CLI.hpp>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <labor/annotate.hpp>
#include <labor/core.hpp>
#include <labor/io.hpp>
#include <labor/nn/softmax.hpp>
#include <labor/samplers.hpp>

namespace {

/// Parsed command line.
struct Options {
  std::string p1, p2, strategy, out;
  bool logits = false;
  std::optional<std::int64_t> points, radius;
  std::optional<double> cap;
  std::optional<double> min_distance;
  std::optional<std::uint64_t> seed;
};

/// One line on stderr, prefixed, newlines flattened.
void print_error(std::string message) {
  for (auto& ch : message)
    if (ch == '\n' || ch == '\r') ch = ' ';
  while (!message.empty() && message.back() == ' ') message.pop_back();
  std::fprintf(stderr, "labor_select: error: %s\n", message.c_str());
}

/// Reads a map as N×C×H×W (a C×H×W file gets N = 1).
labor::Tensor<float> read_map(const std::string& flag, const std::string& file) {
  auto t = labor::io::read_npy<float>(file);
  if (t.rank() == 3) t.reshape(labor::Shape{1, t.size(0), t.size(1), t.size(2)});
  LABOR_CHECK(t.rank() == 4, "{} '{}': shape: expected C×H×W or N×C×H×W, got {}", flag, file, t.shape());
  LABOR_CHECK(t.numel() > 0, "{} '{}': shape: expected a non-empty map, got {}", flag, file, t.shape());
  return t;
}

/// Throws unless `opt` is unset or `allowed`.
template <class T>
void only_for(const std::optional<T>& opt, bool allowed, const char* flag, const std::string& strategy,
              const char* which) {
  LABOR_CHECK(!opt.has_value() || allowed, "{} does not apply to --strategy {} (only to {})", flag, strategy, which);
}

labor::samplers::Query select(const Options& o, labor::TensorView<const float> p1, labor::TensorView<const float> p2) {
  namespace s = labor::samplers;
  const std::int64_t pixels = p1.size(2) * p1.size(3);
  const bool pointwise = o.strategy != "spl";
  only_for(o.points, pointwise, "--points", o.strategy, "ppl, random, entropy, margin, ripu_region, ripu_pixel");
  const bool ripu = o.strategy == "ripu_region" || o.strategy == "ripu_pixel";
  only_for(o.radius, ripu, "--radius", o.strategy, "ripu_region, ripu_pixel");
  only_for(o.cap, o.strategy == "spl", "--cap", o.strategy, "spl");
  only_for(o.min_distance, o.strategy == "ppl", "--min-distance", o.strategy, "ppl");
  only_for(o.seed, o.strategy == "random", "--seed", o.strategy, "random");
  if (pointwise) {
    LABOR_CHECK(o.points.has_value(), "--points is required for --strategy {}", o.strategy);
    LABOR_CHECK(*o.points > 0, "--points: expected > 0, got {}", *o.points);
    LABOR_CHECK(*o.points <= pixels, "--points: expected at most {} (the H×W = {}×{} pixels of an image), got {}",
                pixels, p1.size(2), p1.size(3), *o.points);
  }
  if (o.cap) LABOR_CHECK(*o.cap > 0.0 && *o.cap <= 1.0, "--cap: expected in (0, 1], got {}", *o.cap);
  if (o.radius)
    LABOR_CHECK(*o.radius >= 1 && *o.radius <= s::detail::ripu_max_radius, "--radius: expected 1 to {}, got {}",
                s::detail::ripu_max_radius, *o.radius);
  if (o.min_distance) LABOR_CHECK(*o.min_distance >= 0, "--min-distance: expected >= 0, got {}", *o.min_distance);

  if (o.strategy == "spl") return s::SplSampler{o.cap}.select(p1, p2);
  if (o.strategy == "ppl") return s::PplSampler{*o.points, o.min_distance.value_or(0.0)}.select(p1, p2);
  if (o.strategy == "random") return s::RandomSampler{*o.points, o.seed.value_or(0)}.select(p1, p2);
  if (o.strategy == "entropy") return s::EntropySampler{*o.points}.select(p1, p2);
  if (ripu)
    return s::RipuSampler{o.strategy == "ripu_region" ? s::RipuSampler::Mode::region : s::RipuSampler::Mode::pixel,
                          *o.points, o.radius.value_or(1)}
        .select(p1, p2);
  return s::MarginSampler{*o.points}.select(p1, p2);
}

void print_summary(const Options& o, const labor::samplers::Query& q, const labor::Shape& shape) {
  std::printf("labor_select: strategy %s on %lld image(s) of %lld×%lld, %lld classes\n", q.strategy.c_str(),
              static_cast<long long>(shape[0]), static_cast<long long>(shape[2]), static_cast<long long>(shape[3]),
              static_cast<long long>(shape[1]));
  std::printf("selected pixels: %lld of %lld (fraction %.6g)\n", static_cast<long long>(q.selected_pixels()),
              static_cast<long long>(q.pool_pixels()), q.fraction());
  std::string per_image;
  for (std::size_t i = 0; i < q.images.size(); ++i)
    per_image += fmt::format("{}{}", i ? ", " : "", q.images[i].pixels.size());
  std::printf("points per image: %.6g (%s)\n", q.points_per_image(), per_image.c_str());
  if (q.strategy == "ppl")
    for (std::size_t i = 0; i < q.images.size(); ++i)
      if (q.images[i].pixels.empty())
        std::printf("image %zu: the two heads agree everywhere (empty inconsistency mask): no points\n", i);
  std::string per_class;
  const auto counts = q.per_class_counts();
  for (std::size_t k = 0; k < counts.size(); ++k) per_class += fmt::format("{}{}:{}", k ? " " : "", k, counts[k]);
  std::printf("per-class counts (%s): %s\n", q.strategy == "ppl" ? "class chosen for" : "predicted class",
              per_class.c_str());
  std::printf("wrote %s and %zu mask(s) to %s\n", "queries.json", q.images.size(), o.out.c_str());
}

int run(const Options& o) {
  namespace fs = std::filesystem;
  std::error_code ec;
  LABOR_CHECK(!fs::exists(o.out, ec) || fs::is_directory(o.out, ec), "--out '{}': exists and is not a folder", o.out);

  auto p1 = read_map("--p1", o.p1);
  auto p2 = o.p2.empty() ? p1 : read_map("--p2", o.p2);
  LABOR_CHECK(p1.shape() == p2.shape(), "--p1 and --p2: shapes differ: {} vs {}", p1.shape(), p2.shape());
  if (o.logits) {
    p1 = labor::nn::softmax_channels(p1);
    p2 = o.p2.empty() ? p1 : labor::nn::softmax_channels(p2);
  } else {
    labor::samplers::validate_probabilities(p1.view(), fmt::format("--p1 '{}'", o.p1));
    if (!o.p2.empty()) labor::samplers::validate_probabilities(p2.view(), fmt::format("--p2 '{}'", o.p2));
  }
  const auto query = select(o, p1.view(), p2.view());
  labor::annotate::export_queries(query, o.out);
  print_summary(o, query, p1.shape());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"labor_select: choose the pixels to label from two probability maps (LabOR SPL/PPL and baselines)",
               "labor_select"};
  Options o;
  app.add_option("--p1", o.p1, "first head's map: float32 .npy, C×H×W or N×C×H×W")->required();
  app.add_option("--p2", o.p2, "second head's map, same shape (default: --p1)");
  app.add_flag("--logits", o.logits, "the maps are logits: apply a channel softmax first");
  app.add_option("--strategy", o.strategy, "spl, ppl, random, entropy, margin, ripu_region or ripu_pixel")
      ->required()
      ->check(CLI::IsMember({"spl", "ppl", "random", "entropy", "margin", "ripu_region", "ripu_pixel"}));
  app.add_option("--points", o.points,
                 "points per image (ppl, random, entropy, margin, ripu_pixel); ripu_region: the budget in pixels, "
                 "labeled as ceil(points / (2k+1)^2) whole windows");
  app.add_option("--radius", o.radius,
                 "ripu_region, ripu_pixel: window radius k, windows of (2k+1)^2 pixels (default 1)");
  app.add_option("--cap", o.cap, "spl: keep at most floor(cap·H·W) pixels per image, cap in (0, 1]");
  app.add_option("--min-distance", o.min_distance, "ppl: minimum Chebyshev distance between points of a class");
  app.add_option("--seed", o.seed, "random: seed");
  app.add_option("--out", o.out, "output folder (created if missing)")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    print_error(e.what());
    return 2;
  }
  try {
    return run(o);
  } catch (const labor::Error& e) {
    print_error(e.what());
  } catch (const std::exception& e) {
    print_error(e.what());
  }
  return 1;
}
