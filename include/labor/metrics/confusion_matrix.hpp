#pragma once
/// @file confusion_matrix.hpp
/// A confusion matrix accumulated over an evaluation set, with per-class IoU, mIoU and pixel accuracy.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "labor/core/error.hpp"
#include "labor/core/parallel.hpp"
#include "labor/core/shape.hpp"
#include "labor/core/tensor.hpp"

namespace labor::metrics {

/// Counts of (ground truth, prediction) pairs over C classes; rows are ground truth, columns
/// predictions. Pixels whose target is `ignore_index` are skipped. Counts are exact 64-bit integers
/// whatever the thread count.
class ConfusionMatrix {
 public:
  /// An all-zero C×C matrix. @throws labor::Error for num_classes < 1.
  explicit ConfusionMatrix(int num_classes, std::int32_t ignore_index = 255)
      : classes_(num_classes), ignore_(ignore_index) {
    LABOR_CHECK(num_classes >= 1, "ConfusionMatrix: num_classes: expected >= 1, got {}", num_classes);
    counts_ = Tensor<std::int64_t>(Shape{num_classes, num_classes});
  }

  /// Number of classes C.
  [[nodiscard]] int num_classes() const { return classes_; }
  /// Target value that is skipped.
  [[nodiscard]] std::int32_t ignore_index() const { return ignore_; }

  /// Adds the pixels of one batch. `pred` and `target` have the same shape (normally N×H×W).
  /// Pixels with target == ignore_index are skipped whatever their prediction.
  /// @throws labor::Error for a shape mismatch, or a target (not ignored) or prediction outside
  ///         [0, C); the matrix is unchanged then.
  template <Device D>
  void update(const Tensor<std::int32_t, D>& pred, const Tensor<std::int32_t, D>& target) {
    static_assert(std::is_same_v<D, cpu>, "ConfusionMatrix::update: only the cpu device is implemented");
    LABOR_CHECK(pred.shape() == target.shape(),
                "ConfusionMatrix::update: pred shape: expected {} (the target's shape), got {}", target.shape(),
                pred.shape());
    const std::int64_t n = target.numel();
    const std::int32_t* p = pred.data();
    const std::int32_t* t = target.data();
    const std::int32_t c = classes_, ignore = ignore_;
    const auto cells = static_cast<std::size_t>(c) * static_cast<std::size_t>(c);
    // Each part counts into its own matrix; the integer sums are exact in any order.
    const std::int64_t parts = std::clamp<std::int64_t>(n / 65536, 1, std::max(1, num_threads()));
    std::vector<std::int64_t> local(static_cast<std::size_t>(parts) * cells, 0);
    std::atomic<bool> bad{false};
    parallel_for(
        0, parts,
        [&](std::int64_t part) {
          std::int64_t* m = local.data() + static_cast<std::size_t>(part) * cells;
          bool ok = true;
          for (std::int64_t i = n * part / parts; i < n * (part + 1) / parts; ++i) {
            const std::int32_t gt = t[i];
            if (gt == ignore) continue;
            const std::int32_t pr = p[i];
            if (gt < 0 || gt >= c || pr < 0 || pr >= c) {
              ok = false;
              continue;
            }
            ++m[static_cast<std::size_t>(gt) * static_cast<std::size_t>(c) + static_cast<std::size_t>(pr)];
          }
          if (!ok) bad.store(true, std::memory_order_relaxed);
        },
        1);
    if (bad.load()) report_bad(pred, target);
    std::int64_t* out = counts_.data();
    for (std::int64_t part = 0; part < parts; ++part)
      for (std::size_t k = 0; k < cells; ++k) out[k] += local[static_cast<std::size_t>(part) * cells + k];
  }

  /// The C×C counts, `matrix()(gt, pred)`.
  [[nodiscard]] const Tensor<std::int64_t>& matrix() const { return counts_; }

  /// Number of counted (non-ignored) pixels.
  [[nodiscard]] std::int64_t total() const {
    std::int64_t s = 0;
    for (std::int64_t k = 0; k < counts_.numel(); ++k) s += counts_[k];
    return s;
  }

  /// IoU_c = TP / (TP + FP + FN) for every class; NaN where the union TP + FP + FN is 0
  /// (the class is absent from both predictions and ground truth).
  [[nodiscard]] std::vector<double> iou() const {
    std::vector<double> out(static_cast<std::size_t>(classes_));
    for (int k = 0; k < classes_; ++k) {
      std::int64_t row = 0, col = 0;
      for (int j = 0; j < classes_; ++j) {
        row += counts_(k, j);
        col += counts_(j, k);
      }
      const std::int64_t tp = counts_(k, k), uni = row + col - tp;
      out[static_cast<std::size_t>(k)] =
          uni > 0 ? static_cast<double>(tp) / static_cast<double>(uni) : std::numeric_limits<double>::quiet_NaN();
    }
    return out;
  }

  /// Mean IoU over the classes with a non-zero union; NaN when no class has one (nothing counted).
  [[nodiscard]] double miou() const {
    double sum = 0;
    int used = 0;
    for (double v : iou())
      if (!std::isnan(v)) {
        sum += v;
        ++used;
      }
    return used > 0 ? sum / used : std::numeric_limits<double>::quiet_NaN();
  }

  /// Fraction of counted pixels predicted correctly (trace / total); NaN when nothing was counted.
  [[nodiscard]] double pixel_accuracy() const {
    std::int64_t diag = 0;
    for (int k = 0; k < classes_; ++k) diag += counts_(k, k);
    const std::int64_t all = total();
    return all > 0 ? static_cast<double>(diag) / static_cast<double>(all) : std::numeric_limits<double>::quiet_NaN();
  }

  /// Sets every count to zero.
  void reset() { counts_.zero(); }

  /// Adds the counts of `other` (e.g. from another worker or data shard).
  /// @throws labor::Error when the class counts or ignore labels differ.
  void merge(const ConfusionMatrix& other) {
    LABOR_CHECK(other.classes_ == classes_, "ConfusionMatrix::merge: other num_classes: expected {}, got {}", classes_,
                other.classes_);
    LABOR_CHECK(other.ignore_ == ignore_, "ConfusionMatrix::merge: other ignore_index: expected {}, got {}", ignore_,
                other.ignore_);
    for (std::int64_t k = 0; k < counts_.numel(); ++k) counts_[k] += other.counts_[k];
  }

  /// A Markdown table of per-class IoU in percent (two decimals, "n/a" for an empty union) followed
  /// by an mIoU row. `class_names` has C names, or is empty for "class 0", "class 1", ...
  /// @throws labor::Error when class_names is neither empty nor of size C.
  [[nodiscard]] std::string format_table(const std::vector<std::string>& class_names = {}) const {
    LABOR_CHECK(class_names.empty() || static_cast<int>(class_names.size()) == classes_,
                "ConfusionMatrix::format_table: class_names: expected {} names (or none), got {}", classes_,
                class_names.size());
    const auto percent = [](double v) { return std::isnan(v) ? std::string("n/a") : fmt::format("{:.2f}", 100.0 * v); };
    std::string out = "| class | IoU (%) |\n|:--|--:|\n";
    const auto values = iou();
    for (int k = 0; k < classes_; ++k) {
      const std::string name =
          class_names.empty() ? fmt::format("class {}", k) : class_names[static_cast<std::size_t>(k)];
      out += fmt::format("| {} | {} |\n", name, percent(values[static_cast<std::size_t>(k)]));
    }
    out += fmt::format("| **mIoU** | {} |\n", percent(miou()));
    return out;
  }

 private:
  [[noreturn]] void report_bad(const Tensor<std::int32_t>& pred, const Tensor<std::int32_t>& target) const {
    const auto where = [&](std::int64_t i) {
      std::string s;
      std::int64_t rest = i;
      std::vector<std::int64_t> idx(static_cast<std::size_t>(target.rank()));
      for (int k = target.rank() - 1; k >= 0; --k) {
        idx[static_cast<std::size_t>(k)] = rest % target.size(k);
        rest /= target.size(k);
      }
      if (target.rank() == 3) return fmt::format("(n={}, y={}, x={})", idx[0], idx[1], idx[2]);
      return fmt::format("[{}]", fmt::join(idx, ", "));
    };
    for (std::int64_t i = 0; i < target.numel(); ++i) {
      const std::int32_t gt = target[i], pr = pred[i];
      if (gt == ignore_) continue;
      LABOR_CHECK(gt >= 0 && gt < classes_,
                  "ConfusionMatrix::update: target at {}: expected in [0, {}) or ignore_index {}, got {}", where(i),
                  classes_, ignore_, gt);
      LABOR_CHECK(pr >= 0 && pr < classes_, "ConfusionMatrix::update: pred at {}: expected in [0, {}), got {}",
                  where(i), classes_, pr);
    }
    fail("ConfusionMatrix::update: invalid labels");
  }

  int classes_;
  std::int32_t ignore_;
  Tensor<std::int64_t> counts_;
};

}  // namespace labor::metrics
