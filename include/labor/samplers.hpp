#pragma once
/// @file samplers.hpp
/// The samplers module: inconsistency mask, SPL, PPL, RIPU (region and pixel
/// mode) and the random, entropy and margin baselines,
/// each one implementation over Thrust algorithms for every execution policy (the CUDA path and the
/// reference), with a CPU fast path for SPL and PPL on host policies (one vectorised sweep over the
/// maps, tested equal to the Thrust path bit for bit); the Sampler concept and the Query they return.

#include "labor/samplers/entropy.hpp"
#include "labor/samplers/inconsistency.hpp"
#include "labor/samplers/margin.hpp"
#include "labor/samplers/ppl.hpp"
#include "labor/samplers/query.hpp"
#include "labor/samplers/random.hpp"
#include "labor/samplers/ripu.hpp"
#include "labor/samplers/sampler.hpp"
#include "labor/samplers/spl.hpp"
#include "labor/samplers/validate.hpp"
