// libFuzzer harness: io::png_size, read_png_gray and read_png_rgb, and the label-PNG path of file
// datasets (read_png_gray, then data::LabelMap::apply with the identity map and the Cityscapes
// table).
#include "fuzz_support.hpp"
#include "labor/data/label_map.hpp"
#include "labor/io/png.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace labor;
  const auto file = fuzz::write_file(fuzz::scratch() / "input.png", data, size);
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
  return 0;
}
