#pragma once
/// @file samplers.hpp
/// The samplers module: inconsistency mask, SPL, PPL and the random, entropy and margin baselines,
/// each one implementation over Thrust algorithms for every execution policy; the Sampler concept
/// and the Query they return.

#include "labor/samplers/entropy.hpp"
#include "labor/samplers/inconsistency.hpp"
#include "labor/samplers/margin.hpp"
#include "labor/samplers/ppl.hpp"
#include "labor/samplers/query.hpp"
#include "labor/samplers/random.hpp"
#include "labor/samplers/sampler.hpp"
#include "labor/samplers/spl.hpp"
#include "labor/samplers/validate.hpp"
