#pragma once
/// @file confusion_matrix.hpp
/// A confusion matrix accumulated over an evaluation set, with per-class IoU, mIoU and pixel accuracy.
/// Batches are counted on their device by ConfusionKernels<D> (backend/cpu/confusion_matrix.hpp,
/// backend/cuda/confusion_matrix.cuh); the counts stay on the host.

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "labor/core/config.hpp"
#include "labor/core/device.hpp"
#include "labor/core/error.hpp"
#include "labor/core/labels.hpp"
#include "labor/core/shape.hpp"
#include "labor/core/tensor.hpp"

namespace labor::metrics {

namespace detail {

/// The cell of one pixel in a row-major C×C confusion matrix: gt·C + pred; −1 for a pixel whose
/// target is `ignore` (skipped whatever its prediction); C² for a bad pixel (target outside [0, C)
/// and not ignored, or prediction outside [0, C)).
LABOR_HOST_DEVICE inline std::int64_t confusion_cell(std::int32_t gt, std::int32_t pred, std::int32_t classes,
                                                     std::int32_t ignore) {
  if (gt == ignore) return -1;
  if (gt < 0 || gt >= classes || pred < 0 || pred >= classes) return std::int64_t{classes} * classes;
  return std::int64_t{gt} * classes + pred;
}

/// A pixel that failed the label check: its flat index in the batch and its two labels.
struct BadPixel {
  std::int64_t index = 0;
  std::int32_t target = 0;
  std::int32_t pred = 0;
};

/// One batch counted on a device: the C² cell counts (row-major, ground truth × prediction), or
/// the batch's first bad pixel (in flat order) when it has one (`cells` is empty then).
struct BatchCounts {
  std::vector<std::int64_t> cells;
  std::optional<BadPixel> bad;
};

/// Counting a batch on device D: `static BatchCounts count(pred, target, n, classes, ignore)` over
/// the n labels at the pointers in the memory of D; cpu in backend/cpu/confusion_matrix.hpp, cuda
/// in backend/cuda/confusion_matrix.cuh.
template <Device D>
struct ConfusionKernels;

}  // namespace detail

/// Counts of (ground truth, prediction) pairs over C classes; rows are ground truth, columns
/// predictions. Pixels whose target is `ignore_index` are skipped. Counts are exact 64-bit integers
/// whatever the thread count.
class ConfusionMatrix {
 public:
  /// An all-zero C×C matrix. @throws labor::Error for num_classes < 1.
  explicit ConfusionMatrix(int num_classes, std::int32_t ignore_index = ignore_label)
      : classes_(num_classes), ignore_(ignore_index) {
    LABOR_CHECK(num_classes >= 1, "ConfusionMatrix: num_classes: expected >= 1, got {}", num_classes);
    counts_ = Tensor<std::int64_t>(Shape{num_classes, num_classes});
  }

  /// Number of classes C.
  [[nodiscard]] int num_classes() const { return classes_; }
  /// Target value that is skipped.
  [[nodiscard]] std::int32_t ignore_index() const { return ignore_; }

  /// Adds the pixels of one batch. `pred` and `target` have the same shape (normally N×H×W).
  /// Pixels with target == ignore_index are skipped whatever their prediction. On cuda the batch is
  /// counted on the GPU and the call waits for the counts.
  /// @throws labor::Error for a shape mismatch, or a target (not ignored) or prediction outside
  ///         [0, C), naming the first such pixel and its value; the matrix is unchanged then.
  template <Device D>
  void update(const Tensor<std::int32_t, D>& pred, const Tensor<std::int32_t, D>& target) {
    LABOR_CHECK(pred.shape() == target.shape(),
                "ConfusionMatrix::update: pred shape: expected {} (the target's shape), got {}", target.shape(),
                pred.shape());
    const auto batch =
        detail::ConfusionKernels<D>::count(pred.data(), target.data(), target.numel(), classes_, ignore_);
    if (batch.bad) report_bad(target.shape(), *batch.bad);
    add_counts(batch.cells.data());
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
  /// Adds C² row-major counts to the matrix.
  void add_counts(const std::int64_t* cells) {
    std::int64_t* out = counts_.data();
    for (std::int64_t k = 0; k < counts_.numel(); ++k) out[k] += cells[k];
  }

  /// Throws labor::Error naming the bad label of `bad`, a pixel of a batch of `shape`: its target
  /// when that is out of range, else its prediction.
  [[noreturn]] void report_bad(const Shape& shape, const detail::BadPixel& bad) const {
    const std::string at = position(shape, bad.index);
    LABOR_CHECK(bad.target >= 0 && bad.target < classes_,
                "ConfusionMatrix::update: target at {}: expected in [0, {}) or ignore_index {}, got {}", at, classes_,
                ignore_, bad.target);
    fail("ConfusionMatrix::update: pred at {}: expected in [0, {}), got {}", at, classes_, bad.pred);
  }

  /// The position of flat index `i` in `shape`: "(n=…, y=…, x=…)" for N×H×W, "[i0, i1, …]" otherwise.
  static std::string position(const Shape& shape, std::int64_t i) {
    std::vector<std::int64_t> idx(static_cast<std::size_t>(shape.rank()));
    std::int64_t rest = i;
    for (int k = shape.rank() - 1; k >= 0; --k) {
      idx[static_cast<std::size_t>(k)] = rest % shape[k];
      rest /= shape[k];
    }
    if (shape.rank() == 3) return fmt::format("(n={}, y={}, x={})", idx[0], idx[1], idx[2]);
    return fmt::format("[{}]", fmt::join(idx, ", "));
  }

  int classes_;
  std::int32_t ignore_;
  Tensor<std::int64_t> counts_;
};

}  // namespace labor::metrics

#include "labor/backend/cpu/confusion_matrix.hpp"
#if defined(__CUDACC__)
#include "labor/backend/cuda/confusion_matrix.cuh"
#endif
