#pragma once
/// @file memory.hpp
/// Host memory management: DeviceMemory<cpu>.

#include <atomic>
#include <cstddef>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>

#include "labor/core/device.hpp"
#include "labor/core/error.hpp"

namespace labor {

namespace detail {

/// A process-wide cache of freed large blocks, so that the tensors a training step allocates again
/// and again reuse memory that is already mapped (fresh large allocations pay a page fault per 4 KiB
/// on first touch, which costs more than the kernels that fill them). Blocks of at least
/// `min_bytes` are tracked; a freed block is kept while the cache holds at most `limit()` bytes, and
/// an allocation takes the smallest cached block of at least its size and at most 5/4 of it.
/// Thread-safe. `Raw` provides `static void* allocate(size_t)` (nullptr on failure) and
/// `static void deallocate(void*)`.
template <class Raw>
class BlockCache {
 public:
  static constexpr std::size_t min_bytes = std::size_t{1} << 20;
  static constexpr std::size_t granule = std::size_t{1} << 16;

  /// The cache of this kind of memory (never destroyed, so tensors with static lifetime are safe).
  static BlockCache& instance() {
    static BlockCache* cache = new BlockCache;
    return *cache;
  }

  /// A block of at least `bytes` bytes, or nullptr when the raw allocator fails even after the
  /// cache was released.
  void* allocate(std::size_t bytes) {
    if (bytes < min_bytes) return Raw::allocate(bytes);
    bytes = (bytes + granule - 1) / granule * granule;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.lower_bound(bytes);
      if (it != free_.end() && it->first <= bytes + bytes / 4) {
        void* p = it->second;
        live_.emplace(p, it->first);
        cached_ -= it->first;
        free_.erase(it);
        return p;
      }
    }
    void* p = Raw::allocate(bytes);
    if (p == nullptr) {
      release();
      p = Raw::allocate(bytes);
    }
    if (p != nullptr) {
      std::lock_guard<std::mutex> lock(mutex_);
      live_.emplace(p, bytes);
    }
    return p;
  }

  /// Returns a block from allocate(): kept for reuse when it is large and the cache has room.
  void deallocate(void* p) noexcept {
    if (p == nullptr) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = live_.find(p);
      if (it != live_.end()) {
        const std::size_t size = it->second;
        live_.erase(it);
        if (cached_ + size <= limit_) {
          free_.emplace(size, p);
          cached_ += size;
          return;
        }
      }
    }
    Raw::deallocate(p);
  }

  /// Frees every cached block.
  void release() noexcept {
    std::multimap<std::size_t, void*> blocks;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      blocks.swap(free_);
      cached_ = 0;
    }
    for (auto& [size, p] : blocks) Raw::deallocate(p);
  }

  /// Bytes held in the cache (not in use).
  std::size_t cached_bytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_;
  }
  std::size_t limit() {
    std::lock_guard<std::mutex> lock(mutex_);
    return limit_;
  }
  /// Sets the most bytes the cache keeps; 0 turns caching off. Releases what no longer fits.
  void set_limit(std::size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      limit_ = bytes;
    }
    if (cached_bytes() > bytes) release();
  }

 private:
  BlockCache() = default;
  std::mutex mutex_;
  std::multimap<std::size_t, void*> free_;
  std::unordered_map<void*, std::size_t> live_;
  std::size_t cached_ = 0;
  std::size_t limit_ = std::size_t{1} << 30;
};

/// 64-byte-aligned host memory straight from the system allocator.
struct HostRaw {
  static void* allocate(std::size_t bytes) { return ::operator new (bytes, std::align_val_t{64}, std::nothrow); }
  static void deallocate(void* p) noexcept { ::operator delete (p, std::align_val_t{64}); }
};

}  // namespace detail

/// Host allocations, 64-byte aligned so vector kernels can use aligned loads. Blocks of 1 MiB and
/// more go through a cache of freed blocks (detail::BlockCache; at most 1 GiB kept by default,
/// see set_memory_cache_limit and release_memory_cache).
template <>
struct DeviceMemory<cpu> {
  static constexpr std::size_t alignment = 64;
  using Cache = detail::BlockCache<detail::HostRaw>;

  /// Allocates `bytes` bytes (nullptr for 0). Throws labor::Error when the allocation fails.
  static void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    void* p = Cache::instance().allocate((bytes + alignment - 1) / alignment * alignment);
    LABOR_CHECK(p != nullptr, "cpu: out of memory allocating {} bytes", bytes);
    return p;
  }
  static void deallocate(void* p) noexcept { Cache::instance().deallocate(p); }
  static void copy(void* dst, const void* src, std::size_t bytes) {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  static void zero(void* dst, std::size_t bytes) { fill_bytes(dst, 0, bytes); }
  static void fill_bytes(void* dst, unsigned char value, std::size_t bytes) {
    if (bytes) std::memset(dst, value, bytes);
  }
  static void set_cache_limit(std::size_t bytes) { Cache::instance().set_limit(bytes); }
  static void release_cache() { Cache::instance().release(); }
  static std::size_t cached_bytes() { return Cache::instance().cached_bytes(); }
};

/// Sets how many bytes of freed blocks device D keeps for reuse (0: none). On cuda this is the
/// release threshold of the device's memory pool.
template <Device D>
void set_memory_cache_limit(std::size_t bytes) {
  DeviceMemory<D>::set_cache_limit(bytes);
}

/// Frees the blocks device D keeps for reuse.
template <Device D>
void release_memory_cache() {
  DeviceMemory<D>::release_cache();
}

/// Bytes of freed blocks device D currently keeps for reuse.
template <Device D>
std::size_t cached_memory_bytes() {
  return DeviceMemory<D>::cached_bytes();
}

namespace detail {
inline std::atomic<bool>& poison_flag() {
  static std::atomic<bool> flag{false};
  return flag;
}
}  // namespace detail

/// Testing aid: while on, every Tensor::uninitialized on any device is filled with 0xFF bytes (NaN
/// for floating point, −1 for signed integers), so a kernel that leaves an output element unwritten
/// is caught by the comparison that follows. Off by default (it costs a fill per allocation).
inline void set_poison_uninitialized(bool on) { detail::poison_flag().store(on, std::memory_order_relaxed); }

/// Whether set_poison_uninitialized is on.
inline bool poison_uninitialized() { return detail::poison_flag().load(std::memory_order_relaxed); }

/// Copies between devices. Same-device copies use DeviceMemory<D>::copy; host<->GPU copies are
/// specialised in backend/cuda/memory.cuh.
template <Device From, Device To>
struct CrossDeviceCopy;

template <Device D>
struct CrossDeviceCopy<D, D> {
  static void copy(void* dst, const void* src, std::size_t bytes) { DeviceMemory<D>::copy(dst, src, bytes); }
};

}  // namespace labor

#if defined(__CUDACC__)
#include "labor/backend/cuda/memory.cuh"
#endif
