#pragma once
// Helpers for GPU tests (compiled by nvcc): skip cleanly where no CUDA device is present.

#include <gtest/gtest.h>

#include <labor/backend/cuda/error.cuh>

/// Skips the current test when the process sees no CUDA device.
#define LABOR_REQUIRE_GPU()                                                           \
  do {                                                                                \
    if (::labor::cuda_kernels::device_count() == 0) GTEST_SKIP() << "no CUDA device"; \
  } while (false)
