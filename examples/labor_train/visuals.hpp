#pragma once
// labor_train's pictures: per test image one PNG row of captioned panels — input, ground truth,
// the prediction of every method, the selector's inconsistency mask and the PPL points.

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <labor/core/error.hpp>
#include <labor/core/tensor.hpp>
#include <labor/io/draw.hpp>
#include <labor/io/png.hpp>

namespace labor_train {

/// A colour per class (Cityscapes-like for the synthetic classes), black for 255.
inline std::array<std::uint8_t, 3> class_colour(std::int32_t label) {
  static constexpr std::uint8_t table[][3] = {
      {128, 64, 128},  {244, 35, 232},  {70, 70, 70}, {153, 153, 153}, {220, 220, 0}, {107, 142, 35}, {152, 251, 152},
      {70, 130, 180},  {220, 20, 60},   {0, 0, 142},  {119, 11, 32},   {0, 60, 100},  {0, 80, 100},   {250, 170, 30},
      {102, 102, 156}, {190, 153, 153}, {255, 0, 0},  {0, 0, 230},     {0, 0, 70}};
  constexpr auto n = static_cast<std::int32_t>(sizeof table / sizeof table[0]);
  if (label < 0 || label == 255) return {0, 0, 0};
  const auto* c = table[label % n];
  return {c[0], c[1], c[2]};
}

/// One panel: H×W×3 bytes.
using Panel = labor::Tensor<std::uint8_t, labor::cpu>;

/// An RGB image (3×H×W floats in [0, 1]) as a panel.
inline Panel image_panel(const labor::Tensor<float, labor::cpu>& img) {
  return labor::io::to_rgb8(img);
}

/// A label map (H×W) in class colours.
inline Panel label_panel(const labor::Tensor<std::int32_t, labor::cpu>& labels) {
  const std::int64_t h = labels.size(0), w = labels.size(1);
  Panel p(labor::Shape{h, w, 3});
  for (std::int64_t i = 0; i < h * w; ++i) {
    const auto c = class_colour(labels[i]);
    for (int k = 0; k < 3; ++k) p[i * 3 + k] = c[static_cast<std::size_t>(k)];
  }
  return p;
}

/// A mask (H×W, non-zero = set) in white on black.
inline Panel mask_panel(const std::vector<std::uint8_t>& mask, std::int64_t h, std::int64_t w) {
  Panel p(labor::Shape{h, w, 3});
  for (std::int64_t i = 0; i < h * w; ++i)
    for (int k = 0; k < 3; ++k) p[i * 3 + k] = mask[static_cast<std::size_t>(i)] != 0 ? 255 : 0;
  return p;
}

/// The input darkened, with each chosen pixel drawn as a 3×3 dot in its class colour.
inline Panel points_panel(const labor::Tensor<float, labor::cpu>& img, const std::vector<std::int64_t>& pixels,
                          const std::vector<std::int32_t>& classes) {
  Panel p = image_panel(img);
  const std::int64_t h = img.size(1), w = img.size(2);
  for (std::int64_t i = 0; i < p.numel(); ++i) p[i] = static_cast<std::uint8_t>(p[i] / 2);
  for (std::size_t k = 0; k < pixels.size(); ++k) {
    const std::int64_t y = pixels[k] / w, x = pixels[k] % w;
    const auto c = class_colour(classes[k]);
    for (std::int64_t dy = -1; dy <= 1; ++dy)
      for (std::int64_t dx = -1; dx <= 1; ++dx) {
        const std::int64_t yy = y + dy, xx = x + dx;
        if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
        for (int j = 0; j < 3; ++j) p[(yy * w + xx) * 3 + j] = c[static_cast<std::size_t>(j)];
      }
  }
  return p;
}

/// The caption scale for panels `width` pixels wide: width/128 clamped to [1, 3], lowered until the
/// longest caption fits (at scale 1 a longer one is clipped).
inline int caption_scale(std::int64_t width, const std::vector<std::string>& captions) {
  int s = static_cast<int>(std::clamp<std::int64_t>(width / 128, 1, 3));
  const auto fits = [&](int scale) {
    for (const auto& c : captions)
      if (labor::io::text_size(c, scale).second > width) return false;
    return true;
  };
  while (s > 1 && !fits(s)) --s;
  return s;
}

/// Writes the panels side by side to `file`, each enlarged (nearest neighbour) by the smallest
/// integer factor that makes its shorter side at least 128 pixels, with captions[k] in a band over
/// panels[k], grey gaps of 2 pixels per enlargement step between them.
/// @throws labor::Error when there are no panels, the counts differ or the panels differ in size.
inline void write_row(const std::filesystem::path& file, const std::vector<Panel>& panels,
                      const std::vector<std::string>& captions) {
  LABOR_CHECK(!panels.empty() && captions.size() == panels.size(),
              "write_row: captions: expected one per panel ({}), got {}", panels.size(), captions.size());
  for (const auto& p : panels)
    LABOR_CHECK(p.shape() == panels.front().shape(), "write_row: panel: expected shape {}, got {}",
                panels.front().shape(), p.shape());
  // 128 pixels: captions at scale 2 fit over the 64×128 synthetic images.
  const int f = labor::io::enlargement_for(panels.front().size(0), panels.front().size(1), 128);
  const int scale = caption_scale(panels.front().size(1) * f, captions);
  std::vector<Panel> shown;
  for (std::size_t k = 0; k < panels.size(); ++k)
    shown.push_back(labor::io::with_caption(labor::io::enlarge(panels[k], f), captions[k], scale));
  const std::int64_t h = shown.front().size(0), w = shown.front().size(1), gap = 2 * std::int64_t{f};
  const auto n = static_cast<std::int64_t>(shown.size());
  Panel out(labor::Shape{h, n * w + (n - 1) * gap, 3});
  out.fill(128);
  for (std::int64_t k = 0; k < n; ++k)
    for (std::int64_t y = 0; y < h; ++y)
      std::copy_n(shown[static_cast<std::size_t>(k)].data() + y * w * 3, w * 3,
                  out.data() + (y * out.size(1) + k * (w + gap)) * 3);
  labor::io::write_png(file, out);
}

}  // namespace labor_train
