#pragma once
/// @file memory.hpp
/// Host memory management: DeviceMemory<cpu>.

#include <cstddef>
#include <cstring>
#include <new>

#include "labor/core/device.hpp"
#include "labor/core/error.hpp"

namespace labor {

/// Host allocations, 64-byte aligned so vector kernels can use aligned loads.
template <>
struct DeviceMemory<cpu> {
  static constexpr std::size_t alignment = 64;

  /// Allocates `bytes` bytes (nullptr for 0). Throws labor::Error when the allocation fails.
  static void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    const std::size_t rounded = (bytes + alignment - 1) / alignment * alignment;
    void* p = ::operator new(rounded, std::align_val_t{alignment}, std::nothrow);
    LABOR_CHECK(p != nullptr, "cpu: out of memory allocating {} bytes", bytes);
    return p;
  }
  static void deallocate(void* p) noexcept {
    if (p) ::operator delete(p, std::align_val_t{alignment});
  }
  static void copy(void* dst, const void* src, std::size_t bytes) {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  static void zero(void* dst, std::size_t bytes) {
    if (bytes) std::memset(dst, 0, bytes);
  }
};

/// Copies between devices. Same-device copies use DeviceMemory<D>::copy; host<->GPU copies are
/// specialised in backend/cuda/memory.cuh.
template <Device From, Device To>
struct CrossDeviceCopy;

template <Device D>
struct CrossDeviceCopy<D, D> {
  static void copy(void* dst, const void* src, std::size_t bytes) {
    DeviceMemory<D>::copy(dst, src, bytes);
  }
};

}  // namespace labor
