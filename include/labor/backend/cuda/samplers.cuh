#pragma once
/// @file samplers.cuh
/// CUDA fast paths of SPL, PPL and the inconsistency mask (detail::FastSamplers<cuda>), selected by
/// the sampler headers for a Thrust CUDA policy on device maps. The maps are read once: one fused
/// sweep per batch of images computes, per pixel, M, ŷ, the validity and what the sampler needs
/// (SPL's cap key; PPL's p̄ and per-class prototype sums), and compacts M in pixel order with a
/// decoupled look-back (cub::TilePrefixCallbackOp), so that everything after it works on the
/// inconsistent pixels only: CUB radix sorts for the cap and for PPL's per-class order,
/// cub::DeviceSelect::Flagged to put the chosen pixels back in pixel order. Results go to page-locked,
/// device-mapped host memory (SPL without cap: written by the sweep itself), and the host waits once
/// per phase: SPL once, SPL with a cap twice when an image exceeds it, PPL twice (its class budget is
/// ppl_allocation on the host, between the sweep and the sort).
///
/// All work runs on labor::cuda_stream(), after the work already queued on the policy's stream.
/// The per-pixel math is the shared BlockStats / mean_prob / prototype_score code, and ties are
/// broken by stable sorts of candidates kept in pixel order, so the Queries equal the host's.

#include <cuda_runtime.h>

#include <algorithm>
#include <bit>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <numeric>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include <thrust/iterator/counting_iterator.h>
#include <thrust/system/cuda/execution_policy.h>
#include <cub/agent/single_pass_scan_operators.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_select.cuh>
#include <cuda/std/functional>
#include <cuda/std/tuple>

#include "labor/backend/cuda/context.cuh"
#include "labor/backend/cuda/error.cuh"
#include "labor/backend/cuda/for_each.cuh"
#include "labor/backend/cuda/memory.cuh"
#include "labor/core/for_each.hpp"
#include "labor/core/parallel.hpp"
#include "labor/core/tensor.hpp"
#include "labor/samplers/detail/common.hpp"
#include "labor/samplers/detail/passes.hpp"
#include "labor/samplers/detail/pixel_math.hpp"
#include "labor/samplers/inconsistency.hpp"
#include "labor/samplers/ppl.hpp"
#include "labor/samplers/query.hpp"
#include "labor/samplers/spl.hpp"

namespace labor::samplers::detail {

/// Threads of a sweep block; each handles one pixel per round.
inline constexpr int sweep_threads = 256;
/// Rounds of a sweep block: a tile is sweep_threads · sweep_rounds consecutive pixels of one image.
inline constexpr int sweep_rounds = 8;
/// Pixels of a sweep tile (the unit of the look-back compaction).
inline constexpr int sweep_tile = sweep_threads * sweep_rounds;
/// "No bad pixel" for the atomic minimum over bad pixel indices.
inline constexpr unsigned long long no_bad = ~0ull;
/// Most classes whose C×C prototype sums a sweep block accumulates in shared memory (more: global).
inline constexpr int shared_proto_classes = 48;
/// Taken points of one PPL class that the min-distance walk keeps in shared memory (more: global).
inline constexpr int walk_shared_points = 4096;
/// Largest H·W of the fast paths: in-image indices and tile offsets fit 32 bits.
inline constexpr std::int64_t max_image_pixels = INT32_MAX - sweep_tile;
/// Page-locked bytes one chunk of SPL images may use (6 bytes per pixel: index and class).
inline constexpr std::int64_t stage_budget = std::int64_t{64} << 20;
/// Device bytes one chunk of PPL images may use (mostly p̄: C doubles per pixel).
inline constexpr std::int64_t device_budget = std::int64_t{1} << 30;

using TileState = cub::ScanTileState<long long>;
using TilePrefix = cub::TilePrefixCallbackOp<long long, ::cuda::std::plus<>, TileState>;

/// Radix sort key of a candidate: `high` (image or image·C + class) first, then `low` (SPL: the
/// complement of the cap key, so larger keys come first; PPL: the bits of the score, a double >= 0,
/// whose order they keep). Sorted stably from pixel order, equal keys stay in pixel order.
struct SortKey {
  std::uint64_t low;
  std::uint32_t high;
  std::uint32_t unused;
};

/// Splits a SortKey into (high, low) for cub::DeviceRadixSort, most significant first.
struct SortKeyParts {
  __host__ __device__ ::cuda::std::tuple<std::uint32_t&, std::uint64_t&> operator()(SortKey& k) const {
    return {k.high, k.low};
  }
};

// ---------------------------------------------------------------- host-side plumbing

/// Makes labor's stream wait for the work queued so far on the policy's stream (nothing to do for
/// labor's own stream). The legacy default stream gets the event too: labor's stream follows it
/// implicitly only while it is labor's own blocking stream, not one handed over by set_cuda_stream.
template <class Policy>
void join_policy_stream(const Policy& policy) {
  Policy p = policy;
  const cudaStream_t theirs = thrust::cuda_cub::stream(p);
  if (theirs == cuda_stream()) return;
  cudaEvent_t done = nullptr;
  LABOR_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
  const cudaError_t recorded = cudaEventRecord(done, theirs);
  const cudaError_t waited = recorded == cudaSuccess ? cudaStreamWaitEvent(cuda_stream(), done, 0) : recorded;
  (void)cudaEventDestroy(done);
  LABOR_CUDA_CHECK(waited);
}

/// An event recorded on labor's stream, destroyed with the object.
class StreamMark {
 public:
  StreamMark() {
    LABOR_CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming));
    const cudaError_t status = cudaEventRecord(event_, cuda_stream());
    if (status != cudaSuccess) {
      (void)cudaEventDestroy(event_);
      LABOR_CUDA_CHECK(status);
    }
  }
  ~StreamMark() { (void)cudaEventDestroy(event_); }
  StreamMark(const StreamMark&) = delete;
  StreamMark& operator=(const StreamMark&) = delete;
  /// Waits until the work queued before the mark is done.
  void wait() const { LABOR_CUDA_CHECK(cudaEventSynchronize(event_)); }

 private:
  cudaEvent_t event_ = nullptr;
};

/// Page-locked host memory mapped into the device's address space: the fast paths' kernels write
/// their results there (no copy to wait for), and small uploads are staged there. One per process,
/// grown on demand (never shrunk) and used by one selection at a time. Growing frees the old block
/// with cudaFreeHost, which waits for the device: it only happens while no kernel can use it.
class PinnedStage {
 public:
  static PinnedStage& instance() {
    static PinnedStage* stage = new PinnedStage;  // never destroyed: the driver may be gone at exit
    return *stage;
  }

  /// Locks the stage for one selection and makes it hold at least `bytes`.
  [[nodiscard]] std::unique_lock<std::mutex> acquire(std::size_t bytes) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (bytes > bytes_) grow(std::max({bytes, bytes_ + bytes_ / 2, std::size_t{1} << 20}));
    return lock;
  }
  /// The stage as the host sees it.
  [[nodiscard]] std::byte* host() const { return host_; }
  /// The same memory as kernels address it.
  [[nodiscard]] std::byte* device() const { return device_; }

 private:
  void grow(std::size_t bytes) {
    if (host_ != nullptr) LABOR_CUDA_CHECK(cudaFreeHost(host_));
    host_ = device_ = nullptr;
    bytes_ = 0;
    void* h = nullptr;
    LABOR_CUDA_CHECK(cudaHostAlloc(&h, bytes, cudaHostAllocMapped | cudaHostAllocPortable));
    void* d = nullptr;
    const cudaError_t mapped = cudaHostGetDevicePointer(&d, h, 0);
    if (mapped != cudaSuccess) {
      (void)cudaFreeHost(h);
      LABOR_CUDA_CHECK(mapped);
    }
    host_ = static_cast<std::byte*>(h);
    device_ = static_cast<std::byte*>(d);
    bytes_ = bytes;
  }

  std::mutex mutex_;
  std::byte* host_ = nullptr;
  std::byte* device_ = nullptr;
  std::size_t bytes_ = 0;
};

/// Guards a chunk that holds the PinnedStage lock (declare it after the lock): when the chunk is left
/// by an exception, waits for labor's stream before the lock is released, so that no copy or kernel
/// the chunk queued still reads or writes the stage while the next selection rewrites or frees it.
class WaitOnUnwind {
 public:
  WaitOnUnwind() = default;
  ~WaitOnUnwind() {
    if (std::uncaught_exceptions() > exceptions_) (void)cudaStreamSynchronize(cuda_stream());
  }
  WaitOnUnwind(const WaitOnUnwind&) = delete;
  WaitOnUnwind& operator=(const WaitOnUnwind&) = delete;

 private:
  int exceptions_ = std::uncaught_exceptions();
};

/// Offsets of 256-byte aligned pieces of one buffer, planned before it is allocated.
struct Layout {
  std::size_t bytes = 0;
  /// Reserves `count` elements of T; returns their offset.
  template <class T>
  std::size_t add(std::int64_t count) {
    const std::size_t at = (bytes + 255) / 256 * 256;
    bytes = at + sizeof(T) * static_cast<std::size_t>(count > 0 ? count : 0);
    return at;
  }
};

/// The piece of `base` at `offset` as T.
template <class T>
T* piece(std::byte* base, std::size_t offset) {
  return reinterpret_cast<T*>(base + offset);
}

/// One device buffer for a Layout (stream-ordered pool memory).
inline Tensor<std::uint8_t, cuda> allocate(const Layout& layout) {
  return Tensor<std::uint8_t, cuda>::uninitialized(
      Shape{static_cast<std::int64_t>(std::max<std::size_t>(layout.bytes, 1))});
}

/// Start of a device buffer as bytes.
inline std::byte* bytes_of(Tensor<std::uint8_t, cuda>& t) {
  return reinterpret_cast<std::byte*>(t.data());
}

/// Streaming multiprocessors of the current device (for grid-stride kernels sized to the device).
inline int multiprocessors() {
  int device = 0, count = 0;
  LABOR_CUDA_CHECK(cudaGetDevice(&device));
  LABOR_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
  return count > 0 ? count : 1;
}

/// Blocks of `threads` for a grid-stride loop over at most `n` items: no more than a few per
/// multiprocessor (the loop covers the rest), at least one.
inline unsigned stride_blocks(std::int64_t n, int threads = 256) {
  const std::int64_t want = (n + threads - 1) / threads, most = std::int64_t{8} * multiprocessors();
  return static_cast<unsigned>(std::clamp<std::int64_t>(want, 1, most));
}

/// A run of consecutive images swept by one launch (images are cut into chunks so that one
/// selection's page-locked and device memory stay bounded).
struct Chunk {
  std::int64_t first_image = 0, images = 0;
  const float* p1 = nullptr;  ///< the chunk's first image
  const float* p2 = nullptr;
  int tiles_per_image = 0, tiles = 0;
  /// images · H·W: the most inconsistent pixels the chunk can have.
  [[nodiscard]] std::int64_t capacity(const Geometry& g) const { return images * g.hw; }
};

/// Cuts the images of `g` into chunks of at most `budget` bytes at `bytes_per_pixel` (at least one
/// image each; `override_pixels` > 0 caps a chunk's pixels, for tests), with tile, row and index
/// counts that fit 32 bits.
inline std::vector<Chunk> plan_chunks(const Geometry& g, const MapPair& in, std::int64_t bytes_per_pixel,
                                      std::int64_t budget, std::int64_t override_pixels) {
  const std::int64_t tpi = (g.hw + sweep_tile - 1) / sweep_tile, padded = tpi * sweep_tile;
  std::int64_t per = budget / std::max<std::int64_t>(1, padded * bytes_per_pixel);
  per = std::min({per, std::int64_t{INT32_MAX} / padded, std::int64_t{INT32_MAX} / std::max<std::int64_t>(1, g.c)});
  if (override_pixels > 0) per = std::min(per, override_pixels / g.hw);
  per = std::max<std::int64_t>(per, 1);
  std::vector<Chunk> chunks;
  for (std::int64_t n0 = 0; n0 < g.n; n0 += per) {
    Chunk c;
    c.first_image = n0;
    c.images = std::min(per, g.n - n0);
    c.p1 = in.p1 + n0 * in.chw;
    c.p2 = in.p2 + n0 * in.chw;
    c.tiles_per_image = static_cast<int>(tpi);
    c.tiles = static_cast<int>(tpi * c.images);
    chunks.push_back(c);
  }
  return chunks;
}

/// Copies the results of a chunk's images from the stage into their ImageQuery: image n gets
/// entries [Σ_{m<n} counts[m], Σ_{m≤n} counts[m]) of `pixel`, `cls` and (if given) `score`. The
/// vectors are filled in parallel (one task per vector: converting the stage's narrow types while
/// writing the Query's is the host's share of a selection).
inline void unpack_images(const std::uint32_t* pixel, const std::uint16_t* cls, const float* score,
                          const std::vector<std::int64_t>& counts, std::int64_t first_image, Query& q) {
  std::vector<std::size_t> start(counts.size() + 1, 0);
  for (std::size_t i = 0; i < counts.size(); ++i) start[i + 1] = start[i] + static_cast<std::size_t>(counts[i]);
  const std::int64_t parts = score != nullptr ? 3 : 2;
  for (std::size_t i = 0; i < counts.size(); ++i) {  // allocate here: nothing may throw in the parallel loop
    auto& im = q.images[static_cast<std::size_t>(first_image) + i];
    const std::size_t n = start[i + 1] - start[i];
    im.pixels.reserve(n);
    im.classes.reserve(n);
    if (score != nullptr) im.scores.reserve(n);
  }
  parallel_for(
      0, static_cast<std::int64_t>(counts.size()) * parts,
      [&](std::int64_t task) {
        const auto i = static_cast<std::size_t>(task / parts);
        auto& im = q.images[static_cast<std::size_t>(first_image) + i];
        const std::size_t s = start[i], e = start[i + 1];
        switch (task % parts) {
          case 0:
            im.pixels.assign(pixel + s, pixel + e);
            break;
          case 1:
            im.classes.assign(cls + s, cls + e);
            break;
          default:
            im.scores.assign(score + s, score + e);
            break;
        }
      },
      1);
}

// ---------------------------------------------------------------- the fused sweep

/// What a sweep computes and writes besides the compaction of M.
enum class Sweep {
  spl,      ///< index and ŷ of every pixel of M
  spl_cap,  ///< and the cap key, as radix sort pairs
  ppl,      ///< and p̄ (tile slots), the row image·C + ŷ, the prototype sums and class sizes
};

/// Arguments of sweep_kernel. Pointers by Sweep kind; `e` is a pixel's position in the chunk's
/// compaction of M (image by image, pixel order within an image).
struct SweepArgs {
  const float* p1 = nullptr;
  const float* p2 = nullptr;
  std::int64_t hw = 0, chw = 0;
  int channels = 0, tiles_per_image = 0;
  TileState tile_state;
  unsigned long long* bad = nullptr;        ///< lowest chunk index n·hw + i of a pixel that is no probability vector
  long long* image_end = nullptr;           ///< [n]: end of image n's pixels in the compaction
  std::uint32_t* pixel = nullptr;           ///< [e]: in-image index y·W + x
  std::uint16_t* cls = nullptr;             ///< [e]: ŷ
  std::uint32_t* mirror_pixel = nullptr;    ///< spl_cap: second copy of pixel (mapped host memory)
  std::uint16_t* mirror_class = nullptr;    ///< spl_cap: second copy of cls
  SortKey* key = nullptr;                   ///< spl_cap: [e] {image, ~l1_key}
  std::uint32_t* value = nullptr;           ///< spl_cap: [e] e
  std::uint32_t* row = nullptr;             ///< ppl: [e] image·C + ŷ
  std::uint32_t* slot = nullptr;            ///< ppl: [e] tile·sweep_tile + position in the tile: p̄ at pbar[slot·C]
  double* pbar = nullptr;                   ///< ppl: [slot·C + c] p̄_c
  unsigned long long* proto_sum = nullptr;  ///< ppl: [(image·C + k)·C + c] Σ to_fixed(p̄_c) over D(k)
  unsigned long long* proto_count = nullptr;  ///< ppl: [image·C + k] |D(k)|
  bool proto_in_shared = false;               ///< ppl: accumulate per block in shared memory first
};

/// The arguments every sweep of chunk `ch` shares: the maps, their geometry and the tiling.
inline SweepArgs chunk_sweep_args(const Chunk& ch, const Geometry& g, const MapPair& in) {
  SweepArgs a;
  a.p1 = ch.p1;
  a.p2 = ch.p2;
  a.hw = g.hw;
  a.chw = in.chw;
  a.channels = static_cast<int>(g.c);
  a.tiles_per_image = ch.tiles_per_image;
  return a;
}

/// Bytes of the look-back tile states of a sweep over `tiles` tiles.
inline std::size_t tile_state_bytes(int tiles) {
  std::size_t bytes = 0;
  LABOR_CUDA_CHECK(TileState::AllocationSize(tiles, bytes));
  return bytes;
}

/// Sets up a sweep: the look-back tile states, `bad` = no_bad, `zero[0, zero_count)` = 0.
template <class T = unsigned long long>
__global__ void sweep_init_kernel(TileState tile_state, int tiles, unsigned long long* bad, T* zero,
                                  std::int64_t zero_count) {
  TileState state = tile_state;
  state.InitializeStatus(tiles);
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  if (first == 0) *bad = no_bad;
  for (std::int64_t i = first; i < zero_count; i += stride) zero[i] = 0;
}

/// PPL, one inconsistent pixel at p1, p2 (channel stride hw) with ŷ = k: p̄ to `out[0, C)` and its
/// fixed-point values and one count to the class's prototype sums.
__device__ inline void add_to_prototype(const float* p1, const float* p2, std::int64_t hw, int channels, int k,
                                        double* out, unsigned long long* sums, unsigned long long* counts) {
  unsigned long long* acc = sums + static_cast<std::int64_t>(k) * channels;
  LABOR_SAMPLERS_DEVICE_UNROLL
  for (int c = 0; c < channels; ++c) {
    const double v = mean_prob(p1[c * hw], p2[c * hw]);
    out[c] = v;
    atomicAdd(acc + c, static_cast<unsigned long long>(to_fixed(v, proto_scale)));
  }
  atomicAdd(counts + k, 1ull);
}

/// The fused sweep: block b handles tile b (sweep_tile consecutive pixels of one image, one pixel
/// per thread per round). Per pixel, BlockStats<1> gives M, ŷ, validity (and the cap key); the
/// pixels of M are compacted into shared memory in pixel order by a block scan per round, the
/// tile's count goes through the decoupled look-back, and the tile's pixels are written to their
/// chunk positions in coalesced runs. Needs sweep_threads threads per block and, for ppl with
/// proto_in_shared, (C·C + C)·8 bytes of dynamic shared memory.
template <Sweep Kind>
__global__ void __launch_bounds__(sweep_threads) sweep_kernel(SweepArgs a) {
  constexpr bool capped = Kind == Sweep::spl_cap;
  constexpr bool ppl = Kind == Sweep::ppl;
  using Scan = cub::BlockScan<int, sweep_threads>;
  __shared__ union {
    typename Scan::TempStorage scan;
    typename TilePrefix::TempStorage prefix;
  } temp;
  __shared__ std::uint32_t s_pixel[sweep_tile];
  __shared__ std::uint16_t s_class[sweep_tile];
  __shared__ std::uint64_t s_key[capped ? sweep_tile : 1];
  __shared__ unsigned long long s_bad;
  __shared__ long long s_base;
  extern __shared__ unsigned long long sweep_proto[];

  const int tile = static_cast<int>(blockIdx.x);
  const int image = tile / a.tiles_per_image;
  const std::int64_t first = static_cast<std::int64_t>(tile - image * a.tiles_per_image) * sweep_tile;
  const std::int64_t rest = a.hw - first;
  const int len = rest < sweep_tile ? static_cast<int>(rest) : sweep_tile;
  const int channels = a.channels;
  const float* p1 = a.p1 + image * a.chw + first;
  const float* p2 = a.p2 + image * a.chw + first;

  unsigned long long* sums = nullptr;
  unsigned long long* counts = nullptr;
  if constexpr (ppl) {
    if (a.proto_in_shared) {
      sums = sweep_proto;
      counts = sweep_proto + channels * channels;
      for (int k = static_cast<int>(threadIdx.x); k < channels * (channels + 1); k += sweep_threads) sweep_proto[k] = 0;
    } else {
      sums = a.proto_sum + static_cast<std::int64_t>(image) * channels * channels;
      counts = a.proto_count + static_cast<std::int64_t>(image) * channels;
    }
  }
  if (threadIdx.x == 0) s_bad = no_bad;
  __syncthreads();

  int count = 0;  // pixels of M in the tile so far
  for (int r = 0; r < sweep_rounds; ++r) {
    const int j = r * sweep_threads + static_cast<int>(threadIdx.x);
    int flag = 0, yhat = 0;
    std::uint64_t key = 0;
    if (j < len) {
      BlockStats<1, capped ? stat_l1 : stat_none> s;
      s.compute(p1 + j, p2 + j, a.hw, channels, 1);
      if (s.bad[0]) atomicMin(&s_bad, static_cast<unsigned long long>(image * a.hw + first + j));
      flag = s.a1[0] != s.a2[0] ? 1 : 0;
      yhat = s.yhat[0];
      if constexpr (capped) key = static_cast<std::uint64_t>(s.l1[0]);
    }
    int pos = 0, total = 0;
    Scan(temp.scan).ExclusiveSum(flag, pos, total);
    if (flag != 0) {
      const int at = count + pos;
      s_pixel[at] = static_cast<std::uint32_t>(first + j);
      s_class[at] = static_cast<std::uint16_t>(yhat);
      if constexpr (capped) s_key[at] = key;
      if constexpr (ppl)
        add_to_prototype(p1 + j, p2 + j, a.hw, channels, yhat,
                         a.pbar + (static_cast<std::int64_t>(tile) * sweep_tile + at) * channels, sums, counts);
    }
    count += total;
    __syncthreads();  // the scan's storage is reused; the last round also publishes s_bad and shared sums
  }

  if constexpr (ppl) {
    if (a.proto_in_shared) {
      unsigned long long* gsum = a.proto_sum + static_cast<std::int64_t>(image) * channels * channels;
      unsigned long long* gcount = a.proto_count + static_cast<std::int64_t>(image) * channels;
      const int cc = channels * channels;
      for (int k = static_cast<int>(threadIdx.x); k < cc + channels; k += sweep_threads) {
        const unsigned long long v = sweep_proto[k];
        if (v != 0) atomicAdd(k < cc ? gsum + k : gcount + (k - cc), v);
      }
    }
  }
  if (threadIdx.x == 0 && s_bad != no_bad) atomicMin(a.bad, s_bad);

  // The tile's offset in the chunk's compaction: decoupled look-back over the tiles before it.
  TileState tiles = a.tile_state;
  if (tile == 0) {
    if (threadIdx.x == 0) {
      tiles.SetInclusive(0, static_cast<long long>(count));
      s_base = 0;
    }
  } else if (threadIdx.x < 32) {
    TilePrefix prefix(tiles, temp.prefix, ::cuda::std::plus<>{}, tile);
    const long long exclusive = prefix(static_cast<long long>(count));
    if (threadIdx.x == 0) s_base = exclusive;
  }
  __syncthreads();
  const long long base = s_base;
  if (threadIdx.x == 0 && (tile + 1) % a.tiles_per_image == 0) a.image_end[image] = base + count;

  for (int j = static_cast<int>(threadIdx.x); j < count; j += sweep_threads) {
    const long long e = base + j;
    const std::uint32_t px = s_pixel[j];
    const std::uint16_t k = s_class[j];
    a.pixel[e] = px;
    a.cls[e] = k;
    if constexpr (capped) {
      if (a.mirror_pixel != nullptr) {
        a.mirror_pixel[e] = px;
        a.mirror_class[e] = k;
      }
      a.key[e] = SortKey{~s_key[j], static_cast<std::uint32_t>(image), 0u};
      a.value[e] = static_cast<std::uint32_t>(e);
    }
    if constexpr (ppl) {
      a.row[e] = static_cast<std::uint32_t>(image) * static_cast<std::uint32_t>(channels) + k;
      a.slot[e] = static_cast<std::uint32_t>(static_cast<std::int64_t>(tile) * sweep_tile + j);
    }
  }
}

/// The counters block of a sweep, one device array of unsigned 64-bit words:
/// [0] bad, [1, 1 + images) image_end, then (PPL) images·C class sizes and images·C·C prototype sums.
struct Counters {
  std::int64_t images = 0, rows = 0;  ///< rows = images·C for PPL, 0 otherwise
  std::int64_t channels = 0;
  [[nodiscard]] std::int64_t header() const { return 1 + images + rows; }  ///< words the host reads
  [[nodiscard]] std::int64_t words() const { return header() + rows * channels; }
};

/// Launches the init and sweep kernels of `Kind` for chunk `ch`; `counters` is laid out as Counters.
/// Sets the tile states, `bad`, `image_end` and (ppl) the prototype pointers of `a` from them.
template <Sweep Kind>
void launch_sweep(SweepArgs& a, const Chunk& ch, const Counters& layout, unsigned long long* counters,
                  void* tile_storage, std::size_t tile_bytes) {
  LABOR_CUDA_CHECK(a.tile_state.Init(ch.tiles, tile_storage, tile_bytes));
  a.bad = counters;
  a.image_end = reinterpret_cast<long long*>(counters + 1);
  if constexpr (Kind == Sweep::ppl) {
    a.proto_count = counters + 1 + layout.images;
    a.proto_sum = counters + layout.header();
  }
  const std::int64_t zero = layout.words() - 1;
  const std::int64_t init_blocks =
      std::max<std::int64_t>((ch.tiles + 255) / 256, std::min<std::int64_t>((zero + 255) / 256, 1024));
  sweep_init_kernel<<<static_cast<unsigned>(init_blocks), 256, 0, cuda_stream()>>>(a.tile_state, ch.tiles, counters,
                                                                                   counters + 1, zero);
  cuda_kernels::check_launch("samplers: sweep init kernel");
  std::size_t shared = 0;
  if (Kind == Sweep::ppl && a.proto_in_shared)
    shared = static_cast<std::size_t>(a.channels) * (a.channels + 1) * sizeof(unsigned long long);
  sweep_kernel<Kind><<<static_cast<unsigned>(ch.tiles), sweep_threads, shared, cuda_stream()>>>(a);
  cuda_kernels::check_launch("samplers: sweep kernel");
}

/// What the host learns from a sweep's counters.
struct SweepHeader {
  unsigned long long bad = no_bad;
  std::vector<std::int64_t> counts;  ///< inconsistent pixels per image
  std::vector<std::int64_t> sizes;   ///< PPL: |D(k)| per image·C + k
};

/// Reads the counters header (copied to the stage at `words`) after the host waited for it.
inline SweepHeader read_header(const unsigned long long* words, const Counters& layout) {
  SweepHeader h;
  h.bad = words[0];
  h.counts.resize(static_cast<std::size_t>(layout.images));
  std::int64_t before = 0;
  for (std::int64_t n = 0; n < layout.images; ++n) {
    const auto end = static_cast<std::int64_t>(words[1 + n]);
    h.counts[static_cast<std::size_t>(n)] = end - before;
    before = end;
  }
  h.sizes.assign(words + 1 + layout.images, words + layout.header());
  return h;
}

/// Throws the labor::Error of the first bad pixel of chunk `ch` (chunk index `bad`), if any.
template <class Policy>
void check_sweep(const Policy& policy, const Geometry& g, const MapPair& in, const Chunk& ch, unsigned long long bad,
                 std::string_view who) {
  if (bad != no_bad)
    report_bad_pixel<cuda>(policy, g, in, ch.first_image * g.hw + static_cast<std::int64_t>(bad), who, "p1", "p2");
}

// ---------------------------------------------------------------- after the sweep

/// Sorts `n` (key, value) pairs stably by (high, low) with `high_bits` significant bits of `high`,
/// using `alt_key`, `alt_value` and `temp` (sort_bytes of it) as scratch. Returns which buffers hold
/// the result.
inline std::pair<SortKey*, std::uint32_t*> sort_pairs(SortKey* key, std::uint32_t* value, SortKey* alt_key,
                                                      std::uint32_t* alt_value, std::int64_t n, int high_bits,
                                                      void* temp, std::size_t temp_bytes) {
  cub::DoubleBuffer<SortKey> keys(key, alt_key);
  cub::DoubleBuffer<std::uint32_t> values(value, alt_value);
  LABOR_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys, values, static_cast<int>(n), SortKeyParts{},
                                                   0, 64 + high_bits, cuda_stream()));
  return {keys.Current(), values.Current()};
}

/// Temporary bytes of sort_pairs for `n` pairs.
inline std::size_t sort_bytes(std::int64_t n, int high_bits) {
  cub::DoubleBuffer<SortKey> keys(nullptr, nullptr);
  cub::DoubleBuffer<std::uint32_t> values(nullptr, nullptr);
  std::size_t bytes = 0;
  LABOR_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, bytes, keys, values, static_cast<int>(n), SortKeyParts{}, 0,
                                                   64 + high_bits, cuda_stream()));
  return bytes;
}

/// The positions e < n whose flag is set, ascending, to `selected`, their number to `*selected_count`.
inline void select_flagged(const std::uint8_t* flag, std::int64_t n, std::uint32_t* selected, long long* selected_count,
                           void* temp, std::size_t temp_bytes) {
  LABOR_CUDA_CHECK(cub::DeviceSelect::Flagged(temp, temp_bytes, thrust::counting_iterator<std::uint32_t>(0), flag,
                                              selected, selected_count, static_cast<int>(n), cuda_stream()));
}

/// Temporary bytes of select_flagged for `n` positions.
inline std::size_t select_bytes(std::int64_t n) {
  std::size_t bytes = 0;
  LABOR_CUDA_CHECK(cub::DeviceSelect::Flagged(
      nullptr, bytes, thrust::counting_iterator<std::uint32_t>(0), static_cast<const std::uint8_t*>(nullptr),
      static_cast<std::uint32_t*>(nullptr), static_cast<long long*>(nullptr), static_cast<int>(n), cuda_stream()));
  return bytes;
}

/// Copies the selected entries (selected[j] = e, j < *count) of pixel, cls and (if given) score to
/// the stage's out_* arrays at j.
template <class T = float>
__global__ void pack_kernel(const std::uint32_t* selected, const long long* count, const std::uint32_t* pixel,
                            const std::uint16_t* cls, const T* score, std::uint32_t* out_pixel,
                            std::uint16_t* out_class, T* out_score) {
  const long long n = *count;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long j = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; j < n; j += stride) {
    const std::uint32_t e = selected[j];
    out_pixel[j] = pixel[e];
    out_class[j] = cls[e];
    if (score != nullptr) out_score[j] = score[e];
  }
}

/// SPL cap, after sorting by (image, ~key): flag[e] = 1 for the first min(count_n, limit) entries
/// of each image's run (the sorted runs are the images' compaction ranges), 0 for the others.
template <class T = SortKey>
__global__ void cap_flag_kernel(const T* key, const std::uint32_t* value, long long n, const long long* image_end,
                                long long limit, std::uint8_t* flag) {
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long pos = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; pos < n; pos += stride) {
    const std::uint32_t image = key[pos].high;
    const long long start = image == 0 ? 0 : image_end[image - 1];
    const long long count = image_end[image] - start;
    flag[value[pos]] = pos - start < (count < limit ? count : limit) ? 1 : 0;
  }
}

/// PPL: key[e] = {row[e], bits of ‖p̄ − μ_row‖²} (prototype_score), value[e] = e, for e below the
/// chunk's compaction size *total.
template <class T = SortKey>
__global__ void score_kernel(const long long* total, const std::uint32_t* row, const std::uint32_t* slot,
                             const double* pbar, const double* mu, int channels, T* key, std::uint32_t* value) {
  const long long n = *total;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long e = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const std::uint32_t r = row[e];
    const double s = prototype_score(pbar + static_cast<std::int64_t>(slot[e]) * channels,
                                     mu + static_cast<std::int64_t>(r) * channels, channels);
    key[e] = T{static_cast<std::uint64_t>(__double_as_longlong(s)), r, 0u};
    value[e] = static_cast<std::uint32_t>(e);
  }
}

/// PPL without min_distance, after sorting by (row, score): the first want[row] entries of each
/// row's run [row_start[row], …) are chosen: flag[e] = 1 and score[e] = the score as float; flag 0
/// for the others.
template <class T = SortKey>
__global__ void take_lowest_kernel(const T* key, const std::uint32_t* value, long long n, const long long* row_start,
                                   const long long* want, std::uint8_t* flag, float* score) {
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long pos = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; pos < n; pos += stride) {
    const T k = key[pos];
    const std::uint32_t e = value[pos];
    const bool take = pos - row_start[k.high] < want[k.high];
    flag[e] = take ? 1 : 0;
    if (take) score[e] = static_cast<float>(__longlong_as_double(static_cast<long long>(k.low)));
  }
}

/// One class of one image for the min-distance walk: its sorted run and budget.
struct WalkRow {
  long long start = 0;  ///< first position of the class's run in the sorted candidates
  long long size = 0;   ///< |D(k)|
  long long want = 0;   ///< points allocated to the class
  long long spill = 0;  ///< the class's part of the taken-points spill array (want entries)
};

/// PPL with min_distance > 1: one warp per class walks its candidates in (score, pixel) order and
/// takes one unless it is chebyshev_close to a point already taken for the class, until `want` are
/// taken or the run ends (the rule of ClassWalk on the host). Chosen: flag[e] = 1 (flag must be
/// zeroed before), score[e]; taken_count[b] = points taken for walk row b. The taken points sit in
/// `shared_points` entries of dynamic shared memory, further ones in `spill`.
template <class T = SortKey>
__global__ void __launch_bounds__(32)
    walk_kernel(const T* key, const std::uint32_t* value, const std::uint32_t* pixel, const WalkRow* rows,
                std::int64_t width, double min_distance, int shared_points, std::uint32_t* spill, std::uint8_t* flag,
                float* score, long long* taken_count) {
  extern __shared__ std::uint32_t walk_taken[];
  const WalkRow w = rows[blockIdx.x];
  const int lane = static_cast<int>(threadIdx.x);
  const long long end = w.start + w.size;
  long long taken = 0;
  for (long long first = w.start; first < end && taken < w.want; first += 32) {
    // Each lane loads one candidate of the next 32; they are then considered one after the other.
    const long long pos = first + lane;
    std::uint32_t e = 0, i = 0;
    if (pos < end) {
      e = value[pos];
      i = pixel[e];
    }
    const int batch = end - first < 32 ? static_cast<int>(end - first) : 32;
    for (int b = 0; b < batch && taken < w.want; ++b) {
      const std::uint32_t cand = __shfl_sync(0xffffffffu, i, b);
      bool close = false;
      for (long long t = lane; t < taken; t += 32) {
        const std::uint32_t o = t < shared_points ? walk_taken[t] : spill[w.spill + t];
        if (chebyshev_close(cand, o, width, min_distance)) close = true;
      }
      if (!__any_sync(0xffffffffu, close)) {
        if (lane == b) {
          flag[e] = 1;
          score[e] = static_cast<float>(__longlong_as_double(static_cast<long long>(key[pos].low)));
        }
        if (lane == 0) {
          if (taken < shared_points) {
            walk_taken[taken] = cand;
          } else {
            spill[w.spill + taken] = cand;
          }
        }
        ++taken;
        __syncwarp();
      }
    }
  }
  if (lane == 0) taken_count[blockIdx.x] = taken;
}

/// inconsistency_mask: mask[g] = M at chunk pixel g = n·hw + i; the lowest bad pixel to *bad.
template <class T = std::uint8_t>
__global__ void mask_kernel(const float* p1, const float* p2, std::int64_t hw, std::int64_t chw, int channels,
                            std::int64_t total, T* mask, unsigned long long* bad) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t g = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; g < total; g += stride) {
    const std::int64_t n = g / hw, i = g - n * hw;
    BlockStats<1, stat_none> s;
    s.compute(p1 + n * chw + i, p2 + n * chw + i, hw, channels, 1);
    mask[g] = s.a1[0] != s.a2[0] ? 1 : 0;
    if (s.bad[0]) atomicMin(bad, static_cast<unsigned long long>(g));
  }
}

// ---------------------------------------------------------------- SPL

/// SPL on one chunk: the sweep writes M's pixels straight to the stage; with a cap, images over
/// ⌊cap·H·W⌋ (`limit`) are then cut to their `limit` largest keys by a radix sort by (image, ~key)
/// and a flagged selection back to pixel order.
template <class Policy>
void spl_chunk(const Policy& policy, const Geometry& g, const MapPair& in, const Chunk& ch, bool capped,
               std::int64_t limit, Query& q) {
  const std::int64_t capacity = ch.capacity(g);
  const Counters counters{ch.images, 0, g.c};
  Layout stage;
  const auto st_header = stage.add<unsigned long long>(counters.header());
  const auto st_pixel = stage.add<std::uint32_t>(capacity);
  const auto st_class = stage.add<std::uint16_t>(capacity);
  auto& pinned = PinnedStage::instance();
  const auto lock = pinned.acquire(stage.bytes);
  const WaitOnUnwind settle;

  const std::size_t tile_bytes = tile_state_bytes(ch.tiles);
  Layout dev;
  const auto d_tiles = dev.add<std::byte>(static_cast<std::int64_t>(tile_bytes));
  const auto d_counters = dev.add<unsigned long long>(counters.words());
  const auto d_pixel = dev.add<std::uint32_t>(capped ? capacity : 0);
  const auto d_class = dev.add<std::uint16_t>(capped ? capacity : 0);
  const auto d_key = dev.add<SortKey>(capped ? capacity : 0);
  const auto d_value = dev.add<std::uint32_t>(capped ? capacity : 0);
  auto ws = allocate(dev);
  std::byte* base = bytes_of(ws);

  SweepArgs a = chunk_sweep_args(ch, g, in);
  auto* stage_pixel = piece<std::uint32_t>(pinned.device(), st_pixel);
  auto* stage_class = piece<std::uint16_t>(pinned.device(), st_class);
  auto* words = piece<unsigned long long>(base, d_counters);
  if (capped) {
    a.pixel = piece<std::uint32_t>(base, d_pixel);
    a.cls = piece<std::uint16_t>(base, d_class);
    a.mirror_pixel = stage_pixel;
    a.mirror_class = stage_class;
    a.key = piece<SortKey>(base, d_key);
    a.value = piece<std::uint32_t>(base, d_value);
    launch_sweep<Sweep::spl_cap>(a, ch, counters, words, base + d_tiles, tile_bytes);
  } else {
    a.pixel = stage_pixel;
    a.cls = stage_class;
    launch_sweep<Sweep::spl>(a, ch, counters, words, base + d_tiles, tile_bytes);
  }
  auto* header = piece<unsigned long long>(pinned.host(), st_header);
  LABOR_CUDA_CHECK(cudaMemcpyAsync(header, words,
                                   static_cast<std::size_t>(counters.header()) * sizeof(unsigned long long),
                                   cudaMemcpyDeviceToHost, cuda_stream()));
  LABOR_CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
  const auto h = read_header(header, counters);
  check_sweep(policy, g, in, ch, h.bad, "spl");

  const std::uint32_t* host_pixel = piece<std::uint32_t>(pinned.host(), st_pixel);
  const std::uint16_t* host_class = piece<std::uint16_t>(pinned.host(), st_class);
  std::int64_t total = 0, largest = 0;
  for (auto c : h.counts) {
    total += c;
    largest = std::max(largest, c);
  }
  if (!capped || largest <= limit) return unpack_images(host_pixel, host_class, nullptr, h.counts, ch.first_image, q);
  if (limit == 0) return;  // every image keeps nothing

  // Keep the `limit` largest keys of each image over the cap (all pixels of the others).
  const int high_bits = static_cast<int>(std::bit_width(static_cast<std::uint64_t>(ch.images - 1)));
  const std::size_t sort_temp = sort_bytes(total, high_bits), select_temp = select_bytes(total);
  Layout sel;
  const auto s_key = sel.add<SortKey>(total);
  const auto s_value = sel.add<std::uint32_t>(total);
  const auto s_flag = sel.add<std::uint8_t>(total);
  const auto s_selected = sel.add<std::uint32_t>(total);
  const auto s_count = sel.add<long long>(1);
  const auto s_sort = sel.add<std::byte>(static_cast<std::int64_t>(sort_temp));
  const auto s_select = sel.add<std::byte>(static_cast<std::int64_t>(select_temp));
  auto ws2 = allocate(sel);
  std::byte* b2 = bytes_of(ws2);
  const auto [key, value] = sort_pairs(a.key, a.value, piece<SortKey>(b2, s_key), piece<std::uint32_t>(b2, s_value),
                                       total, high_bits, b2 + s_sort, sort_temp);
  auto* flag = piece<std::uint8_t>(b2, s_flag);
  cap_flag_kernel<<<stride_blocks(total), 256, 0, cuda_stream()>>>(key, value, total, a.image_end, limit, flag);
  cuda_kernels::check_launch("spl: cap flag kernel");
  auto* selected = piece<std::uint32_t>(b2, s_selected);
  auto* selected_count = piece<long long>(b2, s_count);
  select_flagged(flag, total, selected, selected_count, b2 + s_select, select_temp);
  std::vector<std::int64_t> kept(h.counts.size());
  std::int64_t kept_total = 0;
  for (std::size_t n = 0; n < kept.size(); ++n) kept_total += kept[n] = std::min(h.counts[n], limit);
  pack_kernel<float><<<stride_blocks(kept_total), 256, 0, cuda_stream()>>>(selected, selected_count, a.pixel, a.cls,
                                                                           nullptr, stage_pixel, stage_class, nullptr);
  cuda_kernels::check_launch("spl: pack kernel");
  LABOR_CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
  unpack_images(host_pixel, host_class, nullptr, kept, ch.first_image, q);
}

// ---------------------------------------------------------------- PPL

/// The host's part of PPL between the two phases: the points of every (image, class).
struct PointPlan {
  std::vector<std::int64_t> chosen;      ///< points per image (Σ want; the walk may keep fewer)
  std::vector<std::int64_t> walk_image;  ///< image of each walked class (min_distance only)
  std::int64_t spill = 0;                ///< Σ want over the walked classes
  std::int64_t widest = 1;               ///< largest want of a walked class
};

/// Allocates the points of each image from its class sizes (ppl_allocation, as the host paths)
/// and writes, per row = image·C + k: want[row] and start[row], the first position of the row's run
/// in the candidates sorted by row; with `spaced`, walk[b] for every class b with points.
inline PointPlan plan_points(const SweepHeader& h, std::int64_t images, std::int64_t channels, std::int64_t points,
                             bool spaced, long long* want, long long* start, WalkRow* walk) {
  PointPlan plan;
  plan.chosen.assign(static_cast<std::size_t>(images), 0);
  std::int64_t run = 0;
  for (std::int64_t n = 0; n < images; ++n) {
    const auto first = h.sizes.begin() + n * channels;
    const auto quota = ppl_allocation(std::vector<std::int64_t>(first, first + channels), points);
    for (std::int64_t k = 0; k < channels; ++k) {
      const std::int64_t r = n * channels + k, size = h.sizes[static_cast<std::size_t>(r)];
      want[r] = quota[static_cast<std::size_t>(k)];
      start[r] = run;
      if (spaced && want[r] > 0) {
        walk[plan.walk_image.size()] = WalkRow{run, size, want[r], plan.spill};
        plan.walk_image.push_back(n);
        plan.spill += want[r];
        plan.widest = std::max<std::int64_t>(plan.widest, want[r]);
      }
      plan.chosen[static_cast<std::size_t>(n)] += want[r];
      run += size;
    }
  }
  return plan;
}

/// PPL on one chunk. Phase 1 (one wait): the sweep with p̄ and the prototype sums; the class sizes
/// go to the host, which allocates the points (ppl_allocation) while the device forms μ and the
/// scores. Phase 2 (one wait): a radix sort of all candidates by (image·C + class, score, pixel),
/// the first `want` of each class (or the min-distance walk), and a flagged selection back to pixel
/// order, packed to the stage.
template <class Policy>
void ppl_chunk(const Policy& policy, const Geometry& g, const MapPair& in, const Chunk& ch, std::int64_t points,
               double min_distance, Query& q) {
  const int channels = static_cast<int>(g.c);
  const std::int64_t capacity = ch.capacity(g), rows = ch.images * g.c, most = ch.images * points;
  const bool spaced = min_distance > 1.0;
  const Counters counters{ch.images, rows, g.c};
  Layout stage;
  const auto st_header = stage.add<unsigned long long>(counters.header());
  const auto st_want = stage.add<long long>(rows);
  const auto st_start = stage.add<long long>(rows);
  const auto st_walk = stage.add<WalkRow>(spaced ? rows : 0);
  const auto st_taken = stage.add<long long>(spaced ? rows : 0);
  const auto st_pixel = stage.add<std::uint32_t>(most);
  const auto st_class = stage.add<std::uint16_t>(most);
  const auto st_score = stage.add<float>(most);
  auto& pinned = PinnedStage::instance();
  const auto lock = pinned.acquire(stage.bytes);
  const WaitOnUnwind settle;

  const std::size_t tile_bytes = tile_state_bytes(ch.tiles);
  Layout dev;
  const auto d_tiles = dev.add<std::byte>(static_cast<std::int64_t>(tile_bytes));
  const auto d_counters = dev.add<unsigned long long>(counters.words());
  const auto d_pixel = dev.add<std::uint32_t>(capacity);
  const auto d_class = dev.add<std::uint16_t>(capacity);
  const auto d_row = dev.add<std::uint32_t>(capacity);
  const auto d_slot = dev.add<std::uint32_t>(capacity);
  const auto d_pbar = dev.add<double>(static_cast<std::int64_t>(ch.tiles) * sweep_tile * g.c);
  const auto d_mu = dev.add<double>(rows * g.c);
  const auto d_size = dev.add<std::int64_t>(rows);
  const auto d_key = dev.add<SortKey>(capacity);
  const auto d_value = dev.add<std::uint32_t>(capacity);
  auto ws = allocate(dev);
  std::byte* base = bytes_of(ws);

  SweepArgs a = chunk_sweep_args(ch, g, in);
  a.pixel = piece<std::uint32_t>(base, d_pixel);
  a.cls = piece<std::uint16_t>(base, d_class);
  a.row = piece<std::uint32_t>(base, d_row);
  a.slot = piece<std::uint32_t>(base, d_slot);
  a.pbar = piece<double>(base, d_pbar);
  a.proto_in_shared = channels <= shared_proto_classes;
  auto* words = piece<unsigned long long>(base, d_counters);
  launch_sweep<Sweep::ppl>(a, ch, counters, words, base + d_tiles, tile_bytes);
  auto* header = piece<unsigned long long>(pinned.host(), st_header);
  LABOR_CUDA_CHECK(cudaMemcpyAsync(header, words,
                                   static_cast<std::size_t>(counters.header()) * sizeof(unsigned long long),
                                   cudaMemcpyDeviceToHost, cuda_stream()));
  const StreamMark header_ready;

  // While the host reads the header: μ of every (image, class) and the scores of every candidate.
  auto* mu = piece<double>(base, d_mu);
  for_each_index<cuda>(rows * g.c, PrototypeReduce{reinterpret_cast<const std::int64_t*>(a.proto_sum),
                                                   reinterpret_cast<const std::int64_t*>(a.proto_count), 1, rows, g.c,
                                                   mu, piece<std::int64_t>(base, d_size)});
  auto* key = piece<SortKey>(base, d_key);
  auto* value = piece<std::uint32_t>(base, d_value);
  score_kernel<<<stride_blocks(capacity), 256, 0, cuda_stream()>>>(a.image_end + (ch.images - 1), a.row, a.slot, a.pbar,
                                                                   mu, channels, key, value);
  cuda_kernels::check_launch("ppl: score kernel");

  header_ready.wait();
  const auto h = read_header(header, counters);
  check_sweep(policy, g, in, ch, h.bad, "ppl");
  std::int64_t total = 0;
  for (auto c : h.counts) total += c;
  if (total == 0) return;  // M is empty in every image: no points

  // Allocation on the host (the function the host paths use), row runs of the sorted candidates.
  auto* want = piece<long long>(pinned.host(), st_want);
  auto* start = piece<long long>(pinned.host(), st_start);
  auto* walk = piece<WalkRow>(pinned.host(), st_walk);
  auto plan = plan_points(h, ch.images, g.c, points, spaced, want, start, walk);
  const std::int64_t most_chosen = std::accumulate(plan.chosen.begin(), plan.chosen.end(), std::int64_t{0});
  const auto walks = static_cast<std::int64_t>(plan.walk_image.size());

  const int high_bits = static_cast<int>(std::bit_width(static_cast<std::uint64_t>(rows - 1)));
  const std::size_t sort_temp = sort_bytes(total, high_bits), select_temp = select_bytes(total);
  Layout sel;
  const auto s_want = sel.add<long long>(rows);
  const auto s_start = sel.add<long long>(rows);
  const auto s_walk = sel.add<WalkRow>(walks);
  const auto s_taken = sel.add<long long>(walks);
  const auto s_spill = sel.add<std::uint32_t>(plan.spill);
  const auto s_key = sel.add<SortKey>(total);
  const auto s_value = sel.add<std::uint32_t>(total);
  const auto s_flag = sel.add<std::uint8_t>(total);
  const auto s_score = sel.add<float>(total);
  const auto s_selected = sel.add<std::uint32_t>(most_chosen);
  const auto s_count = sel.add<long long>(1);
  const auto s_sort = sel.add<std::byte>(static_cast<std::int64_t>(sort_temp));
  const auto s_select = sel.add<std::byte>(static_cast<std::int64_t>(select_temp));
  auto ws2 = allocate(sel);
  std::byte* b2 = bytes_of(ws2);
  auto upload = [&](std::size_t to, const void* from, std::int64_t bytes) {
    if (bytes > 0)
      LABOR_CUDA_CHECK(
          cudaMemcpyAsync(b2 + to, from, static_cast<std::size_t>(bytes), cudaMemcpyHostToDevice, cuda_stream()));
  };
  upload(s_want, want, rows * static_cast<std::int64_t>(sizeof(long long)));
  upload(s_start, start, rows * static_cast<std::int64_t>(sizeof(long long)));
  upload(s_walk, walk, walks * static_cast<std::int64_t>(sizeof(WalkRow)));

  const auto [sorted_key, sorted_value] =
      sort_pairs(key, value, piece<SortKey>(b2, s_key), piece<std::uint32_t>(b2, s_value), total, high_bits,
                 b2 + s_sort, sort_temp);
  auto* flag = piece<std::uint8_t>(b2, s_flag);
  auto* score = piece<float>(b2, s_score);
  auto* taken = piece<long long>(b2, s_taken);
  if (!spaced) {
    take_lowest_kernel<<<stride_blocks(total), 256, 0, cuda_stream()>>>(
        sorted_key, sorted_value, total, piece<long long>(b2, s_start), piece<long long>(b2, s_want), flag, score);
    cuda_kernels::check_launch("ppl: take kernel");
  } else {
    LABOR_CUDA_CHECK(cudaMemsetAsync(flag, 0, static_cast<std::size_t>(total), cuda_stream()));
    const int shared_points = static_cast<int>(std::min<std::int64_t>(plan.widest, walk_shared_points));
    if (walks > 0) {
      walk_kernel<<<static_cast<unsigned>(walks), 32, static_cast<std::size_t>(shared_points) * sizeof(std::uint32_t),
                    cuda_stream()>>>(sorted_key, sorted_value, a.pixel, piece<WalkRow>(b2, s_walk), g.w, min_distance,
                                     shared_points, piece<std::uint32_t>(b2, s_spill), flag, score, taken);
      cuda_kernels::check_launch("ppl: min-distance walk kernel");
    }
  }
  auto* selected = piece<std::uint32_t>(b2, s_selected);
  auto* selected_count = piece<long long>(b2, s_count);
  select_flagged(flag, total, selected, selected_count, b2 + s_select, select_temp);
  if (most_chosen > 0) {
    pack_kernel<float><<<stride_blocks(most_chosen), 256, 0, cuda_stream()>>>(
        selected, selected_count, a.pixel, a.cls, score, piece<std::uint32_t>(pinned.device(), st_pixel),
        piece<std::uint16_t>(pinned.device(), st_class), piece<float>(pinned.device(), st_score));
    cuda_kernels::check_launch("ppl: pack kernel");
  }
  auto* taken_host = piece<long long>(pinned.host(), st_taken);
  if (spaced && walks > 0)
    LABOR_CUDA_CHECK(cudaMemcpyAsync(taken_host, taken, static_cast<std::size_t>(walks) * sizeof(long long),
                                     cudaMemcpyDeviceToHost, cuda_stream()));
  LABOR_CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
  if (spaced) {  // a class that ran out of candidates kept fewer points
    std::fill(plan.chosen.begin(), plan.chosen.end(), std::int64_t{0});
    for (std::int64_t b = 0; b < walks; ++b)
      plan.chosen[static_cast<std::size_t>(plan.walk_image[static_cast<std::size_t>(b)])] += taken_host[b];
  }
  unpack_images(piece<std::uint32_t>(pinned.host(), st_pixel), piece<std::uint16_t>(pinned.host(), st_class),
                piece<float>(pinned.host(), st_score), plan.chosen, ch.first_image, q);
}

/// The CUDA fast paths (see the file comment). Selected by spl_select, ppl_select and mask_select
/// for a CUDA policy on device maps with Path::automatic. Safe to call from several host threads at
/// once: their work shares labor's stream, and their chunks take turns on the page-locked stage.
template <>
struct FastSamplers<cuda> {
  /// Pixels of one chunk of images at most (0: the automatic memory budgets). Tests lower it to run
  /// several chunks on small maps; not synchronised: set it only while no selection runs.
  static inline std::int64_t max_chunk_pixels = 0;

  /// True when the fast paths take maps of geometry `g` (H·W below 2^31 − 2048); otherwise the
  /// samplers keep the generic Thrust passes.
  static bool applies(const Geometry& g) { return g.hw <= max_image_pixels; }

  /// SPL (spl_select's contract) on device maps: fills q.images.
  template <class Policy>
  static void spl(const Policy& policy, const Geometry& g, const MapPair& in, std::optional<double> cap, Query& q) {
    join_policy_stream(policy);
    const std::int64_t limit = cap ? static_cast<std::int64_t>(std::floor(*cap * static_cast<double>(g.hw))) : g.hw;
    for (const auto& ch : plan_chunks(g, in, 6, stage_budget, max_chunk_pixels))
      spl_chunk(policy, g, in, ch, cap.has_value(), limit, q);
  }

  /// PPL (ppl_select's contract) on device maps: fills q.images.
  template <class Policy>
  static void ppl(const Policy& policy, const Geometry& g, const MapPair& in, std::int64_t points, double min_distance,
                  Query& q) {
    join_policy_stream(policy);
    const std::int64_t per_pixel = 8 * g.c + 40;  // p̄, then index, class, row, slot and the sort pair
    for (const auto& ch : plan_chunks(g, in, per_pixel, device_budget, max_chunk_pixels))
      ppl_chunk(policy, g, in, ch, points, min_distance, q);
  }

  /// The inconsistency mask (N×H×W uint8) of device maps; throws for the first bad pixel.
  template <class Policy>
  static Tensor<std::uint8_t, cuda> mask(const Policy& policy, const Geometry& g, const MapPair& in) {
    join_policy_stream(policy);
    auto mask = Tensor<std::uint8_t, cuda>::uninitialized(Shape{g.n, g.h, g.w});
    auto bad = Tensor<std::uint64_t, cuda>::uninitialized(Shape{1});
    LABOR_CUDA_CHECK(cudaMemsetAsync(bad.data(), 0xFF, sizeof(std::uint64_t), cuda_stream()));
    const std::int64_t total = g.n * g.hw;
    mask_kernel<<<stride_blocks(total), 256, 0, cuda_stream()>>>(in.p1, in.p2, g.hw, in.chw, static_cast<int>(g.c),
                                                                 total, mask.data(),
                                                                 reinterpret_cast<unsigned long long*>(bad.data()));
    cuda_kernels::check_launch("inconsistency_mask: kernel");
    std::uint64_t first = 0;
    CrossDeviceCopy<cuda, cpu>::copy(&first, bad.data(), sizeof first);
    if (first != no_bad)
      report_bad_pixel<cuda>(policy, g, in, static_cast<std::int64_t>(first), "inconsistency_mask", "p1", "p2");
    return mask;
  }
};

}  // namespace labor::samplers::detail
