#pragma once
// labor_train's outputs: the Markdown table, results.json and the mIoU-against-labels plot (SVG).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <labor/io/atomic_file.hpp>

namespace labor_train {

/// One row of the comparison.
struct MethodResult {
  std::string name;       ///< source_only, uda, labor_ppl, labor_spl, random, entropy, ripu_region, target_supervised
  double miou = 0;        ///< percent, on the target test split
  double val_miou = NAN;  ///< percent, on the target validation split (NaN: no such split)
  double labeled_fraction = 0;        ///< labeled target pool pixels / all target pool pixels
  double points_per_image = 0;        ///< labeled pixels per target pool image
  std::vector<double> per_class_iou;  ///< percent; NaN where a class has an empty union
  /// For a labeled method: what its labels are made of (Comparison::profile); null otherwise.
  nlohmann::json selection;
  /// For a labeled method: its strategy (labor_spl, random, ...) and, in a budget curve, the
  /// points per image it was given (0: the comparison's budget).
  std::string strategy;
  std::int64_t budget = 0;

  [[nodiscard]] nlohmann::json to_json() const {
    nlohmann::json iou = nlohmann::json::array();
    for (double v : per_class_iou) iou.push_back(std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v));
    nlohmann::json j = {{"name", name},
                        {"miou", miou},
                        {"val_miou", std::isnan(val_miou) ? nlohmann::json(nullptr) : nlohmann::json(val_miou)},
                        {"labeled_fraction", labeled_fraction},
                        {"points_per_image", points_per_image},
                        {"per_class_iou", iou}};
    if (!selection.is_null()) j["selection"] = selection;
    if (!strategy.empty()) j["strategy"] = strategy;
    if (budget > 0) j["budget"] = budget;
    return j;
  }
  static MethodResult from_json(const nlohmann::json& j) {
    MethodResult r;
    r.name = j.at("name").get<std::string>();
    r.miou = j.at("miou").get<double>();
    if (j.contains("val_miou") && !j.at("val_miou").is_null()) r.val_miou = j.at("val_miou").get<double>();
    r.labeled_fraction = j.at("labeled_fraction").get<double>();
    r.points_per_image = j.at("points_per_image").get<double>();
    for (const auto& v : j.at("per_class_iou")) r.per_class_iou.push_back(v.is_null() ? NAN : v.get<double>());
    if (j.contains("selection")) r.selection = j.at("selection");
    if (j.contains("strategy")) r.strategy = j.at("strategy").get<std::string>();
    if (j.contains("budget")) r.budget = j.at("budget").get<std::int64_t>();
    return r;
  }
};

/// The Markdown table: method, labeled % of the pool, points per image, mIoU on the validation
/// split (a column only when a row has one), mIoU on the test split, per-class test IoU.
inline std::string markdown_table(const std::vector<MethodResult>& rows, const std::vector<std::string>& classes) {
  const bool val = std::any_of(rows.begin(), rows.end(), [](const MethodResult& r) { return !std::isnan(r.val_miou); });
  std::string out = fmt::format("| method | labeled % | points/image |{} mIoU |", val ? " val mIoU | test" : "");
  std::string rule = val ? "|---|---:|---:|---:|---:|" : "|---|---:|---:|---:|";
  for (const auto& c : classes) {
    out += fmt::format(" {} |", c);
    rule += "---:|";
  }
  out += "\n" + rule + "\n";
  for (const auto& r : rows) {
    out += fmt::format("| {} | {} | {} |", r.name, fmt::format("{:.3g}", 100.0 * r.labeled_fraction),
                       fmt::format("{:.1f}", r.points_per_image));
    if (val) out += std::isnan(r.val_miou) ? std::string(" n/a |") : fmt::format(" {:.1f} |", r.val_miou);
    out += fmt::format(" **{:.1f}** |", r.miou);
    for (double v : r.per_class_iou) out += std::isnan(v) ? std::string(" n/a |") : fmt::format(" {:.1f} |", v);
    out += "\n";
  }
  return out;
}

/// The table of what each labeled method selected (rows with a selection profile; empty when none):
/// labeled pixels on a class boundary, where the model that selected them is wrong, and within a
/// few pixels of another labeled pixel, each beside its rate over every pool pixel.
inline std::string selection_table(const std::vector<MethodResult>& rows) {
  std::string out;
  for (const auto& r : rows) {
    if (r.selection.is_null()) continue;
    const auto& s = r.selection;
    const auto pct = [&](const char* k) { return 100.0 * s.at(k).get<double>(); };
    if (out.empty())
      out = fmt::format(
          "| method | points/image | on a boundary % (pool) | where the model is wrong % (pool) | within {} px of "
          "another % |\n|---|---:|---:|---:|---:|\n",
          s.at("close_distance").get<std::int64_t>());
    out += fmt::format("| {} | {:.1f} | {:.1f} ({:.1f}) | {:.1f} ({:.1f}) | {:.1f} |\n", r.name, r.points_per_image,
                       pct("boundary_share"), pct("boundary_base"), pct("error_share"), pct("error_base"),
                       pct("close_share"));
  }
  return out;
}

/// results.json: {"methods": [...], "config": ..., "timing": ...}.
inline void write_results(const std::filesystem::path& file, const std::vector<MethodResult>& rows,
                          const std::vector<std::string>& classes, const nlohmann::json& config,
                          const nlohmann::json& timing) {
  nlohmann::json methods = nlohmann::json::array();
  for (const auto& r : rows) methods.push_back(r.to_json());
  const nlohmann::json j = {{"methods", methods}, {"classes", classes}, {"config", config}, {"timing", timing}};
  labor::io::atomic_write(file, "results.json", j.dump(2) + "\n");
}

/// The opening of an SVG of W×H pixels on white, its y grid and labels every 10 mIoU from 0 to
/// `ymax` in the plot area [L, W − R] × [T, H − B], and the axis titles (`xlabel` below).
inline std::string svg_frame(double W, double H, double L, double R, double T, double B, double ymax,
                             std::string_view xlabel) {
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      W, H);
  for (double m = 0; m <= ymax + 1e-9; m += 10) {
    const double y = H - B - m / ymax * (H - T - B);
    s += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>\n", L, y, W - R, y);
    s += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:g}</text>\n", L - 6, y + 4, m);
  }
  s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", (L + W - R) / 2, H - 12, xlabel);
  s += fmt::format("<text x=\"16\" y=\"{}\" transform=\"rotate(-90 16 {})\" text-anchor=\"middle\">mIoU (%)</text>\n",
                   (T + H - B) / 2, (T + H - B) / 2);
  return s;
}

/// An SVG scatter of mIoU against the labeled share of the target pool (log axis). Methods without
/// labels (source_only, uda) are horizontal dashed lines; the others are labeled points.
inline std::string svg_plot(const std::vector<MethodResult>& rows) {
  constexpr double W = 640, H = 400, L = 60, R = 20, T = 30, B = 50;
  const double lo = -4, hi = 0;  // 10^-4 .. 10^0
  double ymax = 0;
  for (const auto& r : rows) ymax = std::max(ymax, r.miou);
  ymax = std::ceil((ymax + 5) / 10) * 10;
  const auto px = [&](double f) { return L + (std::log10(std::max(f, 1e-4)) - lo) / (hi - lo) * (W - L - R); };
  const auto py = [&](double m) { return H - B - m / ymax * (H - T - B); };
  std::string s = svg_frame(W, H, L, R, T, B, ymax, "labeled target pixels (log scale)");
  s += fmt::format(
      "<text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">mIoU on the target test split "
      "against labeled target pixels</text>\n",
      W / 2);
  for (int e = -4; e <= 0; ++e) {
    const double x = px(std::pow(10.0, e));
    s += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#ddd\"/>\n", x, T, H - B);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}%</text>\n", x, H - B + 16,
                     fmt::format("{:g}", 100.0 * std::pow(10.0, e)));
  }
  // Labels of points that share an x (equal budgets) are spread to stay 14 px apart.
  std::vector<std::pair<double, const MethodResult*>> points;
  for (const auto& r : rows) {
    if (r.labeled_fraction <= 0) {
      const double y = py(r.miou);
      s += fmt::format(
          "<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#888\" stroke-dasharray=\"6 4\"/>\n", L, y,
          W - R, y);
      s += fmt::format("<text x=\"{}\" y=\"{:.1f}\" fill=\"#555\">{} {:.1f}</text>\n", L + 6, y - 4, r.name, r.miou);
    } else {
      points.emplace_back(py(r.miou), &r);
    }
  }
  std::sort(points.begin(), points.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::pair<double, double>> placed;  // (x, label y)
  for (const auto& [y, r] : points) {
    const double x = px(r->labeled_fraction);
    double ly = y + 4;
    for (const auto& [qx, qy] : placed)
      if (std::abs(qx - x) < 1.0 && ly < qy + 14) ly = qy + 14;
    placed.emplace_back(x, ly);
    const bool labor = r->name.rfind("labor", 0) == 0;
    s +=
        fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"5\" fill=\"{}\"/>\n", x, y, labor ? "#d62728" : "#1f77b4");
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{} {:.1f}</text>\n", x - 8, ly, r->name,
                     r->miou);
  }
  s += "</svg>\n";
  return s;
}

}  // namespace labor_train
