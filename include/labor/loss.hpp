#pragma once
/// @file loss.hpp
/// The loss module: cross-entropy, BCE with logits, MCD discrepancy, entropy, IAST pseudo-labels, the
/// weight-space cosine of two heads.

#include "labor/loss/bce_with_logits.hpp"
#include "labor/loss/cross_entropy.hpp"
#include "labor/loss/discrepancy.hpp"
#include "labor/loss/entropy.hpp"
#include "labor/loss/loss_result.hpp"
#include "labor/loss/pseudo_label.hpp"
#include "labor/loss/weight_cosine.hpp"
