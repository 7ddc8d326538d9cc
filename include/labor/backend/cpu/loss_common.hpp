#pragma once
/// @file loss_common.hpp
/// The host driver of the per-pixel loss kernels (backend/cpu/loss_*.hpp). N×C×H×W maps keep a pixel's C values H·W
/// elements apart, so walking pixel by pixel touches C (often conflicting) cache lines per array. The driver instead
/// cuts the pixels into tiles, copies each tile's channels into a pixel-major scratch block with streaming reads, runs
/// the per-pixel function on contiguous values (stride 1; the CUDA kernels call the same functions with stride H·W),
/// and streams the outputs back.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "labor/core/parallel.hpp"
#include "labor/core/shape.hpp"

namespace labor::loss::detail {

/// Pixels per tile of reduce_pixels.
inline constexpr std::int64_t pixel_tile = 128;

/// For every pixel i (flat index n·H·W + y·W + x) of N×C×H×W maps of shape `shape`, calls
/// `f(i, ins, outs)` where `ins[k]` points at the C contiguous values of input k at that pixel and
/// `outs[k]` at C contiguous slots that f must fill and that are stored to output k. Returns the
/// sum of f's return values, accumulated in double in an order that does not depend on the thread
/// count. `f` must not throw; it may run concurrently for different pixels.
template <class T, std::size_t NIn, std::size_t NOut, class F>
double reduce_pixels(const Shape& shape, const std::array<const T*, NIn>& in, const std::array<T*, NOut>& out, F&& f) {
  const std::int64_t n = shape[0], channels = shape[1], plane = shape[2] * shape[3];
  const std::int64_t tiles_per_image = (plane + pixel_tile - 1) / pixel_tile, tiles = n * tiles_per_image;
  if (tiles == 0) return 0.0;
  const std::int64_t block = pixel_tile * channels;  // scratch elements per array
  std::vector<double> partial(static_cast<std::size_t>(tiles));
  const std::int64_t parts = std::min<std::int64_t>(tiles, 256);
  parallel_for(
      0, parts,
      [&](std::int64_t part) {
        std::vector<T> scratch(static_cast<std::size_t>((NIn + NOut) * block));
        std::array<const T*, NIn> ip{};
        std::array<T*, NOut> op{};
        for (std::int64_t t = tiles * part / parts; t < tiles * (part + 1) / parts; ++t) {
          const std::int64_t image = t / tiles_per_image, s0 = (t % tiles_per_image) * pixel_tile;
          const std::int64_t len = std::min(pixel_tile, plane - s0), base = image * channels * plane + s0;
          for (std::size_t k = 0; k < NIn; ++k) {
            const T* src = in[k] + base;
            T* dst = scratch.data() + static_cast<std::int64_t>(k) * block;
            for (std::int64_t c = 0; c < channels; ++c)
              for (std::int64_t p = 0; p < len; ++p) dst[p * channels + c] = src[c * plane + p];
          }
          double sum = 0;
          for (std::int64_t p = 0; p < len; ++p) {
            for (std::size_t k = 0; k < NIn; ++k)
              ip[k] = scratch.data() + static_cast<std::int64_t>(k) * block + p * channels;
            if constexpr (NOut > 0)  // (nvcc warns about k < 0 otherwise)
              for (std::size_t k = 0; k < NOut; ++k)
                op[k] = scratch.data() + static_cast<std::int64_t>(NIn + k) * block + p * channels;
            sum += static_cast<double>(f(image * plane + s0 + p, ip, op));
          }
          if constexpr (NOut > 0)
            for (std::size_t k = 0; k < NOut; ++k) {
              const T* src = scratch.data() + static_cast<std::int64_t>(NIn + k) * block;
              T* dst = out[k] + base;
              for (std::int64_t c = 0; c < channels; ++c)
                for (std::int64_t p = 0; p < len; ++p) dst[c * plane + p] = src[p * channels + c];
            }
          partial[static_cast<std::size_t>(t)] = sum;
        }
      },
      1);
  double total = 0;
  for (double v : partial) total += v;
  return total;
}

}  // namespace labor::loss::detail
