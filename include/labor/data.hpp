#pragma once
/// @file data.hpp
/// The data module: the Dataset concept, batches and the embedded synthetic benchmark.

#include "labor/data/any_dataset.hpp"
#include "labor/data/dataset.hpp"
#include "labor/data/synthetic.hpp"
