// Unit tests of labor/data/loader.hpp: batches independent of the worker count, epoch coverage,
// augmentation shared by images and labels, label sources, errors from workers, the bounded queue
// and shutdown while workers wait.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include <labor/data/loader.hpp>

#include "support/errors.hpp"

namespace {

using labor::Shape;
using labor::Tensor;
using labor::testing::expect_error;
namespace data = labor::data;

/// n items of h×w; image channels hold (label + 1)/32 and the item index; labels i + y·w + x mod 19.
data::InMemoryDataset coded_dataset(std::int64_t n, std::int64_t h, std::int64_t w) {
  data::InMemoryDataset ds;
  for (std::int64_t i = 0; i < n; ++i) {
    Tensor<float> im(Shape{3, h, w});
    Tensor<std::int32_t> lb(Shape{h, w});
    for (std::int64_t p = 0; p < h * w; ++p) {
      lb[p] = static_cast<std::int32_t>((i + p) % 19);
      im[p] = static_cast<float>(lb[p] + 1) / 32.0f;
      im[h * w + p] = static_cast<float>(i) / 32.0f;
      im[2 * h * w + p] = 0.5f;
    }
    ds.push_back(std::move(im), std::move(lb));
  }
  return ds;
}

bool same_bytes(const data::Batch& a, const data::Batch& b) {
  return a.indices == b.indices && a.images.shape() == b.images.shape() && a.labels.shape() == b.labels.shape() &&
         std::memcmp(a.images.data(), b.images.data(), a.images.bytes()) == 0 &&
         std::memcmp(a.labels.data(), b.labels.data(), a.labels.bytes()) == 0;
}

const data::LoaderOptions kAugmented{
    .batch_size = 3,
    .seed = 11,
    .augment = {.crop_height = 6, .crop_width = 7, .scale_min = 0.6, .scale_max = 1.4, .flip = true}};

TEST(Loader, SameBatchesForAnyWorkerCount) {
  const auto ds = coded_dataset(7, 8, 10);
  std::vector<data::Batch> reference;
  for (int workers : {0, 1, 3}) {
    auto o = kAugmented;
    o.workers = workers;
    o.prefetch = 2;
    data::Loader loader(ds, o);
    for (int k = 0; k < 8; ++k) {
      auto b = loader.next();
      ASSERT_EQ(b.images.shape(), Shape({3, 3, 6, 7}));
      ASSERT_EQ(b.labels.shape(), Shape({3, 6, 7}));
      if (workers == 0)
        reference.push_back(std::move(b));
      else
        EXPECT_TRUE(same_bytes(b, reference[static_cast<std::size_t>(k)])) << "workers " << workers << " batch " << k;
    }
    EXPECT_EQ(loader.batches_returned(), 8);
    EXPECT_TRUE(same_bytes(loader.batch(5), reference[5]));
    // Resuming: a loader that starts at batch 5 (spanning an epoch boundary) continues the sequence.
    o.first_batch = 5;
    data::Loader resumed(ds, o);
    for (int k = 5; k < 8; ++k)
      EXPECT_TRUE(same_bytes(resumed.next(), reference[static_cast<std::size_t>(k)])) << "resumed batch " << k;
    EXPECT_EQ(resumed.batches_returned(), 3);
  }
  // Another seed gives other batches.
  auto o = kAugmented;
  o.seed = 12;
  o.workers = 0;
  data::Loader other(ds, o);
  bool differs = false;
  for (int k = 0; k < 4; ++k) differs |= !same_bytes(other.next(), reference[static_cast<std::size_t>(k)]);
  EXPECT_TRUE(differs);
}

TEST(Loader, EpochsArePermutationsAndBatchesSpanThem) {
  const auto ds = coded_dataset(7, 4, 4);
  data::Loader loader(ds, {.batch_size = 3, .seed = 5, .workers = 2});
  std::vector<std::int64_t> seq;
  for (int k = 0; k < 7; ++k) {
    const auto b = loader.next();
    seq.insert(seq.end(), b.indices.begin(), b.indices.end());
    // Without augmentation, item j of the batch is dataset item indices[j], normalised by default.
    for (std::size_t j = 0; j < b.indices.size(); ++j) {
      const auto& im = ds.image(b.indices[j]);
      for (std::int64_t p = 0; p < 3 * 16; ++p)
        ASSERT_FLOAT_EQ(b.images[static_cast<std::int64_t>(j) * 48 + p], (im[p] - 0.5f) / 0.25f);
      ASSERT_EQ(b.labels[static_cast<std::int64_t>(j) * 16 + 5], ds.label(b.indices[j])[5]);
    }
  }
  ASSERT_EQ(seq.size(), 21u);
  std::vector<std::vector<std::int64_t>> epochs;
  for (int e = 0; e < 3; ++e) {
    std::vector<std::int64_t> ep(seq.begin() + e * 7, seq.begin() + (e + 1) * 7);
    EXPECT_EQ(std::set<std::int64_t>(ep.begin(), ep.end()).size(), 7u) << "epoch " << e;
    epochs.push_back(ep);
  }
  EXPECT_TRUE(epochs[0] != epochs[1] || epochs[1] != epochs[2]);  // reshuffled
}

/// n items of h×w whose image channels hold x/32, y/32 and i/32, and whose labels are 16·y + x.
data::InMemoryDataset xy_dataset(std::int64_t n, std::int64_t h, std::int64_t w) {
  data::InMemoryDataset ds;
  for (std::int64_t i = 0; i < n; ++i) {
    Tensor<float> im(Shape{3, h, w});
    Tensor<std::int32_t> lb(Shape{h, w});
    for (std::int64_t y = 0; y < h; ++y)
      for (std::int64_t x = 0; x < w; ++x) {
        lb(y, x) = static_cast<std::int32_t>(16 * y + x);
        im(0, y, x) = static_cast<float>(x) / 32.0f;
        im(1, y, x) = static_cast<float>(y) / 32.0f;
        im(2, y, x) = static_cast<float>(i) / 32.0f;
      }
    ds.push_back(std::move(im), std::move(lb));
  }
  return ds;
}

TEST(Loader, LabelsFollowTheImageGeometry) {
  // Bilinear resizing keeps the coordinate ramps linear; the nearest labels name a source pixel
  // within 1.34 pixels of the sampled position for scales in [0.6, 1.4]. A label flipped, cropped
  // or scaled differently from its image would be off by several pixels.
  const auto ds = xy_dataset(5, 8, 10);
  auto o = kAugmented;
  o.augment.crop_height = 9;  // sometimes larger than the rescaled item: padding
  o.augment.crop_width = 12;
  o.normalization = {.mean = {0, 0, 0}, .std = {1, 1, 1}};
  data::Loader loader(ds, o);
  std::int64_t checked = 0, padded = 0, mirrored = 0;
  for (int k = 0; k < 10; ++k) {
    const auto b = loader.next();
    const std::int64_t hw = 9 * 12;
    for (std::int64_t j = 0; j < 3; ++j) {
      const float* im = b.images.data() + j * 3 * hw;
      const std::int32_t* lb = b.labels.data() + j * hw;
      for (std::int64_t p = 0; p < hw; ++p) {
        if (lb[p] == 255) {
          ++padded;
          ASSERT_EQ(im[p], 0.0f);
          ASSERT_EQ(im[hw + p], 0.0f);
          continue;
        }
        ASSERT_NEAR(im[p] * 32.0f, static_cast<float>(lb[p] % 16), 1.35f) << k << "," << j << "," << p;
        ASSERT_NEAR(im[hw + p] * 32.0f, static_cast<float>(lb[p] / 16), 1.35f) << k << "," << j << "," << p;
        ASSERT_NEAR(im[2 * hw + p] * 32.0f, static_cast<float>(b.indices[static_cast<std::size_t>(j)]), 1e-4);
        ++checked;
      }
      mirrored += (lb[0] != 255 && lb[1] != 255 && lb[0] % 16 > lb[1] % 16) ? 1 : 0;
    }
  }
  EXPECT_GT(checked, 1000);
  EXPECT_GT(padded, 0);
  EXPECT_GT(mirrored, 0);
}

TEST(Loader, ExactGeometryWithoutRescale) {
  const auto ds = coded_dataset(4, 6, 8);
  data::Loader loader(ds, {.batch_size = 2,
                           .seed = 3,
                           .workers = 1,
                           .augment = {.crop_height = 5, .crop_width = 9, .flip = true},
                           .normalization = {.mean = {0, 0, 0}, .std = {1, 1, 1}}});
  int flipped = 0;
  for (int k = 0; k < 12; ++k) {
    const auto b = loader.next();
    const std::int64_t hw = 5 * 9;
    for (std::int64_t j = 0; j < 2; ++j) {
      for (std::int64_t p = 0; p < hw; ++p) {
        const std::int32_t l = b.labels[j * hw + p];
        const float v = b.images[j * 3 * hw + p];
        ASSERT_EQ(v, l == 255 ? 0.0f : static_cast<float>(l + 1) / 32.0f) << k << "," << j << "," << p;
      }
      flipped += b.labels[j * hw] == 255 ? 1 : 0;  // the 9-wide window pads one column
    }
  }
  EXPECT_GT(flipped, 0);
  EXPECT_LT(flipped, 24);
}

TEST(Loader, LabelSourceReplacesDatasetLabels) {
  const auto ds = coded_dataset(3, 4, 5);
  std::atomic<int> calls{0};
  data::LabelSource source = [&](std::int64_t i) {
    ++calls;
    return Tensor<std::int32_t>::full(Shape{4, 5}, static_cast<std::int32_t>(i + 40));
  };
  data::Loader loader(ds, {.batch_size = 2, .workers = 2}, source);
  for (int k = 0; k < 3; ++k) {
    const auto b = loader.next();
    for (std::int64_t j = 0; j < 2; ++j)
      for (std::int64_t p = 0; p < 20; ++p)
        ASSERT_EQ(b.labels[j * 20 + p], b.indices[static_cast<std::size_t>(j)] + 40);
  }
  EXPECT_GE(calls.load(), 6);
  data::Loader wrong(ds, {.workers = 0}, [](std::int64_t) { return Tensor<std::int32_t>(Shape{3, 3}); });
  expect_error([&] { (void)wrong.next(); }, {"label map", "4×5", "[3, 3]"});
}

/// A dataset whose item `bad` throws, counting image() calls.
struct FailingDataset {
  data::InMemoryDataset inner;
  std::int64_t bad;
  mutable std::atomic<int> calls{0};
  [[nodiscard]] std::int64_t size() const { return inner.size(); }
  [[nodiscard]] const Tensor<float>& image(std::int64_t i) const {
    ++calls;
    LABOR_CHECK(i != bad, "FailingDataset: item {} is broken", i);
    return inner.image(i);
  }
  [[nodiscard]] const Tensor<std::int32_t>& label(std::int64_t i) const { return inner.label(i); }
};

TEST(Loader, WorkerErrorsAreRethrownInOrder) {
  for (int workers : {0, 2}) {
    FailingDataset ds{coded_dataset(6, 4, 4), -1};
    // Find the batch that first holds item 4 with the same options, then break item 4.
    const data::LoaderOptions o{.batch_size = 2, .seed = 9, .workers = workers};
    std::int64_t first = -1;
    {
      data::Loader probe(ds, {.batch_size = 2, .seed = 9, .workers = 0});
      for (std::int64_t k = 0; first < 0; ++k) {
        const auto b = probe.next();
        if (b.indices[0] == 4 || b.indices[1] == 4) first = k;
      }
    }
    ds.bad = 4;
    data::Loader loader(ds, o);
    for (std::int64_t k = 0; k < first; ++k) EXPECT_NO_THROW((void)loader.next()) << k;
    expect_error([&] { (void)loader.next(); }, "item 4 is broken");
    expect_error([&] { (void)loader.next(); }, "item 4 is broken");  // stays failed
  }
}

TEST(Loader, QueueIsBoundedAndShutdownDoesNotHang) {
  FailingDataset ds{coded_dataset(50, 4, 4), -1};
  {
    data::Loader loader(ds, {.batch_size = 1, .workers = 3, .prefetch = 2});
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    EXPECT_EQ(ds.calls.load(), 2);  // two batches waiting, the workers blocked
    (void)loader.next();
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    EXPECT_EQ(ds.calls.load(), 3);
  }  // destroyed with the workers blocked
  const auto start = std::chrono::steady_clock::now();
  { data::Loader idle(ds, {.batch_size = 4, .workers = 4, .prefetch = 1}); }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(Loader, RejectsBadOptions) {
  const auto ds = coded_dataset(2, 4, 4);
  expect_error([&] { data::Loader l(ds, {.batch_size = 0}); }, "batch_size");
  expect_error([&] { data::Loader l(ds, {.workers = -1}); }, "workers");
  expect_error([&] { data::Loader l(ds, {.prefetch = 0}); }, "prefetch");
  expect_error([&] { data::Loader l(ds, {.augment = {.crop_height = 3}}); }, "crop size");
  expect_error([&] { data::Loader l(ds, {.augment = {.scale_min = -1}}); }, "scale range");
  const data::InMemoryDataset empty;
  expect_error([&] { data::Loader l(empty, {}); }, "at least one item");
  // Scale jitter without a crop gives items of different sizes in one batch.
  data::Loader jitter(ds, {.batch_size = 2, .workers = 0, .augment = {.scale_min = 0.5, .scale_max = 2.0}});
  expect_error([&] { (void)jitter.next(); }, {"after augmentation", "like the batch's first item"});
}

}  // namespace
