#pragma once
/// @file fuzz_support.hpp
/// What the libFuzzer harnesses of tests/fuzz share: a per-process scratch folder for the inputs
/// (labor's readers take paths), the rule that only labor::Error may leave a reader, checks that
/// abort with a message (a finding), and the small model the weight and checkpoint harnesses load.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/nn/parameter.hpp"

namespace labor::fuzz {

/// A scratch folder of this process under $TMPDIR (or /tmp), removed at exit.
inline const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    std::error_code ec;
    auto base = std::filesystem::temp_directory_path(ec);
    if (ec) base = "/tmp";
    auto d = base / ("labor-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code e;
      std::filesystem::remove_all(scratch(), e);
    });
    return d;
  }();
  return dir;
}

/// Writes `size` bytes at `data` to `file` (truncating it) and returns `file`.
inline std::filesystem::path write_file(const std::filesystem::path& file, const std::uint8_t* data, std::size_t size) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", file.c_str());
    std::abort();
  }
  return file;
}

inline std::filesystem::path write_file(const std::filesystem::path& file, std::string_view bytes) {
  return write_file(file, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

/// Whether an input is among the about 1 in 64 that a harness also sends through a slow path
/// (labor's atomic writers fsync): chosen by the input's bytes, so a replay takes the same path.
inline bool sampled(const std::uint8_t* data, std::size_t size) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 0x100000001b3ull;
  return (h >> 58) == 0;
}

/// Runs `f`; a labor::Error is the expected answer to bad input and is swallowed. Any other
/// exception leaves the harness, and libFuzzer reports it as a crash (a finding).
template <class F>
bool accepts(F&& f) {
  try {
    f();
    return true;
  } catch (const labor::Error&) {
    return false;
  }
}

/// A broken invariant of a reader's result: prints `what` and aborts (a finding).
inline void expect(bool cond, const char* what) {
  if (!cond) {
    std::fprintf(stderr, "fuzz: invariant violated: %s\n", what);
    std::abort();
  }
}

/// Checks that a tensor's shape and storage agree: the product of its sizes, computed without
/// overflow, is its element count, and its first and last elements can be read (ASan reports a
/// buffer that is shorter than the shape says).
template <class T>
void check_tensor(const Tensor<T, cpu>& t, const char* what) {
  bool zero = false;
  for (int d = 0; d < t.rank(); ++d) {
    expect(t.size(d) >= 0, what);
    zero = zero || t.size(d) == 0;
  }
  __int128 n = zero ? 0 : 1;
  for (int d = 0; d < t.rank() && !zero; ++d) {
    n *= t.size(d);
    expect(n <= (__int128{1} << 62), what);
  }
  expect(n == t.numel(), what);
  expect(static_cast<std::size_t>(t.numel()) * sizeof(T) == t.bytes(), what);
  if (t.numel() > 0) {
    volatile T first = t.data()[0];
    volatile T last = t.data()[t.numel() - 1];
    (void)first;
    (void)last;
  }
}

/// A model small enough for a fuzzer to reach by mutation, named like a torchvision ResNet's
/// start: parameters conv1.weight [4, 3, 3, 3], bn1.weight/bias [4], layer1.0.conv1.weight
/// [2, 4, 1, 1]; buffers bn1.running_mean/var [4]. Anything with visit() is a model to
/// io::load_weights and train::StateDict.
struct TinyModel {
  using value_type = float;
  using device_type = cpu;
  nn::Parameter<float> conv1{Shape{4, 3, 3, 3}};
  nn::Parameter<float> bn1_weight{Shape{4}};
  nn::Parameter<float> bn1_bias{Shape{4}};
  Tensor<float, cpu> bn1_running_mean{Shape{4}};
  Tensor<float, cpu> bn1_running_var{Shape{4}};
  nn::Parameter<float> layer1_conv1{Shape{2, 4, 1, 1}};

  template <class V>
  void visit(V& v, const std::string& prefix) {
    v.parameter(prefix + "conv1.weight", conv1);
    v.parameter(prefix + "bn1.weight", bn1_weight);
    v.parameter(prefix + "bn1.bias", bn1_bias);
    v.buffer(prefix + "bn1.running_mean", bn1_running_mean);
    v.buffer(prefix + "bn1.running_var", bn1_running_var);
    v.parameter(prefix + "layer1.0.conv1.weight", layer1_conv1);
  }
};

}  // namespace labor::fuzz
