#pragma once
/// @file train.hpp
/// The train module: the LabOR schedule, its options and checkpoints, and the resumable run folder.

#include "labor/train/checkpoint.hpp"
#include "labor/train/options.hpp"
#include "labor/train/run.hpp"
#include "labor/train/trainer.hpp"
