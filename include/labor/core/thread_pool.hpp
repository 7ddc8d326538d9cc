#pragma once
/// @file thread_pool.hpp
/// The worker threads behind labor's host kernels (core/parallel.hpp), made for machines that other
/// processes share.
///
/// A parallel region is a number of tasks. The calling thread publishes them and works on them
/// itself; the workers claim the rest one at a time. The region ends when every task has finished,
/// not when every worker has arrived: a worker that the operating system has not scheduled (another
/// process holds its core) is simply not waited for, and the threads that do run take over its
/// share. Idle threads spin for a bounded time (so back-to-back regions of a training step do not pay
/// a wake-up each) and then sleep in the kernel, so a waiting thread never holds a core that a
/// runnable one needs for long. This is what keeps a training step proportional to the cores it gets:
/// OpenMP's default barriers wait for every team thread at the end of every region, spinning, and a
/// step of many small regions collapses when one of those threads is descheduled.
///
/// Threads: LABOR_NUM_THREADS, else OMP_NUM_THREADS, else the processors this process may run on;
/// set_num_threads changes it. Spin before sleeping: LABOR_SPIN_US, else 50 µs. One region runs at a time: a region started while another one runs
/// (from another thread, or nested inside a task) runs serially on its caller.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#endif

namespace labor::detail {

/// Hint to the processor inside a spin loop.
inline void spin_pause() {
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

/// The thread count a process starts with (see the file comment).
inline int default_thread_count() {
  for (const char* name : {"LABOR_NUM_THREADS", "OMP_NUM_THREADS"}) {
    if (const char* v = std::getenv(name)) {
      char* end = nullptr;
      const long n = std::strtol(v, &end, 10);
      if (end != v && n >= 1) return static_cast<int>(std::min<long>(n, 1024));
    }
  }
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

class ThreadPool {
 public:
  /// A task: `fn(ctx, t)` for task index t.
  using TaskFn = void (*)(void*, std::uint32_t);

  /// How long an idle worker, or a caller waiting for the tasks of its region, spins before it
  /// sleeps in the kernel, in microseconds: LABOR_SPIN_US (0 to 10^6), else this. Longer spins make
  /// a step on dedicated cores a little faster and one beside another process slower
  /// (docs/design.md, Parallelism).
  static constexpr long default_spin_us = 50;

  /// The process's pool.
  static ThreadPool& instance() {
    static ThreadPool pool(default_thread_count());
    return pool;
  }

  ~ThreadPool() { stop_workers(); }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  /// Threads a region may use, the caller included.
  int size() const { return threads_.load(std::memory_order_relaxed); }

  /// Sets the threads a region may use (n >= 1); waits for a running region to end.
  void resize(int n) {
    n = std::max(1, n);
    std::lock_guard lock(region_);
    if (n == size()) return;
    stop_workers();
    threads_.store(n, std::memory_order_relaxed);
    start_workers(n - 1);
  }

  /// True inside a task of a region on this thread.
  static bool in_region() { return in_region_flag(); }

  /// Runs `fn(ctx, t)` for every t in [0, tasks), on at most `max_threads` threads (the caller
  /// included), and returns when all have finished. An exception from a task is rethrown here
  /// (the first one; the other tasks still run).
  void run(std::uint32_t tasks, TaskFn fn, void* ctx, int max_threads) {
    if (tasks == 0) return;
    const bool parallel = tasks > 1 && max_threads > 1 && size() > 1 && !in_region();
    std::unique_lock lock(region_, std::defer_lock);
    if (!parallel || !lock.try_lock()) {
      run_serial(tasks, fn, ctx);
      return;
    }
    fn_.store(fn, std::memory_order_relaxed);
    ctx_.store(ctx, std::memory_order_relaxed);
    tasks_.store(tasks, std::memory_order_relaxed);
    allowed_.store(std::min(max_threads, size()) - 1, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    error_ = nullptr;
    generation_ += 1;
    state_.store(generation_ << 32, std::memory_order_release);
    wake_.fetch_add(1, std::memory_order_release);
    wake_.notify_all();
    while (work_once(-1)) {
    }
    // Wait for the tasks other threads claimed: spin a little, then sleep until the last one ends.
    const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(spin_us_);
    for (std::uint32_t d = done_.load(std::memory_order_acquire); d != tasks; d = done_.load(std::memory_order_acquire)) {
      if (std::chrono::steady_clock::now() < spin_until) {
        for (int i = 0; i < 32; ++i) spin_pause();
      } else {
        done_.wait(d, std::memory_order_acquire);
      }
    }
    state_.store((generation_ << 32) | closed, std::memory_order_release);
    if (error_) {
      std::exception_ptr e = error_;
      error_ = nullptr;
      std::rethrow_exception(e);
    }
  }

 private:
  static constexpr std::uint64_t closed = 0xFFFFFFFFu;

  explicit ThreadPool(int threads) : threads_(std::max(1, threads)), spin_us_(spin_from_environment()) {
    start_workers(size() - 1);
  }

  static long spin_from_environment() {
    if (const char* v = std::getenv("LABOR_SPIN_US")) {
      char* end = nullptr;
      const long us = std::strtol(v, &end, 10);
      if (end != v && us >= 0) return std::min<long>(us, 1000000);
    }
    return default_spin_us;
  }

  static bool& in_region_flag() {
    thread_local bool flag = false;
    return flag;
  }

  static void run_serial(std::uint32_t tasks, TaskFn fn, void* ctx) {
    for (std::uint32_t t = 0; t < tasks; ++t) fn(ctx, t);
  }

  /// Claims and runs one task of the current region; false when none is left (or `worker`, -1 for
  /// the caller, may not take part). A claim succeeds only while the region it read is current: the
  /// state word carries the region's generation, and a finished region is closed before the next
  /// one's description is written.
  bool work_once(int worker) {
    std::uint64_t s = state_.load(std::memory_order_acquire);
    for (;;) {
      const std::uint64_t next = s & 0xFFFFFFFFu;
      if (next == closed) return false;
      const std::uint32_t tasks = tasks_.load(std::memory_order_relaxed);
      if (next >= tasks || worker >= allowed_.load(std::memory_order_relaxed)) return false;
      const TaskFn fn = fn_.load(std::memory_order_relaxed);
      void* const ctx = ctx_.load(std::memory_order_relaxed);
      if (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      bool& flag = in_region_flag();
      flag = true;
      try {
        fn(ctx, static_cast<std::uint32_t>(next));
      } catch (...) {
        std::lock_guard lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
      flag = false;
      if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == tasks) done_.notify_all();
      return true;
    }
  }

  bool has_work(int worker) const {
    const std::uint64_t next = state_.load(std::memory_order_acquire) & 0xFFFFFFFFu;
    return next != closed && next < tasks_.load(std::memory_order_relaxed) &&
           worker < allowed_.load(std::memory_order_relaxed);
  }

  void worker_loop(int worker) {
    for (;;) {
      if (work_once(worker)) continue;
      // Idle: spin for a while, then sleep until the next region is published.
      const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(spin_us_);
      bool found = false;
      while (!found && std::chrono::steady_clock::now() < spin_until && !stop_.load(std::memory_order_relaxed)) {
        for (int i = 0; i < 32; ++i) spin_pause();
        found = has_work(worker);
      }
      if (found) continue;
      const std::uint32_t w = wake_.load(std::memory_order_acquire);
      if (stop_.load(std::memory_order_acquire)) return;
      if (has_work(worker)) continue;
      wake_.wait(w, std::memory_order_acquire);
    }
  }

  void start_workers(int n) {
    stop_.store(false, std::memory_order_relaxed);
    for (int i = 0; i < n; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
  }

  void stop_workers() {
    stop_.store(true, std::memory_order_release);
    wake_.fetch_add(1, std::memory_order_release);
    wake_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::atomic<int> threads_;
  long spin_us_;  ///< see default_spin_us
  std::vector<std::thread> workers_;
  std::mutex region_;  ///< held by the thread running a region (and by resize)
  std::uint64_t generation_ = 0;
  std::atomic<std::uint64_t> state_{closed};  ///< generation << 32 | next task (closed: none)
  std::atomic<TaskFn> fn_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<std::uint32_t> tasks_{0};
  std::atomic<int> allowed_{0};  ///< workers 0 .. allowed_-1 may take part
  std::atomic<std::uint32_t> done_{0};
  std::atomic<std::uint32_t> wake_{0};
  std::atomic<bool> stop_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

}  // namespace labor::detail
