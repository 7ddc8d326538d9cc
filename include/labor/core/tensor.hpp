#pragma once
/// @file tensor.hpp
/// labor::Tensor (owning, value semantics) and labor::TensorView (non-owning) over dense
/// row-major storage on a device. 4-D tensors are N×C×H×W.

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "labor/core/device.hpp"
#include "labor/core/error.hpp"
#include "labor/core/for_each.hpp"
#include "labor/core/memory.hpp"
#include "labor/core/shape.hpp"

namespace labor {

/// Non-owning view of a dense tensor. `T` may be const for a read-only view. Cheap to copy;
/// the viewed memory must outlive it.
template <class T, Device D = cpu>
class TensorView {
 public:
  using value_type = std::remove_const_t<T>;
  using device_type = D;

  TensorView() = default;
  /// Views `shape.numel()` elements at `data` (device memory of `D`).
  TensorView(T* data, Shape shape) : data_(data), shape_(shape) {
    LABOR_CHECK(data != nullptr || shape.numel() == 0, "TensorView: data is null for a shape {} with {} elements",
                shape, shape.numel());
  }

  /// Read-only view of a mutable view.
  template <class U>
  requires(std::is_same_v<U, T> && !std::is_const_v<T>) operator TensorView<const U, D>()
      const {  // NOLINT(google-explicit-constructor)
    return {data_, shape_};
  }

  [[nodiscard]] T* data() const { return data_; }
  [[nodiscard]] const Shape& shape() const { return shape_; }
  [[nodiscard]] int rank() const { return shape_.rank(); }
  [[nodiscard]] std::int64_t size(int i) const { return shape_[i]; }
  [[nodiscard]] std::int64_t numel() const { return shape_.numel(); }
  [[nodiscard]] bool empty() const { return numel() == 0; }

  /// Element at flat index `i` (host tensors only).
  T& operator[](std::int64_t i) const requires std::same_as<D, cpu> { return data_[i]; }

  /// Element at a multi-index with one index per dimension (host tensors only, unchecked).
  template <std::integral... I>
  T& operator()(I... idx) const requires std::same_as<D, cpu> {
    return data_[offset(idx...)];
  }

  /// Sub-tensor `i` along dimension 0 (rank drops by one). Throws for `i` out of range.
  [[nodiscard]] TensorView slice(std::int64_t i) const {
    LABOR_CHECK(rank() >= 1, "TensorView::slice: rank: expected >= 1, got 0");
    LABOR_CHECK(i >= 0 && i < shape_[0], "TensorView::slice: index {} out of range [0, {})", i, shape_[0]);
    const auto& d = shape_.dims();
    Shape sub = rank() == 1   ? Shape{}
                : rank() == 2 ? Shape{d[1]}
                : rank() == 3 ? Shape{d[1], d[2]}
                              : Shape{d[1], d[2], d[3]};
    return {data_ + i * sub.numel(), sub};
  }

  /// Same memory seen with another shape of equal element count.
  [[nodiscard]] TensorView reshaped(Shape shape) const {
    LABOR_CHECK(shape.numel() == numel(), "reshape: element count: expected {} (shape {}), got {} (shape {})", numel(),
                shape_, shape.numel(), shape);
    return {data_, shape};
  }

  /// Host tensors: the elements as a span.
  [[nodiscard]] std::span<T> span() const requires std::same_as<D, cpu> {
    return {data_, static_cast<std::size_t>(numel())};
  }

 private:
  template <class... I>
  std::int64_t offset(I... idx) const {
    constexpr int n = sizeof...(I);
    const std::int64_t ix[] = {static_cast<std::int64_t>(idx)...};
    std::int64_t off = 0;
    for (int k = 0; k < n; ++k) off = off * shape_.dims()[static_cast<std::size_t>(k)] + ix[k];
    return off;
  }

  T* data_ = nullptr;
  Shape shape_{0};
};

/// Owning dense tensor with value semantics: copying copies the elements, moving is O(1).
/// New tensors are zero-filled; `Tensor::uninitialized` skips the fill for kernel outputs.
template <class T, Device D = cpu>
class Tensor {
  static_assert(std::is_trivially_copyable_v<T>, "Tensor elements must be trivially copyable");

 public:
  using value_type = T;
  using device_type = D;

  /// Empty tensor of shape [0].
  Tensor() = default;

  /// Zero-filled tensor of `shape`.
  explicit Tensor(Shape shape) : Tensor(shape, Uninit{}) { DeviceMemory<D>::zero(data_.get(), bytes()); }

  /// Tensor of `shape` whose elements are unspecified until written (0xFF bytes while
  /// set_poison_uninitialized is on).
  static Tensor uninitialized(Shape shape) {
    Tensor t(shape, Uninit{});
    if (poison_uninitialized()) DeviceMemory<D>::fill_bytes(t.data(), 0xFF, t.bytes());
    return t;
  }

  /// Host tensor of `shape` filled with `value`.
  static Tensor full(Shape shape, T value) requires std::same_as<D, cpu> {
    Tensor t(shape, Uninit{});
    std::fill_n(t.data(), t.numel(), value);
    return t;
  }

  /// Host tensor of `shape` holding `values` (row-major). Throws when the counts differ.
  static Tensor from(Shape shape, std::span<const T> values) requires std::same_as<D, cpu> {
    LABOR_CHECK(static_cast<std::int64_t>(values.size()) == shape.numel(),
                "Tensor::from: element count: expected {} for shape {}, got {}", shape.numel(), shape, values.size());
    Tensor t(shape, Uninit{});
    std::copy(values.begin(), values.end(), t.data());
    return t;
  }
  static Tensor from(Shape shape, std::initializer_list<T> values) requires std::same_as<D, cpu> {
    return from(shape, std::span<const T>(values.begin(), values.size()));
  }

  /// Deep copy of a view's elements.
  explicit Tensor(TensorView<const T, D> v) : Tensor(v.shape(), Uninit{}) {
    DeviceMemory<D>::copy(data_.get(), v.data(), bytes());
  }

  Tensor(const Tensor& other) : Tensor(other.view()) {}
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(const Tensor& other) {
    if (this != &other) *this = Tensor(other);
    return *this;
  }
  Tensor& operator=(Tensor&&) noexcept = default;
  ~Tensor() = default;

  [[nodiscard]] T* data() { return data_.get(); }
  [[nodiscard]] const T* data() const { return data_.get(); }
  [[nodiscard]] const Shape& shape() const { return shape_; }
  [[nodiscard]] int rank() const { return shape_.rank(); }
  [[nodiscard]] std::int64_t size(int i) const { return shape_[i]; }
  [[nodiscard]] std::int64_t numel() const { return shape_.numel(); }
  [[nodiscard]] bool empty() const { return numel() == 0; }
  [[nodiscard]] std::size_t bytes() const { return static_cast<std::size_t>(numel()) * sizeof(T); }

  [[nodiscard]] TensorView<T, D> view() { return {data(), shape_}; }
  [[nodiscard]] TensorView<const T, D> view() const { return {data(), shape_}; }
  operator TensorView<T, D>() { return view(); }              // NOLINT(google-explicit-constructor)
  operator TensorView<const T, D>() const { return view(); }  // NOLINT(google-explicit-constructor)

  T& operator[](std::int64_t i) requires std::same_as<D, cpu> { return data_.get()[i]; }
  const T& operator[](std::int64_t i) const requires std::same_as<D, cpu> { return data_.get()[i]; }
  template <std::integral... I>
  T& operator()(I... idx) requires std::same_as<D, cpu> {
    return view()(idx...);
  }
  template <std::integral... I>
  const T& operator()(I... idx) const requires std::same_as<D, cpu> {
    return view()(idx...);
  }

  [[nodiscard]] TensorView<T, D> slice(std::int64_t i) { return view().slice(i); }
  [[nodiscard]] TensorView<const T, D> slice(std::int64_t i) const { return view().slice(i); }

  /// Changes the shape in place, keeping the elements. Throws when the element count differs.
  Tensor& reshape(Shape shape) {
    (void)view().reshaped(shape);
    shape_ = shape;
    return *this;
  }

  /// Sets every element to zero.
  void zero() { DeviceMemory<D>::zero(data(), bytes()); }

  /// Sets every element to `value` (on cuda: queued on labor's stream).
  void fill(T value) {
    T* p = data();
    for_each_index<D>(numel(), [=] LABOR_HOST_DEVICE(std::int64_t i) { p[i] = value; }, std::int64_t{1} << 16);
  }

  /// Host tensors: the elements as a span.
  [[nodiscard]] std::span<T> span() requires std::same_as<D, cpu> { return view().span(); }
  [[nodiscard]] std::span<const T> span() const requires std::same_as<D, cpu> { return view().span(); }

  /// Copy of this tensor on device `To` (needs the cuda backend for host<->GPU copies).
  template <Device To>
  [[nodiscard]] Tensor<T, To> to() const {
    auto out = Tensor<T, To>::uninitialized(shape_);
    CrossDeviceCopy<D, To>::copy(out.data(), data(), bytes());
    return out;
  }

 private:
  struct Uninit {};
  struct Free {
    void operator()(T* p) const noexcept { DeviceMemory<D>::deallocate(p); }
  };
  Tensor(Shape shape, Uninit)
      : data_(static_cast<T*>(DeviceMemory<D>::allocate(storage_bytes(shape)))), shape_(shape) {}

  /// Bytes of storage for `shape`; throws labor::Error when they do not fit in the address space
  /// (so that bytes() never wraps and the storage always holds numel() elements).
  static std::size_t storage_bytes(const Shape& shape) {
    LABOR_CHECK(shape.numel() <= std::numeric_limits<std::ptrdiff_t>::max() / static_cast<std::int64_t>(sizeof(T)),
                "Tensor: shape {}: {} elements of {} bytes do not fit in memory", shape, shape.numel(), sizeof(T));
    return static_cast<std::size_t>(shape.numel()) * sizeof(T);
  }

  std::unique_ptr<T, Free> data_;
  Shape shape_{0};
};

/// Throws labor::Error unless `actual == expected`; `what` names the argument.
inline void check_shape(std::string_view what, const Shape& actual, const Shape& expected) {
  LABOR_CHECK(actual == expected, "{}: shape: expected {}, got {}", what, expected, actual);
}

/// Throws labor::Error unless `actual` has rank `rank`.
inline void check_rank(std::string_view what, const Shape& actual, int rank) {
  LABOR_CHECK(actual.rank() == rank, "{}: rank: expected {} (shape {}), got {}", what, rank, actual, actual.rank());
}

/// Throws labor::Error unless a tensor has at least one element.
inline void check_not_empty(std::string_view what, const Shape& actual) {
  LABOR_CHECK(actual.numel() > 0, "{}: expected a non-empty tensor, got shape {}", what, actual);
}

}  // namespace labor
