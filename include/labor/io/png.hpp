#pragma once
/// @file png.hpp
/// PNG files through libpng: 8-bit grayscale images (label maps, masks) as H×W tensors and 8-bit
/// RGB images as H×W×3 tensors (row-major, channels last: element (y, x, c) at (y·W + x)·3 + c),
/// both Tensor<std::uint8_t>. Writes are atomic (temporary file, fsync, rename).
///
/// Conversions on reading:
/// - read_png_gray: 8-bit grayscale as stored; 1/2/4-bit grayscale and palette images give their
///   stored values unscaled (a palette image gives its palette indices, as GTA5 label maps need);
///   a tRNS chunk is ignored. RGB, alpha and 16-bit images are rejected.
/// - read_png_rgb: 8-bit RGB as stored; palette images are expanded to their colours; grayscale
///   (any depth ≤ 8) is scaled to 8 bits and replicated to three channels; a tRNS colour key is
///   ignored. Images with an alpha channel and 16-bit images are rejected.
/// Limits (io::PngLimits, checked on the header before anything is allocated): at most 2^28 pixels
/// and 10^6 per side by default, and no more pixels than the file's compressed bytes can hold
/// (deflate compresses at most 1032:1), so a short file cannot make a reader allocate much.
/// Every failure (missing file, not a PNG, corrupt or truncated data, a rejected format, an image
/// over the limits) throws labor::Error naming the file. libpng's errors are caught with
/// setjmp/longjmp inside small functions that own no C++ objects, so no destructor is ever skipped.

#include <png.h>

#include <cerrno>
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/io/detail/atomic_file.hpp"

namespace labor::io {

/// Limits on the PNG images labor reads (read_png_gray, read_png_rgb, png_size), checked on the
/// header before any pixel memory is allocated: the counterpart of libpng's png_set_user_limits
/// with a pixel budget added. The defaults admit every image size labor's data sets use (Cityscapes
/// 2048×1024, GTA5 1914×1052) with room to spare: 2^28 pixels are 256 MiB as a label map and
/// 768 MiB as RGB.
struct PngLimits {
  /// Largest accepted width and largest accepted height (libpng's own default user limit).
  std::int64_t max_side = 1'000'000;
  /// Largest accepted width × height.
  std::int64_t max_pixels = std::int64_t{1} << 28;
  /// Largest ancillary chunk (text, ICC profile, ...) libpng may allocate, in bytes.
  std::size_t max_chunk_bytes = std::size_t{8} << 20;
};

/// How write_png encodes. The default is libpng's (zlib level 6, the filter chosen per row among
/// all five): the smallest files. `fast` takes zlib level 1 and the Sub filter on every row:
/// measured 1.6× faster on 512×1024 photographs (34 against 54 ms) for files about 5 % larger;
/// the annotator's pictures of a labeling round are written this way.
struct PngWriteOptions {
  bool fast = false;
};

namespace detail {

/// deflate's largest compression ratio: a 258-byte match costs at least 2 bits.
inline constexpr std::uint64_t deflate_max_ratio = 1032;

/// libpng's error pointer: the last error message.
struct PngErrorState {
  char message[256] = {};
};

inline void png_error_handler(png_structp png, png_const_charp msg) {
  auto* state = static_cast<PngErrorState*>(png_get_error_ptr(png));
  if (state != nullptr) std::snprintf(state->message, sizeof state->message, "%s", msg ? msg : "unknown error");
  png_longjmp(png, 1);
}

inline void png_warning_handler(png_structp, png_const_charp) {}

/// IHDR fields of a PNG being read.
struct PngHeader {
  png_uint_32 width = 0, height = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
  bool has_trns = false;
};

/// Owns the FILE and libpng structures of one read; releases them on every path.
struct PngReader {
  std::FILE* fp = nullptr;
  png_structp png = nullptr;
  png_infop info = nullptr;
  PngErrorState error;
  PngReader() = default;
  PngReader(const PngReader&) = delete;
  PngReader& operator=(const PngReader&) = delete;
  ~PngReader() {
    if (png != nullptr) png_destroy_read_struct(&png, info != nullptr ? &info : nullptr, nullptr);
    if (fp != nullptr) std::fclose(fp);
  }
};

/// Owns the libpng structures of one write.
struct PngWriter {
  png_structp png = nullptr;
  png_infop info = nullptr;
  PngErrorState error;
  PngWriter() = default;
  PngWriter(const PngWriter&) = delete;
  PngWriter& operator=(const PngWriter&) = delete;
  ~PngWriter() {
    if (png != nullptr) png_destroy_write_struct(&png, info != nullptr ? &info : nullptr);
  }
};

// The png_* phases below call setjmp and then only libpng: they hold no object with a destructor,
// so a longjmp out of libpng back into them skips nothing. They return false after an error.

inline bool png_phase_header(png_structp png, png_infop info, std::FILE* fp, PngHeader* h) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_init_io(png, fp);
  png_set_sig_bytes(png, 8);
  png_read_info(png, info);
  png_get_IHDR(png, info, &h->width, &h->height, &h->bit_depth, &h->color_type, &h->interlace, nullptr, nullptr);
  h->has_trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
  return true;
}

/// Sets up the transformations; reports the channels and bytes per row that result.
inline bool png_phase_transform(png_structp png, png_infop info, const PngHeader* h, bool rgb, int* channels,
                                std::size_t* rowbytes) {
  if (setjmp(png_jmpbuf(png))) return false;
  if (rgb) {
    if (h->color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (h->color_type == PNG_COLOR_TYPE_GRAY) {
      if (h->bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
      png_set_gray_to_rgb(png);
    }
    if (h->has_trns) png_set_strip_alpha(png);
  } else if (h->bit_depth < 8) {
    png_set_packing(png);
  }
  if (h->interlace != PNG_INTERLACE_NONE) (void)png_set_interlace_handling(png);
  png_read_update_info(png, info);
  *channels = png_get_channels(png, info);
  *rowbytes = png_get_rowbytes(png, info);
  return true;
}

inline bool png_phase_read(png_structp png, png_infop info, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  png_read_end(png, info);
  return true;
}

inline bool png_phase_write(png_structp png, png_infop info, std::FILE* fp, png_uint_32 width, png_uint_32 height,
                            int color_type, png_bytepp rows, bool fast) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_init_io(png, fp);
  if (fast) {
    png_set_compression_level(png, 1);
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
  }
  png_set_IHDR(png, info, width, height, 8, color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  return true;
}

inline const char* png_color_type_name(int color_type) {
  switch (color_type) {
    case PNG_COLOR_TYPE_GRAY:
      return "grayscale";
    case PNG_COLOR_TYPE_GRAY_ALPHA:
      return "grayscale+alpha";
    case PNG_COLOR_TYPE_PALETTE:
      return "palette";
    case PNG_COLOR_TYPE_RGB:
      return "RGB";
    case PNG_COLOR_TYPE_RGB_ALPHA:
      return "RGBA";
    default:
      return "unknown colour type";
  }
}

/// Samples per pixel of a colour type as stored (before any transformation).
inline int png_stored_channels(int color_type) {
  switch (color_type) {
    case PNG_COLOR_TYPE_RGB:
      return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA:
      return 4;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
      return 2;
    default:
      return 1;
  }
}

/// Checks the header of `file` (of `file_size` bytes, 0 when unknown) against `limits`.
inline void png_check_limits(const PngHeader& h, const std::string& path, std::uintmax_t file_size,
                             const PngLimits& limits) {
  const auto width = static_cast<std::int64_t>(h.width), height = static_cast<std::int64_t>(h.height);
  LABOR_CHECK(width <= limits.max_side && height <= limits.max_side,
              "png '{}': image size {}×{} (height×width): expected at most {} per side (io::PngLimits::max_side)", path,
              height, width, limits.max_side);
  // Both are below 2^31, so the products fit in int64 / uint64.
  LABOR_CHECK(width * height <= limits.max_pixels,
              "png '{}': image size {}×{} (height×width): {} pixels, expected at most {} (io::PngLimits::max_pixels)",
              path, height, width, width * height, limits.max_pixels);
  const std::uint64_t bits = static_cast<std::uint64_t>(width * height) *
                             static_cast<std::uint64_t>(png_stored_channels(h.color_type) * h.bit_depth);
  const std::uint64_t min_compressed = (bits + 7) / 8 / deflate_max_ratio;
  LABOR_CHECK(file_size == 0 || min_compressed <= file_size,
              "png '{}': truncated: a {}×{} (height×width) image needs at least {} bytes of compressed data (deflate "
              "compresses at most {}:1), the file has {}",
              path, height, width, min_compressed, deflate_max_ratio, file_size);
}

/// Opens `file` into `r`, checks the signature, reads the header chunks and checks the header
/// against `limits`.
inline PngHeader png_open(PngReader& r, const std::filesystem::path& file, const PngLimits& limits) {
  const std::string path = file.string();
  r.fp = std::fopen(file.c_str(), "rb");
  LABOR_CHECK(r.fp != nullptr, "png '{}': cannot open file: {}", path, std::strerror(errno));
  png_byte sig[8] = {};
  const std::size_t got = std::fread(sig, 1, 8, r.fp);
  LABOR_CHECK(got == 8 && png_sig_cmp(sig, 0, 8) == 0, "png '{}': not a PNG file (bad signature{})", path,
              got < 8 ? ", file shorter than 8 bytes" : "");
  r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r.error, png_error_handler, png_warning_handler);
  LABOR_CHECK(r.png != nullptr, "png '{}': cannot create the libpng reader", path);
  r.info = png_create_info_struct(r.png);
  LABOR_CHECK(r.info != nullptr, "png '{}': cannot create the libpng info", path);
  // The size limits are labor's own (png_check_limits, with messages naming PngLimits): libpng's
  // are opened to the format's maximum.
  png_set_user_limits(r.png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
  png_set_chunk_malloc_max(r.png, limits.max_chunk_bytes);
  PngHeader h;
  LABOR_CHECK(png_phase_header(r.png, r.info, r.fp, &h), "png '{}': corrupt or truncated: {}", path, r.error.message);
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(file, ec);
  png_check_limits(h, path, ec ? 0 : size, limits);
  return h;
}

/// Reads `file` as H×W (rgb = false) or H×W×3 (rgb = true) under the rules in the file comment.
inline Tensor<std::uint8_t, cpu> read_png(const std::filesystem::path& file, bool rgb, const PngLimits& limits) {
  const std::string path = file.string();
  const char* fn = rgb ? "read_png_rgb" : "read_png_gray";
  PngReader r;
  const PngHeader h = png_open(r, file, limits);
  LABOR_CHECK(h.bit_depth <= 8, "png '{}': {}: bit depth: expected at most 8, got {} ({}); convert to 8-bit", path, fn,
              h.bit_depth, png_color_type_name(h.color_type));
  LABOR_CHECK((h.color_type & PNG_COLOR_MASK_ALPHA) == 0,
              "png '{}': {}: colour type: expected no alpha channel, got {}", path, fn,
              png_color_type_name(h.color_type));
  if (!rgb)
    LABOR_CHECK(h.color_type == PNG_COLOR_TYPE_GRAY || h.color_type == PNG_COLOR_TYPE_PALETTE,
                "png '{}': {}: colour type: expected grayscale or palette, got {}", path, fn,
                png_color_type_name(h.color_type));

  int channels = 0;
  std::size_t rowbytes = 0;
  LABOR_CHECK(png_phase_transform(r.png, r.info, &h, rgb, &channels, &rowbytes), "png '{}': corrupt: {}", path,
              r.error.message);
  const int want = rgb ? 3 : 1;
  LABOR_CHECK(channels == want && rowbytes == static_cast<std::size_t>(h.width) * static_cast<std::size_t>(want),
              "png '{}': {}: unsupported layout after conversion: {} channels, {} bytes per row for width {}", path, fn,
              channels, rowbytes, h.width);

  const auto height = static_cast<std::int64_t>(h.height), width = static_cast<std::int64_t>(h.width);
  auto t = rgb ? Tensor<std::uint8_t, cpu>::uninitialized(Shape{height, width, 3})
               : Tensor<std::uint8_t, cpu>::uninitialized(Shape{height, width});
  std::vector<png_bytep> rows(static_cast<std::size_t>(height));
  for (std::int64_t y = 0; y < height; ++y)
    rows[static_cast<std::size_t>(y)] = t.data() + static_cast<std::size_t>(y) * rowbytes;
  LABOR_CHECK(png_phase_read(r.png, r.info, rows.data()), "png '{}': corrupt or truncated image data: {}", path,
              r.error.message);
  return t;
}

}  // namespace detail

/// Height and width of a PNG image as stored in its header.
struct PngSize {
  std::int64_t height = 0;
  std::int64_t width = 0;
};

/// Reads only the signature and the header chunks of `file` (no pixel data): a cheap check that the
/// file exists, is a PNG, has the given size and is within `limits` (so that the readers accept
/// it as far as its header tells). Throws labor::Error naming the file for a missing or unreadable
/// file, a bad signature, a corrupt header or an image over the limits.
inline PngSize png_size(const std::filesystem::path& file, const PngLimits& limits = {}) {
  detail::PngReader r;
  const detail::PngHeader h = detail::png_open(r, file, limits);
  return {static_cast<std::int64_t>(h.height), static_cast<std::int64_t>(h.width)};
}

/// Reads an 8-bit grayscale (or palette-index) PNG as an H×W tensor; see the file comment for the
/// accepted formats. Throws labor::Error naming the file for a missing, corrupt or truncated file,
/// an RGB, alpha or 16-bit image, or an image over `limits` (checked before allocating).
inline Tensor<std::uint8_t, cpu> read_png_gray(const std::filesystem::path& file, const PngLimits& limits = {}) {
  return detail::read_png(file, false, limits);
}

/// Reads a PNG as an H×W×3 RGB tensor (channels last); palette and grayscale images are converted.
/// Throws labor::Error naming the file for a missing, corrupt or truncated file, an alpha channel,
/// a 16-bit image, or an image over `limits` (checked before allocating).
inline Tensor<std::uint8_t, cpu> read_png_rgb(const std::filesystem::path& file, const PngLimits& limits = {}) {
  return detail::read_png(file, true, limits);
}

/// Writes an 8-bit PNG: an H×W (or H×W×1) tensor as grayscale, an H×W×3 tensor (channels last) as
/// RGB. H and W must be positive. Atomic: a temporary file in the same folder is written, fsync'ed
/// and renamed over `file`; on failure `file` is untouched. Throws labor::Error naming the file.
inline void write_png(const std::filesystem::path& file, TensorView<const std::uint8_t, cpu> image,
                      const PngWriteOptions& options = {}) {
  const std::string path = file.string();
  const auto& s = image.shape();
  const bool gray = s.rank() == 2 || (s.rank() == 3 && s[2] == 1);
  LABOR_CHECK(gray || (s.rank() == 3 && s[2] == 3), "png '{}': write_png: shape: expected H×W or H×W×3, got {}", path,
              s);
  LABOR_CHECK(s[0] > 0 && s[1] > 0 && s[0] <= PNG_UINT_31_MAX && s[1] <= PNG_UINT_31_MAX,
              "png '{}': write_png: height and width: expected positive, got shape {}", path, s);
  const std::int64_t height = s[0], width = s[1], channels = gray ? 1 : 3;
  std::vector<png_bytep> rows(static_cast<std::size_t>(height));
  for (std::int64_t y = 0; y < height; ++y)
    rows[static_cast<std::size_t>(y)] = const_cast<png_bytep>(image.data() + y * width * channels);

  detail::AtomicFile out(file, "png");
  detail::PngWriter w;
  w.png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, &w.error, detail::png_error_handler, detail::png_warning_handler);
  LABOR_CHECK(w.png != nullptr, "png '{}': cannot create the libpng writer", path);
  w.info = png_create_info_struct(w.png);
  LABOR_CHECK(w.info != nullptr, "png '{}': cannot create the libpng info", path);
  LABOR_CHECK(detail::png_phase_write(w.png, w.info, out.get(), static_cast<png_uint_32>(width),
                                      static_cast<png_uint_32>(height), gray ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                                      rows.data(), options.fast),
              "png '{}': write failed: {}", path, w.error.message);
  out.commit();
}

/// write_png of an owning tensor.
inline void write_png(const std::filesystem::path& file, const Tensor<std::uint8_t, cpu>& image,
                      const PngWriteOptions& options = {}) {
  write_png(file, image.view(), options);
}

}  // namespace labor::io
