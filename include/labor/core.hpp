#pragma once
/// @file core.hpp
/// The core module: devices, shapes, tensors, errors, random numbers, parallel loops.

#include "labor/core/config.hpp"
#include "labor/core/device.hpp"
#include "labor/core/elementwise.hpp"
#include "labor/core/error.hpp"
#include "labor/core/for_each.hpp"
#include "labor/core/labels.hpp"
#include "labor/core/memory.hpp"
#include "labor/core/parallel.hpp"
#include "labor/core/rng.hpp"
#include "labor/core/shape.hpp"
#include "labor/core/tensor.hpp"
