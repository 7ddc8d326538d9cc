#pragma once
/// @file data.hpp
/// The data module: the Dataset concept, batches, the embedded synthetic benchmark, label maps,
/// transforms, PNG file datasets and the threaded loader.

#include "labor/data/any_dataset.hpp"
#include "labor/data/dataset.hpp"
#include "labor/data/files.hpp"
#include "labor/data/label_map.hpp"
#include "labor/data/loader.hpp"
#include "labor/data/synthetic.hpp"
#include "labor/data/transforms.hpp"
