#pragma once
/// @file dataset.hpp
/// The Dataset concept, an in-memory dataset, and batch assembly.

#include <concepts>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"

namespace labor::data {

/// A random-access set of (image, label map) pairs of one size: `size()` items, `image(i)` a 3×H×W
/// float tensor with values in [0, 1] (RGB), `label(i)` an H×W int32 map of class indices or 255.
template <class S>
concept Dataset = requires(const S& s, std::int64_t i) {
  { s.size() } -> std::convertible_to<std::int64_t>;
  { s.image(i) } -> std::convertible_to<const Tensor<float, cpu>&>;
  { s.label(i) } -> std::convertible_to<const Tensor<std::int32_t, cpu>&>;
};

/// Images and label maps held in memory; satisfies Dataset. Every image is 3×H×W and every label
/// map H×W with the same H and W.
class InMemoryDataset {
 public:
  InMemoryDataset() = default;

  /// Adds one pair. @throws labor::Error when the shapes disagree with each other or with the
  /// pairs already held.
  void push_back(Tensor<float, cpu> image, Tensor<std::int32_t, cpu> label) {
    LABOR_CHECK(image.rank() == 3 && image.size(0) == 3, "InMemoryDataset: image: expected 3×H×W, got {}",
                image.shape());
    LABOR_CHECK(label.shape() == Shape({image.size(1), image.size(2)}),
                "InMemoryDataset: label: expected {}×{} (the image's size), got {}", image.size(1), image.size(2),
                label.shape());
    if (!images_.empty())
      LABOR_CHECK(image.shape() == images_.front().shape(),
                  "InMemoryDataset: image: expected the dataset's shape {}, got {}", images_.front().shape(),
                  image.shape());
    images_.push_back(std::move(image));
    labels_.push_back(std::move(label));
  }

  [[nodiscard]] std::int64_t size() const { return static_cast<std::int64_t>(images_.size()); }
  /// Image height H (0 when empty).
  [[nodiscard]] std::int64_t height() const { return images_.empty() ? 0 : images_.front().size(1); }
  /// Image width W (0 when empty).
  [[nodiscard]] std::int64_t width() const { return images_.empty() ? 0 : images_.front().size(2); }

  /// Image `i` (3×H×W, RGB in [0, 1]). @throws labor::Error for i outside [0, size()).
  [[nodiscard]] const Tensor<float, cpu>& image(std::int64_t i) const { return images_[checked(i)]; }
  /// Label map `i` (H×W). @throws labor::Error for i outside [0, size()).
  [[nodiscard]] const Tensor<std::int32_t, cpu>& label(std::int64_t i) const { return labels_[checked(i)]; }

 private:
  [[nodiscard]] std::size_t checked(std::int64_t i) const {
    LABOR_CHECK(i >= 0 && i < size(), "InMemoryDataset: index: expected in [0, {}), got {}", size(), i);
    return static_cast<std::size_t>(i);
  }

  std::vector<Tensor<float, cpu>> images_;
  std::vector<Tensor<std::int32_t, cpu>> labels_;
};

/// Per-channel input normalisation x ← (x − mean_c) / std_c applied when batches are assembled.
struct Normalization {
  float mean[3] = {0.5f, 0.5f, 0.5f};
  float std[3] = {0.25f, 0.25f, 0.25f};
};

/// The images `indices` of `dataset` as one N×3×H×W batch, normalised.
/// @throws labor::Error for an empty index list, an index out of range or images of different sizes.
template <Dataset S>
Tensor<float, cpu> batch_images(const S& dataset, std::span<const std::int64_t> indices,
                                const Normalization& norm = {}) {
  LABOR_CHECK(!indices.empty(), "batch_images: indices: expected at least one, got none");
  const Shape s = dataset.image(indices.front()).shape();
  const std::int64_t hw = s[1] * s[2], n = static_cast<std::int64_t>(indices.size());
  auto out = Tensor<float, cpu>::uninitialized(Shape{n, 3, s[1], s[2]});
  for (std::int64_t k = 0; k < n; ++k) {
    const auto& im = dataset.image(indices[static_cast<std::size_t>(k)]);
    LABOR_CHECK(im.shape() == s, "batch_images: image {}: expected shape {}, got {}",
                indices[static_cast<std::size_t>(k)], s, im.shape());
    for (int c = 0; c < 3; ++c) {
      const float* src = im.data() + c * hw;
      float* dst = out.data() + (k * 3 + c) * hw;
      const float m = norm.mean[c], inv = 1.0f / norm.std[c];
      for (std::int64_t i = 0; i < hw; ++i) dst[i] = (src[i] - m) * inv;
    }
  }
  return out;
}

/// The label maps `indices` of `dataset` as one N×H×W batch.
/// @throws labor::Error for an empty index list, an index out of range or maps of different sizes.
template <Dataset S>
Tensor<std::int32_t, cpu> batch_labels(const S& dataset, std::span<const std::int64_t> indices) {
  LABOR_CHECK(!indices.empty(), "batch_labels: indices: expected at least one, got none");
  const Shape s = dataset.label(indices.front()).shape();
  const std::int64_t hw = s[0] * s[1], n = static_cast<std::int64_t>(indices.size());
  auto out = Tensor<std::int32_t, cpu>::uninitialized(Shape{n, s[0], s[1]});
  for (std::int64_t k = 0; k < n; ++k) {
    const auto& lb = dataset.label(indices[static_cast<std::size_t>(k)]);
    LABOR_CHECK(lb.shape() == s, "batch_labels: label map {}: expected shape {}, got {}",
                indices[static_cast<std::size_t>(k)], s, lb.shape());
    std::memcpy(out.data() + k * hw, lb.data(), static_cast<std::size_t>(hw) * sizeof(std::int32_t));
  }
  return out;
}

}  // namespace labor::data
