#pragma once
// labor_train --curve's outputs: every strategy's mIoU against its budget over several seeds, as
// tables of mean ± sd (validation and test split), curve.json and a plot with the spread shaded.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "report.hpp"

namespace labor_train {

/// Mean and sample standard deviation (0 for fewer than two values) of `v`; NaN values are skipped.
struct Spread {
  double mean = NAN, sd = 0;
  std::int64_t n = 0;

  static Spread of(const std::vector<double>& v) {
    Spread s;
    double sum = 0;
    for (double x : v)
      if (!std::isnan(x)) {
        sum += x;
        ++s.n;
      }
    if (s.n == 0) return s;
    s.mean = sum / static_cast<double>(s.n);
    if (s.n > 1) {
      double ss = 0;
      for (double x : v)
        if (!std::isnan(x)) ss += (x - s.mean) * (x - s.mean);
      s.sd = std::sqrt(ss / static_cast<double>(s.n - 1));
    }
    return s;
  }
  [[nodiscard]] std::string text() const {
    if (n == 0) return "n/a";
    return n > 1 ? fmt::format("{:.1f} ± {:.1f}", mean, sd) : fmt::format("{:.1f}", mean);
  }
};

/// One strategy at one budget, over the seeds.
struct CurveCell {
  std::string strategy;
  std::int64_t budget = 0;
  std::vector<double> val, test, points_per_image;
};

/// The curve's cells (rows with a budget, grouped by strategy and budget in the order first seen) and
/// the reference rows without labels or with all of them (uda, target_supervised), by name.
struct CurveData {
  std::vector<CurveCell> cells;
  std::map<std::string, CurveCell> references;
  std::int64_t seeds = 0;

  static CurveData from(const std::vector<std::vector<MethodResult>>& per_seed) {
    CurveData d;
    d.seeds = static_cast<std::int64_t>(per_seed.size());
    for (const auto& rows : per_seed)
      for (const auto& r : rows) {
        CurveCell* c = nullptr;
        if (r.budget > 0) {
          const auto it = std::find_if(d.cells.begin(), d.cells.end(), [&](const CurveCell& x) {
            return x.strategy == r.strategy && x.budget == r.budget;
          });
          c = it != d.cells.end() ? &*it : &d.cells.emplace_back(CurveCell{r.strategy, r.budget, {}, {}, {}});
        } else if (r.name == "uda" || r.name == "target_supervised") {
          c = &d.references[r.name];
          c->strategy = r.name;
        } else {
          continue;
        }
        c->val.push_back(r.val_miou);
        c->test.push_back(r.miou);
        c->points_per_image.push_back(r.points_per_image);
      }
    return d;
  }
  [[nodiscard]] std::vector<std::int64_t> budgets() const {
    std::vector<std::int64_t> b;
    for (const auto& c : cells)
      if (std::find(b.begin(), b.end(), c.budget) == b.end()) b.push_back(c.budget);
    std::sort(b.begin(), b.end());
    return b;
  }
  [[nodiscard]] std::vector<std::string> strategies() const {
    std::vector<std::string> s;
    for (const auto& c : cells)
      if (std::find(s.begin(), s.end(), c.strategy) == s.end()) s.push_back(c.strategy);
    return s;
  }
  [[nodiscard]] const CurveCell* cell(const std::string& strategy, std::int64_t budget) const {
    for (const auto& c : cells)
      if (c.strategy == strategy && c.budget == budget) return &c;
    return nullptr;
  }
};

/// The Markdown tables: mIoU (mean ± sd over the seeds) per strategy and budget, on the validation
/// split (with the strategy that wins there at each budget) and on the test split.
inline std::string curve_tables(const CurveData& d) {
  const auto budgets = d.budgets();
  std::string out;
  for (const bool val : {true, false}) {
    out += fmt::format("{} mIoU over {} seed{} (points per image):\n\n| strategy |", val ? "Validation" : "Test",
                       d.seeds, d.seeds == 1 ? "" : "s");
    std::string rule = "|---|";
    for (const auto b : budgets) {
      out += fmt::format(" {} |", b);
      rule += "---:|";
    }
    out += "\n" + rule + "\n";
    for (const auto& s : d.strategies()) {
      out += fmt::format("| {} |", s);
      for (const auto b : budgets) {
        const auto* c = d.cell(s, b);
        out += fmt::format(" {} |", c ? Spread::of(val ? c->val : c->test).text() : std::string("n/a"));
      }
      out += "\n";
    }
    if (val) {
      out += "| best on validation |";
      for (const auto b : budgets) {
        std::string best = "n/a";
        double top = -1;
        for (const auto& s : d.strategies())
          if (const auto* c = d.cell(s, b); c != nullptr) {
            const double m = Spread::of(c->val).mean;
            if (!std::isnan(m) && m > top) {
              top = m;
              best = s;
            }
          }
        out += fmt::format(" {} |", best);
      }
      out += "\n";
    }
    for (const auto& [name, c] : d.references)
      out += fmt::format("\n{}: {}", name, Spread::of(val ? c.val : c.test).text());
    out += "\n\n";
  }
  return out;
}

/// curve.json: per strategy and budget the per-seed values and their mean and sd.
inline nlohmann::json curve_json(const CurveData& d) {
  const auto cell_json = [](const CurveCell& c) {
    const auto val = Spread::of(c.val), test = Spread::of(c.test);
    const auto nan_null = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
    nlohmann::json vv = nlohmann::json::array(), tt = nlohmann::json::array();
    for (double v : c.val) vv.push_back(nan_null(v));
    for (double v : c.test) tt.push_back(nan_null(v));
    return nlohmann::json{{"strategy", c.strategy},
                          {"budget", c.budget},
                          {"val_miou", vv},
                          {"test_miou", tt},
                          {"points_per_image", c.points_per_image},
                          {"val_mean", nan_null(val.mean)},
                          {"val_sd", val.sd},
                          {"test_mean", nan_null(test.mean)},
                          {"test_sd", test.sd}};
  };
  nlohmann::json cells = nlohmann::json::array(), refs = nlohmann::json::object();
  for (const auto& c : d.cells) cells.push_back(cell_json(c));
  for (const auto& [name, c] : d.references) refs[name] = cell_json(c);
  return {{"seeds", d.seeds}, {"cells", cells}, {"references", refs}};
}

/// An SVG of test mIoU against labeled points per image (log axis; each point at the mean of the
/// pixels its strategy labeled, which for ripu_region is whole windows, not the budget): a line per
/// strategy through the means, its band mean ± sd shaded, UDA and the supervised ceiling dashed.
inline std::string curve_svg(const CurveData& d) {
  constexpr double W = 760, H = 440, L = 60, R = 150, T = 30, B = 50;
  const auto budgets = d.budgets();
  if (budgets.empty()) return "";
  double lo = std::log10(static_cast<double>(budgets.front())), hi = std::log10(static_cast<double>(budgets.back()));
  for (const auto& c : d.cells) {
    const double k = std::log10(std::max(Spread::of(c.points_per_image).mean, 0.5));
    lo = std::min(lo, k);
    hi = std::max(hi, k);
  }
  if (hi - lo < 1e-9) hi = lo + 1;
  lo -= 0.05 * (hi - lo);
  hi += 0.05 * (hi - lo);
  double ymax = 0;
  for (const auto& c : d.cells)
    for (double v : c.test) ymax = std::max(ymax, v);
  for (const auto& [n, c] : d.references)
    for (double v : c.test) ymax = std::max(ymax, v);
  ymax = std::ceil((ymax + 5) / 10) * 10;
  const auto px = [&](double k) { return L + (std::log10(k) - lo) / (hi - lo) * (W - L - R); };
  const auto py = [&](double m) { return H - B - m / ymax * (H - T - B); };
  static const char* colours[] = {"#d62728", "#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd",
                                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  std::string s = svg_frame(W, H, L, R, T, B, ymax, "labeled points per image (log scale)");
  s += fmt::format(
      "<text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">test mIoU against labeled points per image "
      "({} seed{}; band: mean ± sd)</text>\n",
      (W - R) / 2, d.seeds, d.seeds == 1 ? "" : "s");
  for (const auto b : budgets) {
    const double x = px(static_cast<double>(b));
    s += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#eee\"/>\n", x, T, H - B);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", x, H - B + 16, b);
  }
  for (const auto& [name, c] : d.references) {
    const double y = py(Spread::of(c.test).mean);
    s += fmt::format(
        "<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#888\" stroke-dasharray=\"6 4\"/>\n", L, y,
        W - R, y);
    s += fmt::format("<text x=\"{}\" y=\"{:.1f}\" fill=\"#555\">{}</text>\n", L + 6, y - 4, name);
  }
  const auto strategies = d.strategies();
  for (std::size_t i = 0; i < strategies.size(); ++i) {
    const char* colour = colours[i % std::size(colours)];
    std::vector<std::pair<double, Spread>> pts;
    for (const auto b : budgets)
      if (const auto* c = d.cell(strategies[i], b); c != nullptr)  // at the points it labeled
        pts.emplace_back(std::max(Spread::of(c->points_per_image).mean, 0.5), Spread::of(c->test));
    std::string band, line;
    for (const auto& [k, sp] : pts) band += fmt::format("{:.1f},{:.1f} ", px(k), py(sp.mean + sp.sd));
    for (auto it = pts.rbegin(); it != pts.rend(); ++it)
      band += fmt::format("{:.1f},{:.1f} ", px(it->first), py(it->second.mean - it->second.sd));
    for (const auto& [k, sp] : pts) line += fmt::format("{:.1f},{:.1f} ", px(k), py(sp.mean));
    s += fmt::format("<polygon points=\"{}\" fill=\"{}\" fill-opacity=\"0.15\" stroke=\"none\"/>\n", band, colour);
    s += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n", line, colour);
    for (const auto& [k, sp] : pts)
      s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n", px(k), py(sp.mean), colour);
    const double ly = T + 16 + 18 * static_cast<double>(i);
    s += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"{}\" stroke-width=\"3\"/>\n",
                     W - R + 12, ly - 4, W - R + 32, ly - 4, colour);
    s += fmt::format("<text x=\"{}\" y=\"{:.1f}\">{}</text>\n", W - R + 38, ly, strategies[i]);
  }
  s += "</svg>\n";
  return s;
}

}  // namespace labor_train
