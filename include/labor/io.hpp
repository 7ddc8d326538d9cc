#pragma once
/// @file io.hpp
/// The io module: file formats.

#include "labor/io/npy.hpp"
