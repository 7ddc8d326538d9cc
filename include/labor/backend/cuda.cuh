#pragma once
/// @file cuda.cuh
/// The CUDA backend (nvcc only): GPU memory for Tensor<T, labor::cuda>, error checks, random fills.

#if !defined(__CUDACC__)
#error "labor/backend/cuda.cuh must be compiled by nvcc"
#endif

#include "labor/backend/cuda/error.cuh"
#include "labor/backend/cuda/memory.cuh"
#include "labor/backend/cuda/rng.cuh"
