// Resizing of data items against PyTorch: resize_bilinear as F.interpolate(mode="bilinear",
// align_corners=False) and resize_nearest as F.interpolate(mode="nearest"), up, down, exact
// doublings and odd ratios.
#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <string>

#include <labor/core/rng.hpp>
#include <labor/data/transforms.hpp>
#include <labor/io/npy.hpp>

#include "support/torch.hpp"

namespace {

using labor::Shape;
using labor::Tensor;
using labor::io::read_npy;
using labor::io::write_npy;
using labor::testing::run_torch;
using labor::testing::TempDir;

struct ResizeCase {
  std::int64_t h, w, out_h, out_w;
};

void PrintTo(const ResizeCase& c, std::ostream* os) { *os << c.h << "x" << c.w << " -> " << c.out_h << "x" << c.out_w; }

class ResizeParity : public ::testing::TestWithParam<ResizeCase> {};

TEST_P(ResizeParity, MatchesPyTorch) {
  LABOR_REQUIRE_TORCH();
  const auto c = GetParam();
  labor::Rng rng(static_cast<std::uint64_t>(c.h * 1000 + c.w));
  Tensor<float> x(Shape{3, c.h, c.w});
  labor::fill_uniform(x.view(), rng);
  Tensor<float> labels_f(Shape{c.h, c.w});
  Tensor<std::int32_t> labels(Shape{c.h, c.w});
  for (std::int64_t i = 0; i < labels.numel(); ++i) {
    labels[i] = static_cast<std::int32_t>(i % 251);  // every pixel distinct enough to see a wrong tap
    labels_f[i] = static_cast<float>(labels[i]);
  }
  TempDir dir;
  write_npy(dir / "x.npy", x);
  write_npy(dir / "labels.npy", labels_f);
  run_torch("transforms_ref.py", "resize", dir.path(), {std::to_string(c.out_h), std::to_string(c.out_w)});

  const auto y = labor::data::resize_bilinear(x, c.out_h, c.out_w);
  const auto ref = read_npy<float>(dir / "y.npy");
  ASSERT_EQ(y.shape(), ref.shape());
  for (std::int64_t i = 0; i < y.numel(); ++i) ASSERT_NEAR(y[i], ref[i], 1e-6) << "element " << i;

  const auto l = labor::data::resize_nearest(labels, c.out_h, c.out_w);
  const auto lref = read_npy<float>(dir / "labels_out.npy");
  ASSERT_EQ(l.shape(), lref.shape());
  for (std::int64_t i = 0; i < l.numel(); ++i) ASSERT_EQ(static_cast<float>(l[i]), lref[i]) << "element " << i;
}

INSTANTIATE_TEST_SUITE_P(Sizes, ResizeParity,
                         ::testing::Values(ResizeCase{7, 9, 16, 20},     // up, non-integer
                                           ResizeCase{16, 20, 7, 9},     // down, non-integer
                                           ResizeCase{5, 6, 10, 12},     // exact doubling
                                           ResizeCase{11, 13, 33, 39},   // ×3
                                           ResizeCase{64, 128, 32, 64},  // halving
                                           ResizeCase{512, 1024, 256, 512},
                                           ResizeCase{37, 53, 37, 71},   // one axis unchanged
                                           ResizeCase{100, 100, 73, 127}));

}  // namespace
