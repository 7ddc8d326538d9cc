#pragma once
/// @file io.hpp
/// The io module: file formats (.npy, PNG, safetensors) and model weights.

#include "labor/io/npy.hpp"
#include "labor/io/png.hpp"
#include "labor/io/safetensors.hpp"
#include "labor/io/weights.hpp"
