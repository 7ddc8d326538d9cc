#pragma once
/// @file any_dataset.hpp
/// AnyDataset: one type for every Dataset, so a program that reads its data from the embedded
/// benchmark or from files instantiates the trainer once.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <type_traits>
#include <utility>

#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/data/dataset.hpp"

namespace labor::data {

/// A type-erased Dataset sharing ownership of the dataset it wraps (copies are cheap and refer to
/// the same data). Items are returned by value: an in-memory dataset's tensors are copied, a
/// file-backed one decodes as it always does. Satisfies Dataset.
class AnyDataset {
 public:
  AnyDataset() = default;

  /// Wraps a dataset (moved or copied in).
  template <Dataset S>
    requires(!std::is_same_v<std::remove_cvref_t<S>, AnyDataset>)
  explicit AnyDataset(S dataset) : impl_(std::make_shared<Model<S>>(std::move(dataset))) {}

  /// Items in the wrapped dataset (0 when empty).
  [[nodiscard]] std::int64_t size() const { return impl_ ? impl_->size() : 0; }
  /// Image `i` of the wrapped dataset. @throws labor::Error when empty or for a bad index.
  [[nodiscard]] Tensor<float, cpu> image(std::int64_t i) const { return get().image(i); }
  /// Label map `i` of the wrapped dataset. @throws labor::Error when empty, for a bad index, or
  /// when the wrapped dataset has no labels.
  [[nodiscard]] Tensor<std::int32_t, cpu> label(std::int64_t i) const { return get().label(i); }
  /// data::has_labels() of the wrapped dataset (true when empty).
  [[nodiscard]] bool has_labels() const { return impl_ ? impl_->has_labels() : true; }
  /// The file image `i` is read from: the wrapped dataset's `image_file(i)` where it has that member
  /// (a FileDataset), else an empty path (an in-memory dataset).
  /// @throws labor::Error when empty or for i outside [0, size()).
  [[nodiscard]] std::filesystem::path image_file(std::int64_t i) const { return get().image_file(i); }

 private:
  struct Concept {
    virtual ~Concept() = default;
    [[nodiscard]] virtual std::int64_t size() const = 0;
    [[nodiscard]] virtual Tensor<float, cpu> image(std::int64_t i) const = 0;
    [[nodiscard]] virtual Tensor<std::int32_t, cpu> label(std::int64_t i) const = 0;
    [[nodiscard]] virtual bool has_labels() const = 0;
    [[nodiscard]] virtual std::filesystem::path image_file(std::int64_t i) const = 0;
  };
  template <class S>
  struct Model final : Concept {
    explicit Model(S s) : dataset(std::move(s)) {}
    [[nodiscard]] std::int64_t size() const override { return static_cast<std::int64_t>(dataset.size()); }
    [[nodiscard]] Tensor<float, cpu> image(std::int64_t i) const override { return dataset.image(i); }
    [[nodiscard]] Tensor<std::int32_t, cpu> label(std::int64_t i) const override { return dataset.label(i); }
    [[nodiscard]] bool has_labels() const override { return data::has_labels(dataset); }
    [[nodiscard]] std::filesystem::path image_file(std::int64_t i) const override {
      if constexpr (requires { std::filesystem::path(dataset.image_file(i)); }) {
        return dataset.image_file(i);
      } else {
        LABOR_CHECK(i >= 0 && i < size(), "AnyDataset: image_file: index: expected in [0, {}), got {}", size(), i);
        return {};
      }
    }
    S dataset;
  };

  [[nodiscard]] const Concept& get() const {
    LABOR_CHECK(impl_ != nullptr, "AnyDataset: expected a dataset, got an empty AnyDataset");
    return *impl_;
  }

  std::shared_ptr<const Concept> impl_;
};

}  // namespace labor::data
