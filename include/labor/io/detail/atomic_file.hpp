#pragma once
/// @file atomic_file.hpp
/// Atomic file replacement shared by labor's writers: the content goes to a temporary file in the
/// target's folder, is flushed and fsync'ed, then renamed over the target (POSIX rename is atomic
/// within a file system) and the folder is fsync'ed. A reader sees the old file or the new one,
/// never a mixture; a failure removes the temporary file and leaves the target untouched.

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include "labor/core/error.hpp"

namespace labor::io::detail {

/// A temporary file next to `target`, opened for binary writing. commit() makes it the target;
/// destruction without commit() removes it.
class AtomicFile {
 public:
  /// Opens `<target>.tmp-<pid>-<n>` in the target's folder. `what` prefixes error messages
  /// (e.g. "png"). Throws labor::Error when the file cannot be created.
  AtomicFile(std::filesystem::path target, std::string_view what) : target_(std::move(target)), what_(what) {
    static std::atomic<unsigned> counter{0};
    std::error_code ec;
    LABOR_CHECK(!std::filesystem::is_directory(target_, ec), "{} '{}': cannot write: the path is a directory", what_,
                target_.string());
    tmp_ = target_;
    tmp_ += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
    file_ = std::fopen(tmp_.c_str(), "wb");
    LABOR_CHECK(file_ != nullptr, "{} '{}': cannot create temporary file '{}': {}", what_, target_.string(),
                tmp_.string(), std::strerror(errno));
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() {
    if (file_ != nullptr) std::fclose(file_);
    if (!committed_) {
      std::error_code ec;
      std::filesystem::remove(tmp_, ec);
    }
  }

  /// The open stream (valid until commit()).
  [[nodiscard]] std::FILE* get() const { return file_; }
  /// Path of the temporary file.
  [[nodiscard]] const std::filesystem::path& temp_path() const { return tmp_; }

  /// Writes `n` bytes; throws labor::Error (naming the target) on a short write.
  void write(const void* data, std::size_t n) {
    if (n == 0) return;
    if (std::fwrite(data, 1, n, file_) != n) fail_io("write failed");
  }

  /// Flushes, fsyncs and closes the temporary file, renames it over the target and fsyncs the
  /// folder. Throws labor::Error on any failure; the target is then unchanged.
  void commit() {
    if (std::fflush(file_) != 0) fail_io("write failed");
    if (::fsync(::fileno(file_)) != 0) fail_io("fsync failed");
    const int rc = std::fclose(file_);
    file_ = nullptr;
    if (rc != 0) fail_io("close failed");
    std::error_code ec;
    std::filesystem::rename(tmp_, target_, ec);
    LABOR_CHECK(!ec, "{} '{}': cannot rename from '{}': {}", what_, target_.string(), tmp_.string(), ec.message());
    committed_ = true;
    auto dir = target_.parent_path();
    if (dir.empty()) dir = ".";
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
      (void)::fsync(fd);  // best effort: the rename itself already happened
      ::close(fd);
    }
  }

 private:
  [[noreturn]] void fail_io(const char* what) const {
    fail("{} '{}': {} (temporary file '{}'): {}", what_, target_.string(), what, tmp_.string(), std::strerror(errno));
  }

  std::filesystem::path target_;
  std::string what_;
  std::filesystem::path tmp_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

/// Replaces `target` atomically with `bytes`.
inline void atomic_write(const std::filesystem::path& target, std::string_view what, std::string_view bytes) {
  AtomicFile f(target, what);
  f.write(bytes.data(), bytes.size());
  f.commit();
}

}  // namespace labor::io::detail
