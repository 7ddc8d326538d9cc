#pragma once
/// @file export.hpp
/// Exporting a trained Segmenter for PyTorch: its weights in a safetensors file under torchvision's
/// names, with a description of the network in the metadata from which tools/load_labor_model.py
/// builds the matching torch.nn.Module and loads the weights strictly.
///
/// The file's `__metadata__` holds {"labor_model": <architecture as a JSON string>}. The
/// architecture is a JSON object with these fields (describe() writes them):
///   "format": 1                          version of this description (optional for the loader)
///   "backbone": "small"                  models::SmallBackbone, with
///       "channels": [c0, c1, c2, c3]     stem and the three stages
///       "output_stride": 4 | 8
///   "backbone": "resnet"                 models::ResNet, with
///       "block": "basic" | "bottleneck"
///       "depth": 0 | 18 | 34 | 50 | 101  (informative; "blocks" is what counts)
///       "blocks", "strides", "first_dilations", "dilations": [4 integers each]
///       "base_channels", "image_channels": integers (image_channels optional, default 3)
///       "stride_in_1x1", "ceil_mode": booleans
///   "backbone": "deeplabv2-resnet"       shorthand the loader also accepts (describe() does not
///       "depth": 18 | 34 | 50 | 101      write it): resnet_options(depth, ResNetLayout::deeplabv2)
///       "base_channels": integer         (optional, default 64)
///   "head": "aspp"                       models::AsppHead (the default when "head" is absent), with
///       "num_classes": integer
///       "aspp_dilations": [integers]     (optional, default DeepLab-v2's 6, 12, 18, 24)
///       "feature_channels": integer      (optional: the backbone's output channels)
/// and optionally, for programs that feed the network images (not needed to build it):
///   "input": {"mean": [3], "std": [3], "input_scale": s, "bgr": b}   data::Normalization
///   "align_corners": b                   how logits are upsampled to the image size
/// Weights: every parameter and buffer the model's visit() reports ("backbone.conv1.weight",
/// "backbone.layer1.0.bn1.running_mean", "head.conv2d_list.0.bias", ...), as F32. Batch norm's
/// "num_batches_tracked" is not written (labor has no such buffer); frozen batch norm exports as an
/// ordinary one, so the PyTorch model reproduces labor's outputs in evaluation mode.
///
/// Typical use after training with train::LaborTrainer options `o`:
///   auto arch = models::describe(model);                  // backbone, head, format
///   arch["input"] = models::describe(o.normalization);
///   arch["align_corners"] = o.align_corners;
///   models::export_segmenter(model, "adapted.safetensors", arch);
/// and in Python: `load_labor_model.load("adapted.safetensors")(x)`.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "labor/core/error.hpp"
#include "labor/data/dataset.hpp"
#include "labor/io/json.hpp"
#include "labor/io/weights.hpp"
#include "labor/models/aspp.hpp"
#include "labor/models/resnet.hpp"
#include "labor/models/segmenter.hpp"
#include "labor/models/small_backbone.hpp"

namespace labor::models {

/// Version written to the architecture's "format" field.
inline constexpr int export_format_version = 1;

/// The architecture fields of a SmallBackbone: {"backbone": "small", "channels", "output_stride"}.
inline nlohmann::json describe(const SmallBackboneOptions& o) {
  return {{"backbone", "small"}, {"channels", o.channels}, {"output_stride", o.output_stride}};
}

/// The architecture fields of a ResNet over basic (`bottleneck` false) or bottleneck blocks:
/// {"backbone": "resnet", "block", "depth", "blocks", "image_channels", "base_channels", "strides",
/// "first_dilations", "dilations", "stride_in_1x1", "ceil_mode"}.
inline nlohmann::json describe(const ResNetOptions& o, bool bottleneck) {
  return {{"backbone", "resnet"},
          {"block", bottleneck ? "bottleneck" : "basic"},
          {"depth", o.depth},
          {"blocks", o.blocks},
          {"image_channels", o.in_channels},
          {"base_channels", o.base_channels},
          {"strides", o.strides},
          {"first_dilations", o.first_dilations},
          {"dilations", o.dilations},
          {"stride_in_1x1", o.stride_in_1x1},
          {"ceil_mode", o.ceil_mode}};
}

/// The architecture fields of an AsppHead: {"head": "aspp", "feature_channels" (its in_channels),
/// "num_classes", "aspp_dilations"}.
inline nlohmann::json describe(const AsppHeadOptions& o) {
  return {{"head", "aspp"},
          {"feature_channels", o.in_channels},
          {"num_classes", o.num_classes},
          {"aspp_dilations", o.dilations}};
}

/// The "input" field for images normalised with `n`: {"mean", "std", "input_scale", "bgr"}.
inline nlohmann::json describe(const data::Normalization& n) {
  return {{"mean", {n.mean[0], n.mean[1], n.mean[2]}},
          {"std", {n.std[0], n.std[1], n.std[2]}},
          {"input_scale", n.input_scale},
          {"bgr", n.bgr}};
}

/// The architecture of a backbone (SmallBackbone or ResNet) and its fields' JSON.
template <class T, Device D>
nlohmann::json describe(const SmallBackbone<T, D>& b) {
  return describe(b.options());
}
template <class Block>
nlohmann::json describe(const ResNet<Block>& b) {
  return describe(b.options(), Block::expansion != 1);
}
template <class T, Device D>
nlohmann::json describe(const AsppHead<T, D>& h) {
  return describe(h.options());
}

/// The whole architecture of a Segmenter whose backbone and head describe() knows: the backbone's
/// fields, the head's fields and "format".
template <Backbone B, Head H>
nlohmann::json describe(const Segmenter<B, H>& model) {
  nlohmann::json j = describe(model.backbone);
  j.update(describe(model.head));
  j["format"] = export_format_version;
  return j;
}

/// Writes `model`'s parameters and buffers (float; host or device) to the safetensors `file` under
/// their visit() names (torchvision's: "backbone.*", "head.*"), with `__metadata__`
/// {"labor_model": architecture.dump()}, atomically (on failure `file` is unchanged).
/// @throws labor::Error "export_segmenter <file>: architecture: ..." when `architecture` is not an
///         object with a string field "backbone", has a "head" that is not a string, or has a
///         "num_classes" other than the model's; and on I/O failures (see io::save_weights).
template <class Model>
void export_segmenter(Model& model, const std::filesystem::path& file, const nlohmann::json& architecture) {
  const std::string f = file.string();
  LABOR_CHECK(architecture.is_object(), "export_segmenter {}: architecture: expected a JSON object, got {}", f,
              io::quote(architecture));
  LABOR_CHECK(architecture.contains("backbone") && architecture.at("backbone").is_string(),
              "export_segmenter {}: architecture: expected a string field \"backbone\", got {}", f,
              architecture.contains("backbone") ? io::quote(architecture.at("backbone")) : std::string("none"));
  LABOR_CHECK(!architecture.contains("head") || architecture.at("head").is_string(),
              "export_segmenter {}: architecture: head: expected a string, got {}", f,
              io::quote(architecture.at("head")));
  if constexpr (requires { model.num_classes(); }) {
    if (architecture.contains("num_classes")) {
      const auto& n = architecture.at("num_classes");
      LABOR_CHECK(n.is_number_integer() && n.get<std::int64_t>() == model.num_classes(),
                  "export_segmenter {}: architecture: num_classes: expected {} (the model's), got {}", f,
                  model.num_classes(), io::quote(n));
    }
  }
  io::save_weights(model, file, std::map<std::string, std::string>{{"labor_model", architecture.dump()}});
}

/// export_segmenter with the architecture describe(model) gives.
template <Backbone B, Head H>
void export_segmenter(Segmenter<B, H>& model, const std::filesystem::path& file) {
  export_segmenter(model, file, describe(model));
}

}  // namespace labor::models
