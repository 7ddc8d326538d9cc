#pragma once
/// @file checkpoint.hpp
/// Saving and restoring the state of layers (parameters and buffers) as safetensors files with a
/// JSON metadata string, written atomically.

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/io/safetensors.hpp"
#include "labor/io/weights.hpp"
#include "labor/nn/layer.hpp"

namespace labor::train {

/// The state tensors of a layer by full name (io::state_tensors).
using io::state_tensors;

/// Named float state gathered from several layers (each under its own prefix) for one file.
class StateDict {
 public:
  /// Adds every state tensor of `layer` (a Layer, or any model with value_type, device_type and
  /// visit()) under `prefix` (e.g. "model.", "discriminator.").
  template <class L>
  StateDict& add(L& layer, const std::string& prefix) {
    static_assert(std::is_same_v<typename L::value_type, float> && std::is_same_v<typename L::device_type, cpu>,
                  "StateDict: float host layers only");
    for (auto& [name, t] : state_tensors(layer, prefix)) entries_.emplace_back(name, t);
    return *this;
  }

  /// Writes the state and `metadata` (any JSON, stored as the "labor" metadata string) to `file`
  /// atomically. @throws labor::Error on an I/O failure or duplicate names; the file is unchanged then.
  void save(const std::filesystem::path& file, const nlohmann::json& metadata) const {
    std::vector<io::SafetensorsWrite> w;
    for (const auto& [name, t] : entries_) w.emplace_back(name, t->view());
    io::write_safetensors(file, w, {{"labor", metadata.dump()}});
  }

  /// Restores the state from `file`, which must hold exactly these names with these shapes.
  /// Everything is checked before anything is copied, so a bad file leaves the layers untouched.
  /// @return the metadata JSON stored by save().
  /// @throws labor::Error naming the file and every missing, unexpected or mis-shaped key.
  nlohmann::json load(const std::filesystem::path& file) const {
    const io::SafetensorsFile f = io::read_safetensors(file);
    // A checkpoint holds exactly the model's names, as saved: no mapping, nothing ignored, F32 only.
    const io::WeightsMapping exact{.ignore = {}, .dtypes = {"F32"}};
    const auto keys = io::match_weights(f, entries_, exact, "checkpoint");
    nlohmann::json meta;
    const auto it = f.metadata.find("labor");
    LABOR_CHECK(it != f.metadata.end(), "checkpoint {}: metadata: expected a 'labor' entry, not found", file.string());
    try {
      meta = nlohmann::json::parse(it->second);
    } catch (const nlohmann::json::exception& ex) {
      fail("checkpoint {}: metadata: expected JSON, got a parse error ({})", file.string(), ex.what());
    }
    io::assign_weights(f, entries_, keys);
    return meta;
  }

 private:
  std::vector<std::pair<std::string, Tensor<float, cpu>*>> entries_;
};

}  // namespace labor::train
