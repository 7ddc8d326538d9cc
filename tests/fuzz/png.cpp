// libFuzzer harness: io::png_size, read_png_gray and read_png_rgb, and the label-PNG path of file
// datasets (read_png_gray, then data::LabelMap::apply with the identity map and the Cityscapes
// table). Each input is tried as it is and with its chunks' CRCs recomputed.
#include <zlib.h>

#include "fuzz_support.hpp"
#include "labor/data/label_map.hpp"
#include "labor/io/png.hpp"

namespace {

/// `bytes` with the CRC of every complete chunk after the signature recomputed, so that mutations
/// of a chunk's data reach libpng's decoding instead of its CRC check.
std::string with_crcs(std::string bytes) {
  std::size_t p = 8;
  while (p + 12 <= bytes.size()) {
    const auto* b = reinterpret_cast<const unsigned char*>(bytes.data() + p);
    const std::size_t len = (std::size_t{b[0]} << 24) | (std::size_t{b[1]} << 16) | (std::size_t{b[2]} << 8) | b[3];
    if (len > bytes.size() - p - 12) break;
    const auto crc = static_cast<std::uint32_t>(
        ::crc32(0, reinterpret_cast<const Bytef*>(bytes.data() + p + 4), static_cast<uInt>(len + 4)));
    for (int i = 0; i < 4; ++i) bytes[p + 8 + len + i] = static_cast<char>(crc >> (24 - 8 * i));
    p += len + 12;
  }
  return bytes;
}

void check(const std::filesystem::path& file);

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  check(labor::fuzz::write_file(labor::fuzz::scratch() / "input.png", bytes));
  const std::string fixed = with_crcs(bytes);
  if (fixed != bytes) check(labor::fuzz::write_file(labor::fuzz::scratch() / "input.png", fixed));
  return 0;
}

namespace {

void check(const std::filesystem::path& file) {
  using namespace labor;
  io::PngSize header;
  const bool sized = fuzz::accepts([&] { header = io::png_size(file); });
  Tensor<std::uint8_t, cpu> gray, rgb;
  if (fuzz::accepts([&] { gray = io::read_png_gray(file); })) {
    fuzz::expect(sized, "read_png_gray accepted a file png_size refused");
    fuzz::check_tensor(gray, "read_png_gray: shape and storage disagree");
    fuzz::expect(gray.rank() == 2 && gray.size(0) == header.height && gray.size(1) == header.width,
                 "read_png_gray: shape differs from png_size");
    static const data::LabelMap identity;
    static const data::LabelMap cityscapes = data::cityscapes_train_ids();
    for (const auto* map : {&identity, &cityscapes}) {
      Tensor<std::int32_t, cpu> labels;
      if (fuzz::accepts([&] { labels = map->apply(gray, 19, file.string()); })) {
        fuzz::check_tensor(labels, "LabelMap::apply: shape and storage disagree");
        fuzz::expect(labels.shape() == gray.shape(), "LabelMap::apply: shape changed");
        for (std::int64_t i = 0; i < labels.numel(); ++i)
          fuzz::expect((labels[i] >= 0 && labels[i] < 19) || labels[i] == 255, "LabelMap::apply: label out of range");
      }
    }
  }
  if (fuzz::accepts([&] { rgb = io::read_png_rgb(file); })) {
    fuzz::expect(sized, "read_png_rgb accepted a file png_size refused");
    fuzz::check_tensor(rgb, "read_png_rgb: shape and storage disagree");
    fuzz::expect(rgb.rank() == 3 && rgb.size(0) == header.height && rgb.size(1) == header.width && rgb.size(2) == 3,
                 "read_png_rgb: shape differs from png_size");
  }
}

}  // namespace
