#pragma once
/// @file simulated_oracle.hpp
/// The simulated oracle of LabOR's experiments: answers queries from ground-truth label maps.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "labor/annotate/answers.hpp"
#include "labor/annotate/detail/checks.hpp"
#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/samplers/query.hpp"

namespace labor::annotate {

/// Answers every queried pixel with its ground-truth label. A ground-truth 255 (void) is answered
/// as ignore_label, like a human who cannot tell; LabelStore keeps such answers (the pixel was
/// queried and paid for) and they stay 255 in its dense maps. Satisfies Oracle.
class SimulatedOracle {
 public:
  /// Returns the H×W int32 ground-truth label map of dataset image `id`.
  using LabelSource = std::function<Tensor<std::int32_t, cpu>(std::int64_t id)>;

  /// Oracle over owned label maps: image id i answers from `labels[i]` (H×W each).
  SimulatedOracle(std::vector<Tensor<std::int32_t, cpu>> labels, std::int32_t num_classes) : num_classes_(num_classes) {
    check_classes();
    auto maps = std::make_shared<const std::vector<Tensor<std::int32_t, cpu>>>(std::move(labels));
    source_ = [maps](std::int64_t id) {
      LABOR_CHECK(id >= 0 && id < static_cast<std::int64_t>(maps->size()),
                  "SimulatedOracle: image id {}: expected in [0, {})", id, maps->size());
      return (*maps)[static_cast<std::size_t>(id)];
    };
  }

  /// Oracle over an N×H×W label tensor: image id i answers from labels[i].
  SimulatedOracle(TensorView<const std::int32_t, cpu> labels, std::int32_t num_classes)
      : SimulatedOracle(split(labels), num_classes) {}

  /// Oracle over label maps loaded on demand (e.g. from a dataset).
  SimulatedOracle(LabelSource source, std::int32_t num_classes)
      : source_(std::move(source)), num_classes_(num_classes) {
    check_classes();
    LABOR_CHECK(static_cast<bool>(source_), "SimulatedOracle: label source is empty");
  }

  [[nodiscard]] std::int32_t num_classes() const { return num_classes_; }

  /// The ground-truth labels of the queried pixels; image ids as in Oracle. Throws labor::Error
  /// when a label map is not H×W for its query, or holds a label outside [0, C) ∪ {255} at a
  /// queried pixel (naming image, pixel and value).
  [[nodiscard]] Answers answer(const samplers::Query& query, std::span<const std::int64_t> image_ids = {}) const {
    const auto ids = detail::resolve_ids("SimulatedOracle", query, image_ids);
    detail::check_query("SimulatedOracle", query, ids);
    Answers out;
    out.images.reserve(query.images.size());
    for (std::size_t i = 0; i < query.images.size(); ++i) {
      const auto& q = query.images[i];
      const auto gt = source_(ids[i]);
      LABOR_CHECK(gt.rank() == 2 && gt.size(0) == q.height && gt.size(1) == q.width,
                  "SimulatedOracle: image {}: label map shape: expected [{}, {}], got {}", ids[i], q.height, q.width,
                  gt.shape());
      ImageAnswers a{ids[i], q.height, q.width, q.pixels, {}};
      a.labels.reserve(q.pixels.size());
      for (auto p : q.pixels) {
        const std::int32_t label = gt[p];
        detail::check_label("SimulatedOracle", ids[i], p, q.width, label, num_classes_);
        a.labels.push_back(label);
      }
      out.images.push_back(std::move(a));
    }
    return out;
  }

 private:
  void check_classes() const {
    LABOR_CHECK(num_classes_ > 0 && num_classes_ <= ignore_label,
                "SimulatedOracle: num_classes: expected in [1, {}], got {}", ignore_label, num_classes_);
  }
  static std::vector<Tensor<std::int32_t, cpu>> split(TensorView<const std::int32_t, cpu> labels) {
    LABOR_CHECK(labels.rank() == 3, "SimulatedOracle: labels: expected an N×H×W tensor, got shape {}", labels.shape());
    std::vector<Tensor<std::int32_t, cpu>> maps;
    for (std::int64_t i = 0; i < labels.size(0); ++i) maps.emplace_back(labels.slice(i));
    return maps;
  }

  LabelSource source_;
  std::int32_t num_classes_;
};

}  // namespace labor::annotate
