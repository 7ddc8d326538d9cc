#pragma once
/// @file confusion_matrix.hpp
/// ConfusionMatrix::update's counting on the host (ConfusionKernels<cpu>): each part of the pixels
/// counts into its own C×C matrix, the parts are added (integer sums: exact in any order); a batch
/// with a bad pixel is scanned once more for the first one.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#include "labor/core/parallel.hpp"
#include "labor/metrics/confusion_matrix.hpp"

namespace labor::metrics::detail {

template <>
struct ConfusionKernels<cpu> {
  /// Counts the n pixels of `pred` / `target` (host pointers) into C² cells, or finds the first bad pixel.
  static BatchCounts count(const std::int32_t* pred, const std::int32_t* target, std::int64_t n, std::int32_t classes,
                           std::int32_t ignore) {
    const auto cells = static_cast<std::size_t>(classes) * static_cast<std::size_t>(classes);
    const std::int64_t parts = std::clamp<std::int64_t>(n / 65536, 1, std::max(1, num_threads()));
    std::vector<std::int64_t> local(static_cast<std::size_t>(parts) * cells, 0);
    std::atomic<bool> bad{false};
    parallel_for(
        0, parts,
        [&](std::int64_t part) {
          std::int64_t* m = local.data() + static_cast<std::size_t>(part) * cells;
          bool ok = true;
          for (std::int64_t i = n * part / parts; i < n * (part + 1) / parts; ++i) {
            const std::int32_t gt = target[i];
            if (gt == ignore) continue;
            const std::int32_t pr = pred[i];
            if (gt < 0 || gt >= classes || pr < 0 || pr >= classes) {
              ok = false;
              continue;
            }
            ++m[static_cast<std::size_t>(gt) * static_cast<std::size_t>(classes) + static_cast<std::size_t>(pr)];
          }
          if (!ok) bad.store(true, std::memory_order_relaxed);
        },
        1);
    BatchCounts out;
    if (bad.load()) {
      const auto bad_cell = static_cast<std::int64_t>(cells);
      for (std::int64_t i = 0; i < n; ++i)
        if (confusion_cell(target[i], pred[i], classes, ignore) == bad_cell) {
          out.bad = BadPixel{i, target[i], pred[i]};
          return out;
        }
    }
    out.cells.assign(cells, 0);
    for (std::int64_t part = 0; part < parts; ++part)
      for (std::size_t k = 0; k < cells; ++k) out.cells[k] += local[static_cast<std::size_t>(part) * cells + k];
    return out;
  }
};

}  // namespace labor::metrics::detail
