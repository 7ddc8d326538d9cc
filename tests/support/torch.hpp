#pragma once
// Parity harness: runs a PyTorch reference script on inputs written as .npy files.
//
// A parity test writes its inputs into a fresh TempDir, calls run_torch("script.py", op, dir,
// args), and reads the outputs the script wrote back into the same folder. The scripts live in
// tests/parity and use ref_common.py. Tests call LABOR_REQUIRE_TORCH() first: without an
// interpreter that imports torch they skip with a message.

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <labor/core.hpp>
#include <labor/io/npy.hpp>

namespace labor::testing {

/// The python interpreter that imports torch: $LABOR_TORCH_PYTHON, else the one found by CMake;
/// empty when none.
inline std::string torch_python() {
  if (const char* env = std::getenv("LABOR_TORCH_PYTHON"); env && *env) return env;
  return LABOR_TORCH_PYTHON;
}

/// Whether the torch interpreter also imports torchvision (checked once).
inline bool torchvision_available() {
  static const bool ok = [] {
    if (torch_python().empty()) return false;
    const std::string cmd = "'" + torch_python() + "' -c 'import torchvision' >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0;
  }();
  return ok;
}

/// A temporary folder removed on destruction.
class TempDir {
 public:
  TempDir() {
    const auto base = std::filesystem::temp_directory_path();
    Rng rng(std::random_device{}());
    for (;;) {
      path_ = base / ("labor-test-" + std::to_string(rng.uniform_int(1ull << 62)));
      if (std::filesystem::create_directory(path_)) break;
    }
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// Runs `python tests/parity/<script> <op> <dir> <args...>`; fails the test when it exits non-zero.
inline void run_torch(const std::string& script, const std::string& op, const std::filesystem::path& dir,
                      const std::vector<std::string>& args = {}) {
  std::string cmd = "'" + torch_python() + "' '" + std::string(LABOR_PARITY_SCRIPTS) + "/" + script + "' " + op + " '" +
                    dir.string() + "'";
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>'" + (dir / "stderr.txt").string() + "'";
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    std::string err;
    if (FILE* f = std::fopen((dir / "stderr.txt").c_str(), "r")) {
      char buf[4096];
      std::size_t n = std::fread(buf, 1, sizeof buf, f);
      err.assign(buf, n);
      std::fclose(f);
    }
    FAIL() << "PyTorch reference failed (" << rc << "): " << cmd << "\n" << err;
  }
}

/// Relative error in the max norm: max|a − b| / max|b| (shapes must match; 0/0 counts as 0).
template <class T>
double max_relative_error(const Tensor<T>& a, const Tensor<T>& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double diff = 0, scale = 0;
  for (std::int64_t i = 0; i < std::min(a.numel(), b.numel()); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

}  // namespace labor::testing

#define LABOR_REQUIRE_TORCH()                                                                \
  do {                                                                                       \
    if (::labor::testing::torch_python().empty())                                            \
      GTEST_SKIP() << "PyTorch not found (install python3-torch or set LABOR_TORCH_PYTHON)"; \
  } while (false)

#define LABOR_REQUIRE_TORCHVISION()                                                                    \
  do {                                                                                                 \
    LABOR_REQUIRE_TORCH();                                                                             \
    if (!::labor::testing::torchvision_available())                                                    \
      GTEST_SKIP() << "torchvision not found (install python3-torchvision or set LABOR_TORCH_PYTHON)"; \
  } while (false)
