#pragma once
/// @file labor.hpp
/// Umbrella header: every module of labor. A .cpp gets the CPU library; a .cu compiled by nvcc
/// also gets the CUDA backend.

#include "labor/annotate.hpp"
#include "labor/core.hpp"
#include "labor/data.hpp"
#include "labor/io.hpp"
#include "labor/loss.hpp"
#include "labor/metrics.hpp"
#include "labor/models.hpp"
#include "labor/nn.hpp"
#include "labor/optim.hpp"
#include "labor/samplers.hpp"
#include "labor/train.hpp"

#if defined(__CUDACC__)
#include "labor/backend/cuda.cuh"
#endif
