// metrics::SelectionProfile: boundary, error, closeness and class shares of a selection, on maps
// whose answers follow from their construction.

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

#include <labor/metrics.hpp>

#include "support/errors.hpp"

namespace {

using labor::Tensor;
using labor::metrics::SelectionProfile;

constexpr std::int64_t H = 4, W = 6;

/// Columns 0–2 class 0, columns 3–5 class 1: the boundary is columns 2 and 3 (8 of 24 pixels).
Tensor<std::int32_t> halves() {
  Tensor<std::int32_t> t({H, W});
  for (std::int64_t y = 0; y < H; ++y)
    for (std::int64_t x = 0; x < W; ++x) t[y * W + x] = x < 3 ? 0 : 1;
  return t;
}

Tensor<std::int32_t> filled(std::int32_t c) {
  Tensor<std::int32_t> t({H, W});
  for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = c;
  return t;
}

std::vector<std::int64_t> px(std::initializer_list<std::int64_t> v) { return v; }

constexpr std::int64_t at(std::int64_t y, std::int64_t x) { return y * W + x; }

TEST(SelectionProfile, SharesAgainstThePool) {
  const auto truth = halves();
  const auto pred = filled(0);  // wrong on the right half
  const std::vector<std::int64_t> sel = {at(0, 2), at(1, 3), at(3, 0)};
  SelectionProfile p(2);
  p.add(truth, pred, sel);
  EXPECT_EQ(p.images(), 1);
  EXPECT_EQ(p.selected(), 3);
  EXPECT_EQ(p.selected_with_class(), 3);
  EXPECT_EQ(p.pixels(), H * W);
  EXPECT_DOUBLE_EQ(p.boundary_base(), 8.0 / 24.0);
  EXPECT_DOUBLE_EQ(p.boundary_share(), 2.0 / 3.0);  // (0,2) and (1,3)
  EXPECT_DOUBLE_EQ(p.error_base(), 0.5);
  EXPECT_DOUBLE_EQ(p.error_share(), 1.0 / 3.0);  // (1,3)
  // (0,2)–(1,3) at distance 1; (3,0) is 3 from (1,3) and 3 from (0,2).
  EXPECT_DOUBLE_EQ(p.close_share(), 2.0 / 3.0);
  EXPECT_EQ(p.class_shares(), (std::vector<double>{2.0 / 3.0, 1.0 / 3.0}));
  EXPECT_EQ(p.class_base(), (std::vector<double>{0.5, 0.5}));

  SelectionProfile wide(2, 3);
  wide.add(truth, pred, sel);
  EXPECT_DOUBLE_EQ(wide.close_share(), 1.0);

  // A second image accumulates: the same image twice keeps every share; another prediction moves
  // only the error shares.
  p.add(truth, truth, sel);
  EXPECT_EQ(p.images(), 2);
  EXPECT_EQ(p.selected(), 6);
  EXPECT_DOUBLE_EQ(p.boundary_share(), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(p.error_share(), 1.0 / 6.0);
  EXPECT_DOUBLE_EQ(p.error_base(), 0.25);
  EXPECT_DOUBLE_EQ(p.close_share(), 2.0 / 3.0);
}

TEST(SelectionProfile, IgnorePixelsCountOnlyForCloseness) {
  auto truth = halves();
  // Column 3 ignored: column 2's pixels now see only class 0 and ignore, column 4's class 1 and
  // ignore, so no pixel with a class is on a boundary.
  for (std::int64_t y = 0; y < H; ++y) truth[at(y, 3)] = labor::ignore_label;
  SelectionProfile p(2);
  p.add(truth, filled(1), px({at(0, 3), at(0, 2), at(2, 5)}));
  EXPECT_EQ(p.selected(), 3);
  EXPECT_EQ(p.selected_with_class(), 2);
  EXPECT_EQ(p.pixels(), H * W - H);
  EXPECT_DOUBLE_EQ(p.boundary_base(), 0.0);
  EXPECT_DOUBLE_EQ(p.boundary_share(), 0.0);
  EXPECT_DOUBLE_EQ(p.error_share(), 0.5);  // (0,2) is class 0, predicted 1
  EXPECT_DOUBLE_EQ(p.error_base(), 12.0 / 20.0);
  // (0,3) and (0,2) are neighbours; (2,5) is 2 from (0,3): all three close at distance 2.
  EXPECT_DOUBLE_EQ(p.close_share(), 1.0);
  EXPECT_EQ(p.class_shares(), (std::vector<double>{0.5, 0.5}));

  SelectionProfile none(3);
  none.add(truth, filled(1), px({}));
  EXPECT_EQ(none.selected(), 0);
  EXPECT_DOUBLE_EQ(none.boundary_share(), 0.0);
  EXPECT_DOUBLE_EQ(none.close_share(), 0.0);
  EXPECT_EQ(none.class_base(), (std::vector<double>{12.0 / 20.0, 8.0 / 20.0, 0.0}));
}

TEST(SelectionProfile, BadInputIsRefusedAndAddsNothing) {
  const auto truth = halves();
  SelectionProfile p(2);
  using labor::testing::expect_error;
  expect_error([&] { p.add(truth, filled(0), px({at(0, 0), at(0, 0)})); }, {"selected", "pixel 0", "twice"});
  expect_error([&] { p.add(truth, filled(0), px({H * W})); }, {"selected", "[0, 24)", "24"});
  expect_error([&] { p.add(truth, filled(2), px({})); }, {"prediction", "[0, 2)", "2"});
  auto bad = halves();
  bad[at(1, 1)] = 7;
  expect_error([&] { p.add(bad, filled(0), px({})); }, {"truth", "7", "pixel 7"});
  expect_error([&] { p.add(truth, Tensor<std::int32_t>({H, W + 1}), px({})); }, {"prediction", "[4, 6]", "[4, 7]"});
  expect_error(
      [&] {
        p.add(Tensor<std::int32_t>({2, H, W}), Tensor<std::int32_t>({2, H, W}), px({}));
      },
      {"truth", "H×W", "[2, 4, 6]"});
  EXPECT_EQ(p.images(), 0);
  EXPECT_EQ(p.pixels(), 0);
  expect_error([] { SelectionProfile(0); }, {"num_classes", "0"});
  expect_error([] { SelectionProfile(2, 0); }, {"close_distance", "1 to 64"});
}

}  // namespace
