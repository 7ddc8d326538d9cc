#pragma once
/// @file max_pool2d.cuh
/// MaxPool2d on the GPU (MaxPoolKernels<cuda>): every window evaluated with max_pool_window (the
/// host's border path; its interior path visits the same elements in the same order), and the
/// backward as a gather per input element of the gradients of the windows whose argmax it is, in
/// output order (max_pool_gather: deterministic, and equal to the host's scatter).

#include <cstdint>

#include "labor/core/for_each.hpp"
#include "labor/nn/max_pool2d.hpp"

namespace labor::nn::detail {

/// MaxPool2d's forward, one work item per output element: y and the argmax of every window of the `planes` planes of x.
template <class T>
void max_pool_forward_elements(const T* x, T* y, std::int32_t* arg, const MaxPoolGeometry& geo, std::int64_t planes) {
  const MaxPoolGeometry g = geo;
  for_each_index<cuda>(planes * g.out_height * g.out_width, [=] LABOR_HOST_DEVICE(std::int64_t i) {
    const std::int64_t ow = i % g.out_width, row = i / g.out_width;
    const std::int64_t oh = row % g.out_height, p = row / g.out_height;
    max_pool_window(x + p * g.height * g.width, g, oh, ow, y[i], arg[i]);
  });
}

/// MaxPool2d's backward as a gather, one work item per input element (deterministic, no
/// atomics): dx of the `planes` planes from the output gradients and argmax.
template <class T>
void max_pool_backward_elements(const T* grad_out, const std::int32_t* arg, T* dx, const MaxPoolGeometry& geo,
                                std::int64_t planes) {
  const MaxPoolGeometry g = geo;
  for_each_index<cuda>(planes * g.height * g.width, [=] LABOR_HOST_DEVICE(std::int64_t i) {
    const std::int64_t w = i % g.width, row = i / g.width;
    const std::int64_t h = row % g.height, p = row / g.height;
    const std::int64_t out_plane = g.out_height * g.out_width;
    dx[i] = max_pool_gather(grad_out + p * out_plane, arg + p * out_plane, g, h, w);
  });
}

template <>
struct MaxPoolKernels<cuda> {
  template <class T>
  static void forward(const T* x, T* y, std::int32_t* argmax, const MaxPoolGeometry& g, std::int64_t planes) {
    max_pool_forward_elements<T>(x, y, argmax, g, planes);
  }
  template <class T>
  static void backward(const T* grad_out, const std::int32_t* argmax, T* dx, const MaxPoolGeometry& g,
                       std::int64_t planes) {
    max_pool_backward_elements<T>(grad_out, argmax, dx, g, planes);
  }
};

}  // namespace labor::nn::detail
