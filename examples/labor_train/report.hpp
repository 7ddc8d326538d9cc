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
  std::string name;                   ///< source_only, uda, labor_ppl, labor_spl, random, entropy, target_supervised
  double miou = 0;                    ///< percent
  double labeled_fraction = 0;        ///< labeled target pool pixels / all target pool pixels
  double points_per_image = 0;        ///< labeled pixels per target pool image
  std::vector<double> per_class_iou;  ///< percent; NaN where a class has an empty union

  [[nodiscard]] nlohmann::json to_json() const {
    nlohmann::json iou = nlohmann::json::array();
    for (double v : per_class_iou) iou.push_back(std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v));
    return {{"name", name},
            {"miou", miou},
            {"labeled_fraction", labeled_fraction},
            {"points_per_image", points_per_image},
            {"per_class_iou", iou}};
  }
  static MethodResult from_json(const nlohmann::json& j) {
    MethodResult r;
    r.name = j.at("name").get<std::string>();
    r.miou = j.at("miou").get<double>();
    r.labeled_fraction = j.at("labeled_fraction").get<double>();
    r.points_per_image = j.at("points_per_image").get<double>();
    for (const auto& v : j.at("per_class_iou")) r.per_class_iou.push_back(v.is_null() ? NAN : v.get<double>());
    return r;
  }
};

/// The Markdown table: method, labeled % of the pool, points per image, mIoU, per-class IoU.
inline std::string markdown_table(const std::vector<MethodResult>& rows, const std::vector<std::string>& classes) {
  std::string out = "| method | labeled % | points/image | mIoU |";
  std::string rule = "|---|---:|---:|---:|";
  for (const auto& c : classes) {
    out += fmt::format(" {} |", c);
    rule += "---:|";
  }
  out += "\n" + rule + "\n";
  for (const auto& r : rows) {
    out += fmt::format("| {} | {} | {} | **{:.1f}** |", r.name, fmt::format("{:.3g}", 100.0 * r.labeled_fraction),
                       fmt::format("{:.1f}", r.points_per_image), r.miou);
    for (double v : r.per_class_iou) out += std::isnan(v) ? std::string(" n/a |") : fmt::format(" {:.1f} |", v);
    out += "\n";
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
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      W, H);
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
  for (double m = 0; m <= ymax + 1e-9; m += 10) {
    const double y = py(m);
    s += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>\n", L, y, W - R, y);
    s += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:g}</text>\n", L - 6, y + 4, m);
  }
  s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">labeled target pixels (log scale)</text>\n",
                   (L + W - R) / 2, H - 12);
  s += fmt::format("<text x=\"16\" y=\"{}\" transform=\"rotate(-90 16 {})\" text-anchor=\"middle\">mIoU (%)</text>\n",
                   (T + H - B) / 2, (T + H - B) / 2);
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
