#pragma once
/// @file nn.hpp
/// The nn module: layers with forward and backward, and their composition.

#include "labor/nn/activation.hpp"
#include "labor/nn/batch_norm2d.hpp"
#include "labor/nn/conv2d.hpp"
#include "labor/nn/grad_mode.hpp"
#include "labor/nn/layer.hpp"
#include "labor/nn/max_pool2d.hpp"
#include "labor/nn/parameter.hpp"
#include "labor/nn/residual.hpp"
#include "labor/nn/sequential.hpp"
#include "labor/nn/softmax.hpp"
#include "labor/nn/upsample.hpp"
