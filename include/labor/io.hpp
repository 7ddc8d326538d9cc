#pragma once
/// @file io.hpp
/// The io module: file formats (.npy, PNG).

#include "labor/io/npy.hpp"
#include "labor/io/png.hpp"
