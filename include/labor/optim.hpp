#pragma once
/// @file optim.hpp
/// The optim module: SGD and Adam over parameter groups, learning-rate schedules.

#include "labor/optim/adam.hpp"
#include "labor/optim/param_group.hpp"
#include "labor/optim/schedule.hpp"
#include "labor/optim/sgd.hpp"
