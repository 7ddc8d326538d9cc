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

/// Whether `dataset` has label maps: false only when S has a `has_labels()` member and it returns
/// false (an unlabeled file dataset, whose label() throws); true for every other Dataset.
template <Dataset S>
[[nodiscard]] bool has_labels(const S& dataset) {
  if constexpr (requires { static_cast<bool>(dataset.has_labels()); })
    return static_cast<bool>(dataset.has_labels());
  else
    return true;
}

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

/// Per-channel input normalisation applied when batches are assembled. Output channel c is
/// (input_scale·x_k − mean[c]) / std[c], where x_k is input channel k = c (RGB order) or k = 2 − c
/// (`bgr`: the output is in BGR order, and mean/std are given in that order). The default is
/// (x − 0.5)/0.25 in RGB; caffe() gives the Caffe/DeepLab convention.
struct Normalization {
  float mean[3] = {0.5f, 0.5f, 0.5f};
  float std[3] = {0.25f, 0.25f, 0.25f};
  /// Factor applied to the [0, 1] input before the mean is subtracted (255: the 0–255 scale).
  float input_scale = 1.0f;
  /// Output channels in B, G, R order.
  bool bgr = false;

  /// Caffe-style: BGR order, values on the 0–255 scale minus DeepLab's per-channel mean
  /// (B 104.00698793, G 116.66876762, R 122.67891434), no division.
  [[nodiscard]] static Normalization caffe() {
    return {.mean = {104.00698793f, 116.66876762f, 122.67891434f},
            .std = {1.0f, 1.0f, 1.0f},
            .input_scale = 255.0f,
            .bgr = true};
  }
};

namespace detail {

/// Writes the normalised 3×hw planes of `src` (RGB in [0, 1]) to `dst` under `norm`.
inline void normalize_planes(const float* src, float* dst, std::int64_t hw, const Normalization& norm) {
  for (int c = 0; c < 3; ++c) {
    const float* in = src + (norm.bgr ? 2 - c : c) * hw;
    float* out = dst + c * hw;
    const float m = norm.mean[c], inv = 1.0f / norm.std[c], k = norm.input_scale;
    if (k == 1.0f) {
      for (std::int64_t i = 0; i < hw; ++i) out[i] = (in[i] - m) * inv;
    } else {
      for (std::int64_t i = 0; i < hw; ++i) out[i] = (in[i] * k - m) * inv;
    }
  }
}

}  // namespace detail

/// The images `indices` of `dataset` as one N×3×H×W batch, normalised.
/// @throws labor::Error for an empty index list, an index out of range or images of different sizes.
template <Dataset S>
Tensor<float, cpu> batch_images(const S& dataset, std::span<const std::int64_t> indices,
                                const Normalization& norm = {}) {
  LABOR_CHECK(!indices.empty(), "batch_images: indices: expected at least one, got none");
  const std::int64_t n = static_cast<std::int64_t>(indices.size());
  Shape s;
  std::int64_t hw = 0;
  Tensor<float, cpu> out;
  for (std::int64_t k = 0; k < n; ++k) {
    const auto& im = dataset.image(indices[static_cast<std::size_t>(k)]);  // decoded once (file datasets)
    if (k == 0) {
      s = im.shape();
      hw = s[1] * s[2];
      out = Tensor<float, cpu>::uninitialized(Shape{n, 3, s[1], s[2]});
    }
    LABOR_CHECK(im.shape() == s, "batch_images: image {}: expected shape {}, got {}",
                indices[static_cast<std::size_t>(k)], s, im.shape());
    detail::normalize_planes(im.data(), out.data() + k * 3 * hw, hw, norm);
  }
  return out;
}

/// The label maps `indices` of `dataset` as one N×H×W batch.
/// @throws labor::Error for an empty index list, an index out of range or maps of different sizes.
template <Dataset S>
Tensor<std::int32_t, cpu> batch_labels(const S& dataset, std::span<const std::int64_t> indices) {
  LABOR_CHECK(!indices.empty(), "batch_labels: indices: expected at least one, got none");
  const std::int64_t n = static_cast<std::int64_t>(indices.size());
  Shape s;
  std::int64_t hw = 0;
  Tensor<std::int32_t, cpu> out;
  for (std::int64_t k = 0; k < n; ++k) {
    const auto& lb = dataset.label(indices[static_cast<std::size_t>(k)]);
    if (k == 0) {
      s = lb.shape();
      hw = s[0] * s[1];
      out = Tensor<std::int32_t, cpu>::uninitialized(Shape{n, s[0], s[1]});
    }
    LABOR_CHECK(lb.shape() == s, "batch_labels: label map {}: expected shape {}, got {}",
                indices[static_cast<std::size_t>(k)], s, lb.shape());
    std::memcpy(out.data() + k * hw, lb.data(), static_cast<std::size_t>(hw) * sizeof(std::int32_t));
  }
  return out;
}

}  // namespace labor::data
