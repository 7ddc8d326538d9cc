#pragma once
/// @file config.hpp
/// Compiler and platform macros shared by every labor header.

/// Marks a function callable from host and device code when compiled by nvcc; empty otherwise.
#if defined(__CUDACC__)
#define LABOR_HOST_DEVICE __host__ __device__
#else
#define LABOR_HOST_DEVICE
#endif

/// Restrict qualifier for kernels whose buffers never alias.
#if defined(__GNUC__) || defined(__clang__) || defined(_MSC_VER)
#define LABOR_RESTRICT __restrict
#else
#define LABOR_RESTRICT
#endif

/// Asks the compiler to vectorise the next loop (OpenMP SIMD); empty without OpenMP.
#if defined(_OPENMP)
#define LABOR_OMP_SIMD _Pragma("omp simd")
#else
#define LABOR_OMP_SIMD
#endif

#define LABOR_VERSION_MAJOR 0
#define LABOR_VERSION_MINOR 1
#define LABOR_VERSION_PATCH 0
