#pragma once
/// @file hash.hpp
/// FNV-1a 64-bit: the one byte hash labor uses for file checksums and settings fingerprints.

#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace labor {

/// FNV-1a 64-bit hash of `bytes` (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
inline std::uint64_t fnv1a64(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

/// fnv1a64(bytes) as 16 lower-case hex digits.
inline std::string fnv1a64_hex(std::string_view bytes) { return fmt::format("{:016x}", fnv1a64(bytes)); }

}  // namespace labor
