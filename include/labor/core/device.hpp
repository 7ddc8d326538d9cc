#pragma once
/// @file device.hpp
/// Device tags. Every tensor, kernel and layer is parameterised by one of them.

#include <concepts>
#include <string_view>

namespace labor {

/// Host memory; kernels use Eigen and OpenMP.
struct cpu {
  static constexpr std::string_view name = "cpu";
};

/// NVIDIA GPU memory; kernels live in backend/cuda and are compiled only by nvcc.
struct cuda {
  static constexpr std::string_view name = "cuda";
};

/// Satisfied by the device tags labor knows.
template <class D>
concept Device = std::same_as<D, cpu> || std::same_as<D, cuda>;

/// Memory management for a device: allocate, free, fill and copy. Specialised per device;
/// the cuda specialisation lives in backend/cuda/memory.cuh and exists only under nvcc.
template <Device D>
struct DeviceMemory;

}  // namespace labor
