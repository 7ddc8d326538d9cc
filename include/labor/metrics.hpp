#pragma once
/// @file metrics.hpp
/// The metrics module: confusion matrix, per-class IoU, mIoU, pixel accuracy.

#include "labor/metrics/confusion_matrix.hpp"
