#pragma once
// Progress of labor_train's stages on stderr: a live bar on a terminal (iteration, losses, rate,
// ETA), and one summary line per stage in every mode (--quiet keeps only the summaries).

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include <labor/train/trainer.hpp>

namespace labor_train {

/// "1m05s" / "42.1s".
inline std::string format_seconds(double s) {
  if (s < 60) return fmt::format("{:.1f}s", s);
  const auto m = static_cast<long>(s / 60);
  return fmt::format("{}m{:02d}s", m, static_cast<int>(s - 60.0 * static_cast<double>(m)));
}

/// Draws the bar of the running stage and prints stage summaries.
class Progress {
 public:
  explicit Progress(bool quiet) : live_(!quiet && isatty(fileno(stderr)) != 0) {}

  /// A stage starts (its name as the table will show it).
  void begin(std::string_view stage) {
    stage_ = std::string(stage);
    start_ = last_draw_ = Clock::now();
    iterations_ = 0;
    last_.clear();
  }

  /// Monitor for the trainer: called after every iteration.
  void step(const labor::train::StepInfo& s) {
    iterations_ = s.iteration;
    last_.clear();
    for (const auto& [name, v] : s.losses) last_ += fmt::format(" {} {:.3f}", name, v);
    if (!live_) return;
    const auto now = Clock::now();
    if (s.iteration != s.iterations && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    const double elapsed = seconds(start_, now);
    const double rate = elapsed > 0 ? static_cast<double>(s.iteration) / elapsed : 0.0;
    const double eta = rate > 0 ? static_cast<double>(s.iterations - s.iteration) / rate : 0.0;
    constexpr int width = 24;
    const auto filled = static_cast<int>(width * s.iteration / s.iterations);
    std::fprintf(stderr, "\r\033[K%-18s [%s%s] %lld/%lld %.1f it/s ETA %s%s", stage_.c_str(),
                 std::string(static_cast<std::size_t>(filled), '#').c_str(),
                 std::string(static_cast<std::size_t>(width - filled), '.').c_str(),
                 static_cast<long long>(s.iteration), static_cast<long long>(s.iterations), rate,
                 format_seconds(eta).c_str(), last_.c_str());
    std::fflush(stderr);
  }

  /// The stage ended: one line with its time, rate, last losses and `extra` (e.g. its mIoU).
  /// Returns the stage's wall time in seconds.
  double end(std::string_view extra) {
    const double elapsed = seconds(start_, Clock::now());
    if (live_) std::fprintf(stderr, "\r\033[K");
    std::string line = fmt::format("[{}] {}", stage_, format_seconds(elapsed));
    if (iterations_ > 0)
      line += fmt::format(", {} it, {:.1f} it/s,{}", iterations_, static_cast<double>(iterations_) / elapsed, last_);
    if (!extra.empty()) line += fmt::format(" · {}", extra);
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
    return elapsed;
  }

  /// A line of its own (resumed stages, notices).
  static void note(std::string_view text) {
    std::fprintf(stderr, "%.*s\n", static_cast<int>(text.size()), text.data());
    std::fflush(stderr);
  }

 private:
  using Clock = std::chrono::steady_clock;
  static double seconds(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  }

  bool live_;
  std::string stage_, last_;
  Clock::time_point start_, last_draw_;
  std::int64_t iterations_ = 0;
};

}  // namespace labor_train
