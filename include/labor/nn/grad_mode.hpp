#pragma once
/// @file grad_mode.hpp
/// Whether forward passes keep what backward needs: labor::nn::grad_enabled and NoGradGuard, as
/// torch.no_grad / torch::NoGradGuard.
///
/// A layer's forward normally keeps what its backward reads (a copy of the input for Conv2d and
/// ReLU, x̂ for BatchNorm2d, the output for Softmax, the argmax for MaxPool2d): one extra copy of
/// every activation, written on every forward. Inference (evaluation, pseudo-labels, the selector's
/// probabilities for selection, prediction) never calls backward, so while a NoGradGuard lives on a
/// thread, forwards on that thread keep nothing and release what an earlier forward kept. The
/// outputs are the same, bit for bit. A backward after such a forward throws labor::Error naming
/// the layer. The mode is per thread (a forward reads it on the thread that calls it) and is
/// independent of set_training: evaluation-mode batch norm with gradients, and training-mode batch
/// norm (running statistics updated) without, both work.

namespace labor::nn {

namespace detail {
inline bool& grad_mode_flag() noexcept {
  thread_local bool enabled = true;
  return enabled;
}
}  // namespace detail

/// Whether forwards on this thread keep what backward needs (true unless a NoGradGuard lives).
[[nodiscard]] inline bool grad_enabled() noexcept { return detail::grad_mode_flag(); }

/// While it lives, forwards on this thread keep nothing for backward; restores the previous mode
/// when destroyed (guards nest).
class NoGradGuard {
 public:
  NoGradGuard() noexcept : previous_(detail::grad_mode_flag()) { detail::grad_mode_flag() = false; }
  ~NoGradGuard() { detail::grad_mode_flag() = previous_; }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace labor::nn
