#pragma once
/// @file train.hpp
/// The train module: the LabOR schedule, its options and checkpoints.

#include "labor/train/checkpoint.hpp"
#include "labor/train/options.hpp"
#include "labor/train/trainer.hpp"
