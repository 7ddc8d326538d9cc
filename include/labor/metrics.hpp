#pragma once
/// @file metrics.hpp
/// The metrics module: confusion matrix, per-class IoU, mIoU, pixel accuracy; the profile of a
/// selection of pixels (boundaries, errors, redundancy, classes).

#include "labor/metrics/confusion_matrix.hpp"
#include "labor/metrics/selection_profile.hpp"
