#pragma once
/// @file loader.hpp
/// labor::data::Loader: endless shuffled batches of a Dataset, decoded, augmented and normalised by
/// background threads into a bounded queue.
///
/// Batch k holds the items at positions k·B … k·B + B − 1 of an endless sequence of epochs, each
/// epoch a fresh permutation of [0, size) drawn from (seed, epoch); item j of batch k is augmented
/// with the counter-based stream of (seed, k·B + j). So the batches are a pure function of the
/// dataset, the labels and the options: the same for any number of workers, in the same order.

#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <numeric>
#include <thread>
#include <utility>
#include <vector>

#include "labor/core/error.hpp"
#include "labor/core/labels.hpp"
#include "labor/core/rng.hpp"
#include "labor/core/tensor.hpp"
#include "labor/data/dataset.hpp"
#include "labor/data/transforms.hpp"

namespace labor::data {

/// Options of a Loader; usable with designated initializers.
struct LoaderOptions {
  /// Items per batch (≥ 1).
  std::int64_t batch_size = 1;
  /// Seed of the shuffles and the augmentation.
  std::uint64_t seed = 0;
  /// Background threads decoding and augmenting (≥ 0); 0: batches are made inside next().
  int workers = 2;
  /// Prepared batches that may wait in the queue (≥ 1); a worker blocks when the queue is full.
  std::int64_t prefetch = 4;
  /// Augmentation applied to every item.
  AugmentOptions augment{};
  /// Normalisation of the batch images.
  Normalization normalization{};
  /// Index of the first batch next() returns (> 0 resumes a sequence: batch k is the same whatever
  /// the batch it starts from).
  std::int64_t first_batch = 0;
  /// false: no label is read (neither the dataset's nor a LabelSource's) and every label is 255,
  /// as for an unlabeled domain.
  bool labels = true;
};

/// One batch: N×3×H×W normalised images, N×H×W labels (classes or 255) and the dataset indices
/// of the N items.
struct Batch {
  Tensor<float, cpu> images;
  Tensor<std::int32_t, cpu> labels;
  std::vector<std::int64_t> indices;
};

/// Labels used instead of dataset.label(i) (e.g. a label store's dense maps), same size as the image.
/// Called from the worker threads, possibly concurrently: it must be safe to call from several threads.
using LabelSource = std::function<Tensor<std::int32_t, cpu>(std::int64_t)>;

namespace detail {

/// splitmix64 finaliser: decorrelates nearby seeds.
inline std::uint64_t mix64(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// Epoch permutations of [0, n), the last two computed kept.
class EpochPermutations {
 public:
  EpochPermutations(std::int64_t n, std::uint64_t seed) : n_(n), seed_(seed) {}

  /// The permutation of epoch `e`: a Fisher–Yates shuffle seeded by (seed, e).
  const std::vector<std::int64_t>& get(std::int64_t e) {
    for (auto& s : slots_)
      if (s.epoch == e) return s.perm;
    Slot& s = slots_[next_];
    next_ ^= 1;
    s.epoch = e;
    s.perm.resize(static_cast<std::size_t>(n_));
    std::iota(s.perm.begin(), s.perm.end(), std::int64_t{0});
    Rng rng(mix64(seed_ ^ mix64(static_cast<std::uint64_t>(e))));
    for (std::int64_t i = n_ - 1; i > 0; --i)
      std::swap(s.perm[static_cast<std::size_t>(i)],
                s.perm[static_cast<std::size_t>(rng.uniform_int(static_cast<std::uint64_t>(i + 1)))]);
    return s.perm;
  }

 private:
  struct Slot {
    std::int64_t epoch = -1;
    std::vector<std::int64_t> perm;
  };
  std::int64_t n_;
  std::uint64_t seed_;
  Slot slots_[2];
  int next_ = 0;
};

}  // namespace detail

/// Endless batches of `dataset` (see the file comment for the order and the randomness). Items are
/// augmented (AugmentOptions) with their labels — the same geometry, nearest neighbour, padding
/// 255 — and must all have one size after augmentation within a batch. The dataset (and whatever
/// the LabelSource reads) must outlive the loader and may be read from several threads at once.
template <Dataset S>
class Loader {
 public:
  /// Starts `options.workers` threads that prepare batches ahead.
  /// @throws labor::Error for an empty dataset or bad options.
  Loader(const S& dataset, LoaderOptions options, LabelSource labels = {})
      : dataset_(dataset),
        options_(std::move(options)),
        labels_(std::move(labels)),
        n_(static_cast<std::int64_t>(dataset.size())),
        perm_seed_(detail::mix64(options_.seed ^ 0x243F6A8885A308D3ull)),
        augment_seed_(detail::mix64(options_.seed ^ 0x13198A2E03707344ull)),
        permutations_(n_, perm_seed_) {
    LABOR_CHECK(n_ > 0, "Loader: dataset: expected at least one item, got none");
    LABOR_CHECK(options_.batch_size >= 1, "Loader: batch_size: expected >= 1, got {}", options_.batch_size);
    LABOR_CHECK(options_.workers >= 0, "Loader: workers: expected >= 0, got {}", options_.workers);
    LABOR_CHECK(options_.prefetch >= 1, "Loader: prefetch: expected >= 1, got {}", options_.prefetch);
    LABOR_CHECK(options_.first_batch >= 0, "Loader: first_batch: expected >= 0, got {}", options_.first_batch);
    claimed_ = consumed_ = options_.first_batch;
    for (int c = 0; c < 3; ++c)
      LABOR_CHECK(options_.normalization.std[c] != 0.0f, "Loader: normalization std[{}]: expected non-zero, got 0", c);
    check_augment_options(options_.augment);
    threads_.reserve(static_cast<std::size_t>(options_.workers));
    for (int t = 0; t < options_.workers; ++t) threads_.emplace_back([this] { work(); });
  }

  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  /// Stops and joins the workers (a worker in the middle of a batch finishes it first).
  ~Loader() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    work_cv_.notify_all();
    ready_cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  /// The next batch. Rethrows the exception that preparing it raised (a labor::Error naming the
  /// file, for file datasets); after that, every call rethrows it again.
  Batch next() {
    if (threads_.empty()) {
      Batch b = make_batch(consumed_, permutations_);
      ++consumed_;
      return b;
    }
    std::unique_lock<std::mutex> lock(mutex_);
    ready_cv_.wait(lock, [&] { return ready_.count(consumed_) != 0 || (error_ && error_batch_ <= consumed_); });
    const auto it = ready_.find(consumed_);
    if (it == ready_.end()) std::rethrow_exception(error_);
    Batch b = std::move(it->second);
    ready_.erase(it);
    ++consumed_;
    lock.unlock();
    work_cv_.notify_all();
    return b;
  }

  /// Number of batches next() has returned.
  [[nodiscard]] std::int64_t batches_returned() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return consumed_ - options_.first_batch;
  }

  /// Batch `k` made directly on the calling thread (the batch next() returns as its k-th, from 0).
  [[nodiscard]] Batch batch(std::int64_t k) const {
    LABOR_CHECK(k >= 0, "Loader::batch: k: expected >= 0, got {}", k);
    detail::EpochPermutations perms(n_, perm_seed_);
    return make_batch(k, perms);
  }

 private:
  void work() {
    detail::EpochPermutations perms(n_, perm_seed_);
    for (;;) {
      std::int64_t k = 0;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        work_cv_.wait(lock, [&] { return stop_ || (!error_ && claimed_ < consumed_ + options_.prefetch); });
        if (stop_) return;
        k = claimed_++;
      }
      try {
        Batch b = make_batch(k, perms);
        std::lock_guard<std::mutex> lock(mutex_);
        ready_.emplace(k, std::move(b));
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_ || k < error_batch_) {
          error_ = std::current_exception();
          error_batch_ = k;
        }
      }
      ready_cv_.notify_all();
    }
  }

  Batch make_batch(std::int64_t k, detail::EpochPermutations& perms) const {
    const std::int64_t b = options_.batch_size;
    Batch out;
    out.indices.resize(static_cast<std::size_t>(b));
    std::int64_t h = 0, w = 0;
    for (std::int64_t j = 0; j < b; ++j) {
      const std::int64_t pos = k * b + j;
      const std::int64_t idx = perms.get(pos / n_)[static_cast<std::size_t>(pos % n_)];
      out.indices[static_cast<std::size_t>(j)] = idx;
      Tensor<float, cpu> image(dataset_.image(idx));
      Tensor<std::int32_t, cpu> label =
          !options_.labels ? Tensor<std::int32_t, cpu>::full(Shape{image.size(1), image.size(2)}, ignore_label)
          : labels_        ? labels_(idx)
                           : Tensor<std::int32_t, cpu>(dataset_.label(idx));
      LABOR_CHECK(image.rank() == 3 && image.size(0) == 3, "Loader: item {}: image: expected 3×H×W, got {}", idx,
                  image.shape());
      LABOR_CHECK(label.shape() == Shape({image.size(1), image.size(2)}),
                  "Loader: item {}: label map: expected {}×{} (the image's size), got {}", idx, image.size(1),
                  image.size(2), label.shape());
      const PhiloxStream stream{augment_seed_, static_cast<std::uint64_t>(pos) * 4};
      apply_augment(options_.augment, draw_augment(options_.augment, image.size(1), image.size(2), stream), image,
                    label);
      if (j == 0) {
        h = image.size(1);
        w = image.size(2);
        out.images = Tensor<float, cpu>::uninitialized(Shape{b, 3, h, w});
        out.labels = Tensor<std::int32_t, cpu>::uninitialized(Shape{b, h, w});
      }
      LABOR_CHECK(image.size(1) == h && image.size(2) == w,
                  "Loader: item {}: size {}×{} after augmentation, expected {}×{} like the batch's first item; set a "
                  "crop size or a fixed dataset size",
                  idx, image.size(1), image.size(2), h, w);
      detail::normalize_planes(image.data(), out.images.data() + j * 3 * h * w, h * w, options_.normalization);
      std::memcpy(out.labels.data() + j * h * w, label.data(), static_cast<std::size_t>(h * w) * sizeof(std::int32_t));
    }
    return out;
  }

  const S& dataset_;
  LoaderOptions options_;
  LabelSource labels_;
  std::int64_t n_;
  std::uint64_t perm_seed_, augment_seed_;
  detail::EpochPermutations permutations_;  // next() without workers

  mutable std::mutex mutex_;
  std::condition_variable work_cv_, ready_cv_;
  std::map<std::int64_t, Batch> ready_;
  std::int64_t claimed_ = 0, consumed_ = 0, error_batch_ = -1;
  std::exception_ptr error_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace labor::data
