#pragma once
/// @file models.hpp
/// The models module: backbone, head and discriminator concepts, the networks built on them and
/// their export for PyTorch.

#include "labor/models/aspp.hpp"
#include "labor/models/backbone.hpp"
#include "labor/models/basic_block.hpp"
#include "labor/models/bottleneck.hpp"
#include "labor/models/discriminator.hpp"
#include "labor/models/export.hpp"
#include "labor/models/fc_discriminator.hpp"
#include "labor/models/head.hpp"
#include "labor/models/resnet.hpp"
#include "labor/models/segmenter.hpp"
#include "labor/models/small_backbone.hpp"
