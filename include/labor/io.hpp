#pragma once
/// @file io.hpp
/// The io module: file formats (.npy, PNG, safetensors, JSON), atomic writes, model weights and
/// drawing on RGB images.

#include "labor/io/atomic_file.hpp"
#include "labor/io/draw.hpp"
#include "labor/io/json.hpp"
#include "labor/io/npy.hpp"
#include "labor/io/png.hpp"
#include "labor/io/safetensors.hpp"
#include "labor/io/weights.hpp"
