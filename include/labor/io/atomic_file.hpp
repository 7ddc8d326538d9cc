#pragma once
/// @file atomic_file.hpp
/// Atomic file replacement for programs built on labor: a reader sees the old file or the new one,
/// never a half-written one, and a failed write leaves the old file as it was.

#include "labor/io/detail/atomic_file.hpp"

namespace labor::io {

/// Replaces `target` with `bytes`: written to a temporary file beside it, flushed, then renamed over
/// it. `what` names the file in error messages ("checkpoint", "json", ...).
/// @throws labor::Error naming the file when it cannot be written; `target` is then unchanged.
using detail::atomic_write;

/// A file written in parts and committed atomically (`write(data, n)` … `commit()`); destroyed
/// without commit, it removes its temporary file and leaves the target unchanged.
using detail::AtomicFile;

/// Removes the temporary files that writers which died before commit left in folder `dir`
/// (`<name>.tmp-<pid>-<n>` of a process that no longer exists, unlocked); every AtomicFile does
/// this once per folder and process before its first write there. Returns the count removed.
using detail::remove_stale_temporaries;

}  // namespace labor::io
