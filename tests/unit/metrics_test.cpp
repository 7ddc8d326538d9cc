// Unit tests of the metrics module: confusion matrix, IoU, mIoU, pixel accuracy, merge and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include <labor/metrics.hpp>

#include "support/errors.hpp"

namespace {

using labor::testing::expect_error;

using labor::Error;
using labor::Shape;
using labor::Tensor;
using labor::metrics::ConfusionMatrix;

Tensor<std::int32_t> map(Shape shape, std::initializer_list<std::int32_t> v) {
  return Tensor<std::int32_t>::from(shape, v);
}

TEST(ConfusionMatrix, CountsIouAndAccuracy) {
  // 4 classes; class 3 is absent from both prediction and ground truth.
  ConfusionMatrix cm(4);
  const auto target = map(Shape{1, 2, 4}, {0, 0, 1, 1, 2, 255, 0, 2});
  const auto pred = map(Shape{1, 2, 4}, {0, 1, 1, 1, 2, 3, 0, 0});
  cm.update(pred, target);
  const auto& m = cm.matrix();
  ASSERT_EQ(m.shape(), Shape({4, 4}));
  EXPECT_EQ(m(0, 0), 2);
  EXPECT_EQ(m(0, 1), 1);
  EXPECT_EQ(m(1, 1), 2);
  EXPECT_EQ(m(2, 2), 1);
  EXPECT_EQ(m(2, 0), 1);
  EXPECT_EQ(cm.total(), 7) << "the ignored pixel (predicted 3) is not counted";
  const auto iou = cm.iou();
  EXPECT_DOUBLE_EQ(iou[0], 2.0 / 4.0);  // TP 2, FN 1, FP 1
  EXPECT_DOUBLE_EQ(iou[1], 2.0 / 3.0);  // TP 2, FP 1
  EXPECT_DOUBLE_EQ(iou[2], 1.0 / 2.0);  // TP 1, FN 1
  EXPECT_TRUE(std::isnan(iou[3]));
  EXPECT_DOUBLE_EQ(cm.miou(), (0.5 + 2.0 / 3.0 + 0.5) / 3);
  EXPECT_DOUBLE_EQ(cm.pixel_accuracy(), 5.0 / 7.0);
}

TEST(ConfusionMatrix, ClassOnlyPredictedCountsWithZeroIou) {
  ConfusionMatrix cm(3);
  cm.update(map(Shape{1, 1, 3}, {0, 2, 2}), map(Shape{1, 1, 3}, {0, 0, 0}));
  const auto iou = cm.iou();
  EXPECT_DOUBLE_EQ(iou[0], 1.0 / 3.0);
  EXPECT_TRUE(std::isnan(iou[1]));
  EXPECT_EQ(iou[2], 0.0);
  EXPECT_DOUBLE_EQ(cm.miou(), 1.0 / 6.0);
}

TEST(ConfusionMatrix, EmptyMatrixHasNanScores) {
  ConfusionMatrix cm(2);
  EXPECT_TRUE(std::isnan(cm.miou()));
  EXPECT_TRUE(std::isnan(cm.pixel_accuracy()));
  cm.update(map(Shape{1, 1, 2}, {0, 1}), map(Shape{1, 1, 2}, {255, 255}));
  EXPECT_EQ(cm.total(), 0);
}

TEST(ConfusionMatrix, CustomIgnoreIndexMergeAndReset) {
  ConfusionMatrix a(2, -1), b(2, -1);
  a.update(map(Shape{1, 1, 3}, {0, 1, 1}), map(Shape{1, 1, 3}, {0, 1, -1}));
  b.update(map(Shape{1, 1, 3}, {1, 1, 0}), map(Shape{1, 1, 3}, {0, 1, 1}));
  ConfusionMatrix both(2, -1);
  both.update(map(Shape{2, 1, 3}, {0, 1, 1, 1, 1, 0}), map(Shape{2, 1, 3}, {0, 1, -1, 0, 1, 1}));
  a.merge(b);
  for (std::int64_t i = 0; i < 4; ++i) EXPECT_EQ(a.matrix()[i], both.matrix()[i]);
  EXPECT_EQ(a.total(), 5);
  a.reset();
  EXPECT_EQ(a.total(), 0);
  expect_error([&] { a.merge(ConfusionMatrix(3, -1)); }, {"merge", "num_classes"});
  expect_error([&] { a.merge(ConfusionMatrix(2)); }, {"merge", "ignore_index"});
}

TEST(ConfusionMatrix, LargeParallelUpdateIsExact) {
  const Shape shape{2, 300, 700};
  Tensor<std::int32_t> pred(shape), target(shape);
  std::vector<std::int64_t> expected(19 * 19, 0);
  for (std::int64_t i = 0; i < target.numel(); ++i) {
    target[i] = i % 23 == 0 ? 255 : static_cast<std::int32_t>((i * 7) % 19);
    pred[i] = static_cast<std::int32_t>((i * 13 + i / 1000) % 19);
    if (target[i] != 255) ++expected[static_cast<std::size_t>(target[i] * 19 + pred[i])];
  }
  ConfusionMatrix cm(19);
  cm.update(pred, target);
  cm.update(pred, target);
  for (std::size_t k = 0; k < expected.size(); ++k)
    ASSERT_EQ(cm.matrix()[static_cast<std::int64_t>(k)], 2 * expected[k]) << k;
}

TEST(ConfusionMatrix, FormatTable) {
  ConfusionMatrix cm(3);
  cm.update(map(Shape{1, 1, 4}, {0, 0, 1, 1}), map(Shape{1, 1, 4}, {0, 1, 1, 1}));
  const std::string table = cm.format_table({"road", "car", "sky"});
  EXPECT_NE(table.find("| class | IoU (%) |"), std::string::npos) << table;
  EXPECT_NE(table.find("| road | 50.00 |"), std::string::npos) << table;
  EXPECT_NE(table.find("| car | 66.67 |"), std::string::npos) << table;
  EXPECT_NE(table.find("| sky | n/a |"), std::string::npos) << table;
  EXPECT_NE(table.find("| **mIoU** | 58.33 |"), std::string::npos) << table;
  EXPECT_NE(cm.format_table().find("| class 2 | n/a |"), std::string::npos);
  expect_error([&] { (void)cm.format_table({"road"}); }, {"class_names", "3", "1"});
}

TEST(ConfusionMatrix, BadInputsAreErrors) {
  expect_error([] { ConfusionMatrix(0); }, {"num_classes"});
  ConfusionMatrix cm(3);
  expect_error(
      [&] {
        cm.update(Tensor<std::int32_t>(Shape{1, 2, 2}), Tensor<std::int32_t>(Shape{1, 2, 3}));
      },
      {"pred shape", "[1, 2, 3]", "[1, 2, 2]"});
  expect_error(
      [&] {
        cm.update(map(Shape{1, 1, 3}, {0, 1, 2}), map(Shape{1, 1, 3}, {0, 3, 1}));
      },
      {"target", "(n=0, y=0, x=1)", "got 3"});
  expect_error(
      [&] {
        cm.update(map(Shape{1, 1, 3}, {0, -2, 2}), map(Shape{1, 1, 3}, {0, 1, 1}));
      },
      {"pred", "(n=0, y=0, x=1)", "got -2"});
  expect_error([&] { cm.update(map(Shape{1, 1, 2}, {0, 255}), map(Shape{1, 1, 2}, {0, 1})); }, {"pred", "got 255"});
  EXPECT_EQ(cm.total(), 0) << "failed updates leave the counts alone";
  // A bad prediction at an ignored pixel is not an error.
  cm.update(map(Shape{1, 1, 2}, {0, 255}), map(Shape{1, 1, 2}, {0, 255}));
  EXPECT_EQ(cm.total(), 1);
}

}  // namespace
