#pragma once
/// @file cuda.cuh
/// The CUDA backend (nvcc only): labor's stream and cuBLAS handle, GPU memory for
/// Tensor<T, labor::cuda>, error checks and the element-wise launcher. The layers, losses,
/// optimizers and metrics include their own CUDA kernels (backend/cuda/<op>.cuh) under nvcc.

#if !defined(__CUDACC__)
#error "labor/backend/cuda.cuh must be compiled by nvcc"
#endif

#include "labor/backend/cuda/context.cuh"
#include "labor/backend/cuda/error.cuh"
#include "labor/backend/cuda/for_each.cuh"
#include "labor/backend/cuda/memory.cuh"
