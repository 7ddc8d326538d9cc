#pragma once
/// @file atomic_file.hpp
/// Atomic file replacement shared by labor's writers: the content goes to a temporary file in the
/// target's folder, is flushed and fsync'ed, then renamed over the target (POSIX rename is atomic
/// within a file system) and the folder is fsync'ed. A reader sees the old file or the new one,
/// never a mixture; a failure removes the temporary file and leaves the target untouched.
///
/// A writer that dies before commit (a crash, a kill) cannot remove its temporary file. Each
/// temporary is named `<target>.tmp-<pid>-<n>` and locked (flock) by its writer while it is open,
/// so the first write of a later process into that folder removes it: see remove_stale_temporaries.

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "labor/core/error.hpp"

namespace labor::io::detail {

/// The writer's pid of a temporary file named `<name>.tmp-<pid>-<n>` (decimal pid and n), or -1
/// for any other name.
inline long temporary_pid(std::string_view name) {
  const auto at = name.rfind(".tmp-");
  if (at == std::string_view::npos || at == 0) return -1;
  const std::string_view rest = name.substr(at + 5);
  long pid = -1;
  const auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
  if (ec != std::errc() || pid <= 0 || p == rest.data() + rest.size() || *p != '-') return -1;
  const std::string_view n(p + 1, static_cast<std::size_t>(rest.data() + rest.size() - (p + 1)));
  if (n.empty() || n.find_first_not_of("0123456789") != std::string_view::npos) return -1;
  return pid;
}

/// Removes from `dir` the temporary files that writers which died before commit left behind: a
/// file is removed only when its name is `<name>.tmp-<pid>-<n>`, `pid` is not this process and no
/// longer exists (kill(pid, 0) fails with ESRCH), and no one holds its lock. The temporary of a
/// live writer, of this process, or of a pid that has been reused is left alone; so is any other
/// file. Best effort: errors are ignored. Returns the number of files removed.
inline std::size_t remove_stale_temporaries(const std::filesystem::path& dir) {
  std::size_t removed = 0;
  std::error_code ec;
  const long self = static_cast<long>(::getpid());
  for (std::filesystem::directory_iterator it(dir.empty() ? std::filesystem::path(".") : dir, ec), end;
       !ec && it != end; it.increment(ec)) {
    const long pid = temporary_pid(it->path().filename().string());
    if (pid <= 0 || pid == self || !it->is_regular_file(ec)) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to ask)
    const int fd = ::open(it->path().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0 && ::unlink(it->path().c_str()) == 0) ++removed;
    ::close(fd);
  }
  return removed;
}

/// remove_stale_temporaries(dir) the first time this process writes into `dir` (once per folder:
/// a folder of many files is not listed again for each of them).
inline void remove_stale_temporaries_once(const std::filesystem::path& dir) {
  static std::mutex mutex;
  static std::set<std::filesystem::path> done;
  std::error_code ec;
  auto key = std::filesystem::absolute(dir.empty() ? std::filesystem::path(".") : dir, ec).lexically_normal();
  if (ec) return;
  {
    const std::lock_guard lock(mutex);
    if (!done.insert(key).second) return;
  }
  (void)remove_stale_temporaries(key);
}

/// A temporary file next to `target`, opened for binary writing. commit() makes it the target;
/// destruction without commit() removes it.
class AtomicFile {
 public:
  /// Opens `<target>.tmp-<pid>-<n>` in the target's folder and locks it (flock) while it is open;
  /// the first one of a process in a folder removes that folder's stale temporaries first
  /// (remove_stale_temporaries). `what` prefixes error messages (e.g. "png").
  /// Throws labor::Error when the file cannot be created.
  AtomicFile(std::filesystem::path target, std::string_view what) : target_(std::move(target)), what_(what) {
    static std::atomic<unsigned> counter{0};
    std::error_code ec;
    LABOR_CHECK(!std::filesystem::is_directory(target_, ec), "{} '{}': cannot write: the path is a directory", what_,
                target_.string());
    remove_stale_temporaries_once(target_.parent_path());
    tmp_ = target_;
    tmp_ += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
    const int fd = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    LABOR_CHECK(fd >= 0, "{} '{}': cannot create temporary file '{}': {}", what_, target_.string(), tmp_.string(),
                std::strerror(errno));
    (void)::flock(fd, LOCK_EX | LOCK_NB);  // released when the file is closed, or when this process dies
    file_ = ::fdopen(fd, "wb");
    if (file_ == nullptr) {
      const int err = errno;
      ::close(fd);
      std::error_code ec;
      std::filesystem::remove(tmp_, ec);
      fail("{} '{}': cannot open temporary file '{}': {}", what_, target_.string(), tmp_.string(), std::strerror(err));
    }
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
