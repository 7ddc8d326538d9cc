// Files from others, read as an attacker writes them: the npy, PNG and safetensors readers (and
// load_weights) on the reproducers in tests/fuzz/regressions and on hand-made variants. Every bad
// file must give a labor::Error naming it, allocate no more than the file can hold, and never give
// a tensor whose shape and storage disagree.

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include <labor/core/shape.hpp>
#include <labor/core/tensor.hpp>
#include <labor/io/npy.hpp>
#include <labor/io/png.hpp>
#include <labor/io/safetensors.hpp>
#include <labor/io/weights.hpp>

#include "support/errors.hpp"
#include "support/bytes.hpp"
#include "support/torch.hpp"

namespace {

using labor::Shape;
using labor::Tensor;
using labor::testing::error_of;
using labor::testing::expect_error;
using labor::testing::TempDir;
namespace fs = std::filesystem;
namespace io = labor::io;
using labor::testing::read_bytes;
using labor::testing::safetensors_bytes;
using labor::testing::write_bytes;

/// A committed reproducer: tests/fuzz/regressions/<reader>/<name>.
fs::path regression(const std::string& reader, const std::string& name) {
  const fs::path p = fs::path(__FILE__).parent_path().parent_path() / "fuzz" / "regressions" / reader / name;
  EXPECT_TRUE(fs::is_regular_file(p)) << "missing reproducer " << p;
  return p;
}


#if defined(__SANITIZE_ADDRESS__)
constexpr bool address_sanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool address_sanitizer = true;
#else
constexpr bool address_sanitizer = false;
#endif
#else
constexpr bool address_sanitizer = false;
#endif

/// Runs `f` in a child process whose address space may grow by at most `budget` bytes, and expects
/// it to throw a labor::Error mentioning every one of `parts` there: a reader that allocates what a
/// file declares before checking it runs out of memory instead. Under AddressSanitizer (which
/// reserves its own address space) `f` runs here without a budget.
void expect_error_within(std::size_t budget, const std::function<void()>& f, const std::vector<std::string>& parts) {
  if (address_sanitizer) return expect_error(f, parts);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    long pages = 0;
    if (std::FILE* statm = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(statm, "%ld", &pages) != 1) pages = 0;
      std::fclose(statm);
    }
    const auto used = static_cast<rlim_t>(pages) * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE));
    const rlimit limit{used + budget, used + budget};
    if (pages == 0 || ::setrlimit(RLIMIT_AS, &limit) != 0) ::_exit(7);
    int code = 0;
    try {
      f();
      code = 3;
    } catch (const labor::Error& e) {
      const std::string msg = e.what();
      for (const auto& p : parts)
        if (msg.find(p) == std::string::npos) code = 4;
      if (code) std::fprintf(stderr, "message: %s\n", e.what());
    } catch (const std::bad_alloc&) {
      code = 5;
    } catch (...) {
      code = 6;
    }
    std::fflush(nullptr);
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  const char* why[] = {"",
                       "",
                       "",
                       "no error was thrown",
                       "the labor::Error lacks a part (message on stderr)",
                       "std::bad_alloc: it allocated more than the budget",
                       "an exception other than labor::Error",
                       "could not set the memory limit"};
  const int code = WEXITSTATUS(status);
  EXPECT_EQ(code, 0) << (code >= 0 && code < 8 ? why[code] : "unknown exit code") << "; first part: " << parts.front();
}

constexpr std::size_t small_budget = std::size_t{64} << 20;

// ---- Shape and Tensor: the one rule for element counts ------------------------------------------

TEST(HostileShape, ElementCountsThatOverflowAreRefused) {
  constexpr std::int64_t big = (std::int64_t{1} << 62) + 1;
  // (2^62 + 1)·4 wraps to 4 in int64.
  expect_error([&] { (void)Shape{big, 1, 2, 2}; }, {"Shape", "overflows int64"});
  expect_error([&] { (void)Shape{1, big, 2, 2}; }, {"Shape", "overflows int64"});
  // A zero extent does not excuse the others: strides and partial products must fit too.
  expect_error([&] { (void)Shape{0, std::int64_t{1} << 32, std::int64_t{1} << 32}; }, "overflows int64");
  EXPECT_EQ((Shape{0, std::int64_t{1} << 31, std::int64_t{1} << 31}.numel()), 0);
  EXPECT_EQ((Shape{std::int64_t{1} << 31, std::int64_t{1} << 31}.numel()), std::int64_t{1} << 62);
  expect_error([&] { (void)Shape{3, -1}; }, {"extent 1", "-1"});

  const std::vector<std::int64_t> dims{4611686018427387905, 4};
  expect_error([&] { (void)labor::checked_numel(dims, "file 'f': shape"); },
               {"file 'f': shape", "overflows int64", "4611686018427387905, 4"});
  expect_error([&] { (void)Shape(dims, "file 'f': shape"); }, {"file 'f': shape", "overflows"});
  const std::vector<std::int64_t> five{1, 1, 1, 1, 1};
  expect_error([&] { (void)Shape(five, "file 'f': shape"); }, {"file 'f': shape", "rank", "at most 4"});
  EXPECT_EQ(labor::checked_numel(std::vector<std::int64_t>{2, 3, 4}, "x"), 24);
  EXPECT_EQ(labor::checked_numel(std::vector<std::int64_t>{}, "x"), 1);
  EXPECT_EQ(labor::checked_mul(std::int64_t{1} << 31, std::int64_t{1} << 31, "x"), std::int64_t{1} << 62);
  expect_error([&] { (void)labor::checked_mul(std::int64_t{1} << 62, 4, "bytes"); }, {"bytes", "overflows"});
}

TEST(HostileShape, TensorStorageAlwaysHoldsItsShape) {
  // 2^62 floats are 2^64 bytes, which wrap to 0 in size_t: such a tensor would have no storage.
  expect_error([] { (void)Tensor<float>::uninitialized(Shape{std::int64_t{1} << 62}); },
               {"Tensor", "do not fit in memory"});
  expect_error([] { (void)Tensor<double>(Shape{std::int64_t{1} << 61, 2}); }, "do not fit in memory");
}

// ---- npy -----------------------------------------------------------------------------------------

/// A version 1.0 .npy file with header dict `dict` and `payload` data bytes.
std::string npy_bytes(const std::string& dict, std::size_t payload) {
  std::string header = dict;
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY\x01";
  out += '\0';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + std::string(payload, '\0');
}
std::string npy_f4(const std::string& shape, std::size_t payload) {
  return npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }", payload);
}

TEST(HostileNpy, ShapesWhoseElementCountOverflowsAreRefused) {
  // Reproducers of the labor_select crash: (2^62+1, 1, 2, 2) and (1, 2^62+1, 2, 2) over 16 bytes.
  for (const char* name : {"numel_overflow.npy", "numel_overflow_channels.npy"}) {
    const auto p = regression("npy", name);
    expect_error([&] { (void)io::read_npy<float>(p); }, {name, "shape", "overflows int64"});
  }
  TempDir dir;
  // A count that fits in int64 but whose bytes do not.
  write_bytes(dir / "bytes.npy", npy_f4("(4611686018427387904,)", 16));
  expect_error([&] { (void)io::read_npy<float>(dir / "bytes.npy"); }, {"bytes.npy", "data size", "overflows"});
}

TEST(HostileNpy, DeclaredSizesAreCheckedAgainstTheFileBeforeAllocating) {
  // A 12-byte file declaring a 4 GiB header.
  const auto header = regression("npy", "header_4gib.npy");
  expect_error_within(small_budget, [&] { (void)io::read_npy<float>(header); },
                      {"header_4gib.npy", "truncated header", "4294967295"});
  // A 144-byte file declaring 1 GiB of data.
  const auto data = regression("npy", "data_past_end.npy");
  expect_error_within(small_budget, [&] { (void)io::read_npy<float>(data); },
                      {"data_past_end.npy", "truncated data", "1073741824"});
  // The same for every element type.
  expect_error_within(small_budget, [&] { (void)io::read_npy<std::uint8_t>(data); }, {"data_past_end.npy", "dtype"});
}

TEST(HostileNpy, MalformedShapesAreLaborErrorsNamingTheFile) {
  // 20 digits do not fit in int64 (std::stoll threw std::out_of_range "stoll").
  const auto digits = regression("npy", "dimension_20_digits.npy");
  expect_error([&] { (void)io::read_npy<float>(digits); }, {"dimension_20_digits.npy", "shape", "int64"});
  // A negative extent was read as a positive one ("(-1, 4)" as (1, 4)).
  const auto negative = regression("npy", "negative_dimension.npy");
  expect_error([&] { (void)io::read_npy<float>(negative); }, {"negative_dimension.npy", "negative"});

  TempDir dir;
  const auto p = dir / "s.npy";
  for (const char* shape : {"(2.5,)", "(3, x)", "(3,, 4)", "[3]", "3", "(1, 2, 3, 4, 5)", "(+3,)"}) {
    write_bytes(p, npy_f4(shape, 64));
    expect_error([&] { (void)io::read_npy<float>(p); }, {"s.npy", "shape", "expected a tuple"});
  }
  write_bytes(p, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4", 64));
  expect_error([&] { (void)io::read_npy<float>(p); }, {"s.npy", "malformed shape"});
  // Accepted: numpy's own forms, Python 2's long suffix.
  for (const char* shape : {"()", "(4,)", "(2, 2)", "(2, 2,)", "(2L, 2L)", "( 1 , 4 )"}) {
    write_bytes(p, npy_f4(shape, 16));
    EXPECT_EQ(io::read_npy<float>(p).numel(), shape == std::string("()") ? 1 : 4) << shape;
  }
}

TEST(HostileNpy, MessagesQuoteAtMostAnExcerptOfTheHeader) {
  TempDir dir;
  const auto p = dir / "long.npy";
  write_bytes(p, npy_bytes("{'x': '" + std::string(20000, 'y') + "'}", 0));
  const std::string msg = error_of([&] { (void)io::read_npy<float>(p); });
  EXPECT_NE(msg.find("long.npy"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'descr'"), std::string::npos) << msg;
  EXPECT_LT(msg.size(), 400u) << msg.substr(0, 400);
}

TEST(HostileNpy, EveryTruncationAndEveryOtherFileIsALaborError) {
  TempDir dir;
  const std::string good = npy_f4("(2, 3)", 24);
  write_bytes(dir / "good.npy", good);
  ASSERT_EQ(io::read_npy<float>(dir / "good.npy").numel(), 6);
  for (std::size_t cut = 0; cut < good.size(); ++cut) {
    write_bytes(dir / "cut.npy", good.substr(0, cut));
    expect_error([&] { (void)io::read_npy<float>(dir / "cut.npy"); }, {"cut.npy"});
  }
  fs::create_directory(dir / "folder.npy");
  expect_error([&] { (void)io::read_npy<float>(dir / "folder.npy"); }, {"folder.npy"});
  // A version 2 header whose length is cut off.
  write_bytes(dir / "v2.npy", std::string("\x93NUMPY\x02\x00\x10\x00", 10));
  expect_error([&] { (void)io::read_npy<float>(dir / "v2.npy"); }, {"v2.npy", "truncated header"});
}

// ---- PNG -----------------------------------------------------------------------------------------

TEST(HostilePng, HeadersOverThePixelLimitAreRefusedBeforeAllocating) {
  // 42-byte files declaring 100000×50000 grayscale (5 GB) and 80000×80000 RGB (19 GB).
  for (const char* name : {"dims_5gb_gray.png", "dims_19gb_rgb.png"}) {
    const auto p = regression("png", name);
    expect_error_within(small_budget, [&] { (void)io::read_png_gray(p); }, {name, "max_pixels"});
    expect_error_within(small_budget, [&] { (void)io::read_png_rgb(p); }, {name, "max_pixels"});
    // png_size, the readers' cheap check, applies the same limits.
    expect_error([&] { (void)io::png_size(p); }, {name, "max_pixels"});
  }
  // 16384×16384 is within the pixel limit, but 42 bytes cannot hold its compressed data.
  const auto short_file = regression("png", "short_file_256_megapixels.png");
  expect_error_within(small_budget, [&] { (void)io::read_png_gray(short_file); },
                      {"short_file_256_megapixels.png", "compressed", "1032"});
}

TEST(HostilePng, LimitsAreConfigurable) {
  TempDir dir;
  Tensor<std::uint8_t> img(Shape{40, 50});
  for (std::int64_t i = 0; i < img.numel(); ++i) img[i] = static_cast<std::uint8_t>(i * 7);
  io::write_png(dir / "a.png", img);
  EXPECT_EQ(io::read_png_gray(dir / "a.png").numel(), 2000);
  EXPECT_EQ(io::read_png_gray(dir / "a.png", {.max_side = 50, .max_pixels = 2000}).numel(), 2000);
  expect_error([&] { (void)io::read_png_gray(dir / "a.png", {.max_pixels = 1999}); },
               {"a.png", "40×50", "2000 pixels", "at most 1999"});
  expect_error([&] { (void)io::read_png_rgb(dir / "a.png", {.max_side = 49}); }, {"a.png", "max_side", "49"});
  expect_error([&] { (void)io::png_size(dir / "a.png", {.max_side = 39}); }, {"a.png", "max_side"});
  EXPECT_EQ(io::png_size(dir / "a.png").width, 50);
}

std::uint32_t crc32(const std::string& bytes) {
  std::uint32_t c = 0xffffffffu;
  for (unsigned char b : bytes) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return c ^ 0xffffffffu;
}
void put_be32(std::string& s, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) s[at + static_cast<std::size_t>(i)] = static_cast<char>(v >> (24 - 8 * i));
}

TEST(HostilePng, EveryHeaderVariantReadsOrThrowsALaborError) {
  // A valid image with its IHDR rewritten (CRC fixed): every colour type, bit depth, interlace
  // method and a few sizes that do not match the image data. libpng must refuse or read each one,
  // and labor report it as a labor::Error naming the file.
  TempDir dir;
  Tensor<std::uint8_t> img(Shape{9, 7});
  for (std::int64_t i = 0; i < img.numel(); ++i) img[i] = static_cast<std::uint8_t>(i * 29);
  io::write_png(dir / "base.png", img);
  const std::string base = read_bytes(dir / "base.png");
  ASSERT_EQ(base.substr(12, 4), "IHDR");
  const auto p = dir / "v.png";
  int read = 0, refused = 0;
  for (int color : {0, 2, 3, 4, 6, 5})
    for (int depth : {1, 2, 4, 8, 16, 3})
      for (int interlace : {0, 1, 2})
        for (std::uint32_t width : {7u, 1u, 300u, 0u})
          for (std::uint32_t height : {9u, 100000u}) {
            std::string v = base;
            put_be32(v, 16, width);
            put_be32(v, 20, height);
            v[24] = static_cast<char>(depth);
            v[25] = static_cast<char>(color);
            v[28] = static_cast<char>(interlace);
            put_be32(v, 29, crc32(v.substr(12, 17)));
            write_bytes(p, v);
            for (bool rgb : {false, true}) {
              try {
                const auto t = rgb ? io::read_png_rgb(p) : io::read_png_gray(p);
                ASSERT_EQ(t.size(0), static_cast<std::int64_t>(height));
                ASSERT_EQ(t.size(1), static_cast<std::int64_t>(width));
                ++read;
              } catch (const labor::Error& e) {
                ASSERT_NE(std::string(e.what()).find("v.png"), std::string::npos) << e.what();
                ++refused;
              }
            }
          }
  EXPECT_GT(read, 0);  // the unchanged header among them
  EXPECT_GT(refused, 0);
}

TEST(HostilePng, BadCrcAndMissingPaletteAreLaborErrors) {
  TempDir dir;
  Tensor<std::uint8_t> img(Shape{4, 4});
  io::write_png(dir / "base.png", img);
  const std::string base = read_bytes(dir / "base.png");
  std::string crc = base;
  crc[29] = static_cast<char>(crc[29] ^ 1);  // the IHDR CRC
  write_bytes(dir / "crc.png", crc);
  expect_error([&] { (void)io::read_png_gray(dir / "crc.png"); }, {"crc.png", "corrupt"});
  std::string palette = base;  // colour type 3 without a PLTE chunk
  palette[25] = 3;
  put_be32(palette, 29, crc32(palette.substr(12, 17)));
  write_bytes(dir / "nopal.png", palette);
  expect_error([&] { (void)io::read_png_rgb(dir / "nopal.png"); }, {"nopal.png"});
  expect_error([&] { (void)io::read_png_gray(dir / "nopal.png"); }, {"nopal.png"});
}

// ---- safetensors ---------------------------------------------------------------------------------


TEST(HostileSafetensors, ReproducersAreLaborErrorsNamingTheFile) {
  // Offsets above INT64_MAX became negative and ended in a bare std::out_of_range from substr.
  const auto above = regression("safetensors", "offsets_above_int64.safetensors");
  expect_error([&] { (void)io::read_safetensors(above); },
               {"offsets_above_int64.safetensors", "data_offsets", "non-negative integers (int64)"});
  // (2^62+1)·4 elements wrapped to 4, so 16 bytes passed the size check.
  const auto numel = regression("safetensors", "numel_overflow.safetensors");
  expect_error([&] { (void)io::read_safetensors(numel); }, {"numel_overflow.safetensors", "'a'", "overflows int64"});
  const auto dup = regression("safetensors", "duplicate_key.safetensors");
  expect_error([&] { (void)io::read_safetensors(dup); }, {"duplicate_key.safetensors", "'a'", "appears twice"});
  const auto nested = regression("safetensors", "header_nested.safetensors");
  expect_error([&] { (void)io::read_safetensors(nested); }, {"header_nested.safetensors", "nested deeper"});
  const auto zero = regression("safetensors", "header_length_zero.safetensors");
  expect_error([&] { (void)io::read_safetensors(zero); }, {"header_length_zero.safetensors", "JSON header"});
}

TEST(HostileSafetensors, EmptyTensorsConvert) {
  // F32 [0] (memcpy from an empty buffer into a null pointer was undefined behaviour).
  const auto f = io::read_safetensors(regression("safetensors", "empty_f32.safetensors"));
  const auto t = f.to_float("a");
  EXPECT_EQ(t.numel(), 0);
  EXPECT_EQ(t.shape(), Shape{0});
  TempDir dir;
  write_bytes(dir / "e.safetensors", safetensors_bytes(R"({"i":{"dtype":"I32","shape":[2,0],"data_offsets":[0,0]},)"
                                             R"("h":{"dtype":"F16","shape":[0],"data_offsets":[0,0]}})",
                                             ""));
  const auto e = io::read_safetensors(dir / "e.safetensors");
  EXPECT_EQ(e.to_int32("i").shape(), (Shape{2, 0}));
  EXPECT_EQ(e.to_float("h").numel(), 0);
}

TEST(HostileSafetensors, OverlappingTensorsAreRefusedBeforeTheirBytesAreCopied) {
  // 1400 tensors over one 96 KiB buffer: 131 MiB of copies from a 190 KB file.
  const auto p = regression("safetensors", "overlap_amplification.safetensors");
  expect_error_within(small_budget, [&] { (void)io::read_safetensors(p); },
                      {"overlap_amplification.safetensors", "overlap"});
}

TEST(HostileSafetensors, HeaderValuesOfTheWrongTypeAreNamedAndQuoted) {
  TempDir dir;
  const auto p = dir / "t.safetensors";
  const auto expect_bad = [&](const std::string& header, const std::string& data, std::vector<std::string> parts) {
    write_bytes(p, safetensors_bytes(header, data));
    parts.push_back("t.safetensors");
    expect_error([&] { (void)io::read_safetensors(p); }, parts);
  };
  expect_bad(R"({"a":{"dtype":5,"shape":[1],"data_offsets":[0,4]}})", "1234", {"'a'", "dtype", "got 5"});
  expect_bad(R"({"a":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})", "1234", {"'a'", "shape", "\"1\""});
  expect_bad(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", "1234", {"'a'", "shape", "1.5"});
  expect_bad(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "1234", {"'a'", "shape", "-1"});
  expect_bad(R"({"a":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,4]}})", "1234",
             {"'a'", "shape", "9223372036854775808"});
  expect_bad(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", "1234",
             {"'a'", "data_offsets", "an array of 1 elements"});
  expect_bad(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,"4"]}})", "1234", {"'a'", "data_offsets", "\"4\""});
  expect_bad(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", "1234", {"'a'", "outside"});
  expect_bad(R"({"a":[1,2]})", "", {"'a'", "an array of 2 elements"});
  expect_bad(R"([1,2,3])", "", {"expected a JSON object", "an array of 3 elements"});
  expect_bad(R"({"__metadata__":{"k":[[[1]]]}})", "", {"__metadata__ 'k'", "an array of 1 elements"});
  expect_bad(R"({"__metadata__":"x"})", "", {"__metadata__", "\"x\""});
  // A tensor over the end of a buffer that other tensors tile.
  expect_bad(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],)"
             R"("data_offsets":[4,12]}})",
             "12345678", {"'b'", "outside"});
}

TEST(HostileSafetensors, LongNamesAndValuesAreCutInMessages) {
  TempDir dir;
  const auto p = dir / "n.safetensors";
  const std::string name(100000, 'k');
  write_bytes(p, safetensors_bytes(R"({")" + name + R"(":{"dtype":"Q7","shape":[1],"data_offsets":[0,1]}})", "1"));
  std::string msg = error_of([&] { (void)io::read_safetensors(p); });
  EXPECT_NE(msg.find("unknown dtype"), std::string::npos) << msg.substr(0, 300);
  EXPECT_LT(msg.size(), 400u) << msg.substr(0, 400);
  write_bytes(p, safetensors_bytes(R"({"a":{"dtype":")" + name + R"(","shape":[1],"data_offsets":[0,1]}})", "1"));
  msg = error_of([&] { (void)io::read_safetensors(p); });
  EXPECT_NE(msg.find("unknown dtype"), std::string::npos) << msg.substr(0, 300);
  EXPECT_LT(msg.size(), 400u) << msg.substr(0, 400);
}

TEST(HostileSafetensors, EveryTruncationIsALaborError) {
  TempDir dir;
  const auto a = Tensor<float>::from(Shape{2, 2}, {1, 2, 3, 4});
  io::write_safetensors(dir / "good.safetensors", {{"a", a.view()}, {"b", a.view()}}, {{"k", "v"}});
  const std::string good = read_bytes(dir / "good.safetensors");
  for (std::size_t cut = 0; cut < good.size(); ++cut) {
    write_bytes(dir / "cut.safetensors", good.substr(0, cut));
    expect_error([&] { (void)io::read_safetensors(dir / "cut.safetensors"); }, {"cut.safetensors"});
  }
}

TEST(HostileSafetensors, HandMadeEntriesCannotDisagreeWithTheirShape) {
  io::SafetensorsFile f;
  f.path = "hand.safetensors";
  f.tensors["a"] = {"F32", {4, 4}, std::string(16, '\0')};  // 16 elements over 4 floats' bytes
  f.tensors["b"] = {"I32", {2}, std::string(4, '\0')};
  f.tensors["c"] = {"F32", {4611686018427387905, 4}, std::string(16, '\0')};
  f.tensors["d"] = {"F16", {1, 1, 1, 1, 1}, std::string(2, '\0')};
  expect_error([&] { (void)f.to_float("a"); }, {"hand.safetensors", "'a'", "byte size", "expected 64", "got 16"});
  expect_error([&] { (void)f.to_int32("b"); }, {"hand.safetensors", "'b'", "byte size"});
  expect_error([&] { (void)f.to_float("c"); }, {"hand.safetensors", "'c'", "overflows int64"});
  expect_error([&] { (void)f.to_float("d"); }, {"hand.safetensors", "'d'", "rank"});
}

// ---- load_weights --------------------------------------------------------------------------------

struct OneTensor {
  using value_type = float;
  using device_type = labor::cpu;
  Tensor<float> w{Shape{2, 2}};
  template <class V>
  void visit(V& v, const std::string& prefix) {
    v.buffer(prefix + "w", w);
  }
};

TEST(HostileWeights, BadFilesAndLongProblemListsStayBounded) {
  OneTensor model;
  expect_error([&] { io::load_weights(model, regression("safetensors", "numel_overflow.safetensors")); },
               {"numel_overflow.safetensors", "overflows int64"});
  expect_error([&] { io::load_weights(model, regression("safetensors", "offsets_above_int64.safetensors")); },
               {"offsets_above_int64.safetensors", "data_offsets"});

  // 1100 unexpected keys of 1000 characters each and a shape of 1000 extents: the first 1000
  // problems are listed, names and shapes cut.
  io::SafetensorsFile f;
  f.path = "many.safetensors";
  for (int i = 0; i < 1100; ++i) f.tensors[fmt::format("{:04}", i) + std::string(1000, 'x')] = {"F32", {1}, "1234"};
  f.tensors["w"] = {"F32", std::vector<std::int64_t>(1000, 1), "1234"};
  io::WeightTargets targets{{"w", &model.w}};
  const std::string msg = error_of([&] { (void)io::match_weights(f, targets, {}, "load_weights"); });
  EXPECT_NE(msg.find("many.safetensors"), std::string::npos);
  EXPECT_NE(msg.find("(1101 problems)"), std::string::npos) << msg.substr(0, 300);
  EXPECT_NE(msg.find("and 101 more"), std::string::npos) << msg.substr(msg.size() > 300 ? msg.size() - 300 : 0);
  EXPECT_NE(msg.find("(1000 extents)"), std::string::npos);
  EXPECT_LT(msg.size(), 120000u);  // 1000 names of at most 80 characters, not 1.1 MB
}

}  // namespace
