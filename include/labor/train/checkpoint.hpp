#pragma once
/// @file checkpoint.hpp
/// Saving and restoring the state of layers (parameters and buffers) and of a stage's optimisers
/// as safetensors files with a JSON metadata string, written atomically.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/io/json.hpp"
#include "labor/io/safetensors.hpp"
#include "labor/io/weights.hpp"
#include "labor/nn/layer.hpp"
#include "labor/optim/adam.hpp"
#include "labor/optim/sgd.hpp"

namespace labor::train {

/// The state tensors of a layer by full name (io::state_tensors).
using io::state_tensors;

/// A training stage part-way: the iterations done and the optimisers' states. With the weights at
/// that point it continues the stage exactly (LaborTrainer's `resume` arguments), since the batches
/// depend only on the seed and the iteration (data::Loader) and nothing else in a stage draws
/// random numbers.
struct StageState {
  std::int64_t iteration = 0;
  /// SGD of the segmenter (or of the selector), one entry per parameter.
  std::vector<optim::SgdState<float>> sgd;
  /// Adam of the discriminator (empty in the selector stage).
  std::vector<optim::AdamState<float>> adam;

  /// The parts that are not tensors, for a checkpoint's metadata: {"iteration", "sgd": count,
  /// "adam_steps": [...]}.
  [[nodiscard]] nlohmann::json describe() const {
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& a : adam) steps.push_back(a.step);
    return {{"iteration", iteration}, {"sgd", sgd.size()}, {"adam_steps", steps}};
  }

  /// An empty state shaped as the one `describe()` and the tensors "<prefix>sgd.<i>.momentum_buffer",
  /// "<prefix>adam.<i>.exp_avg" / "exp_avg_sq" of `file` describe, ready for StateDict::load.
  /// Counts are checked against the file before anything is allocated: an optimiser holds one
  /// entry per parameter and the parameters are in the same file, so neither count can exceed the
  /// file's tensors; each optimiser tensor must be F32 with as many bytes as its shape needs.
  /// @throws labor::Error naming `origin` when the description is malformed or disagrees with the file.
  static StageState shaped_like(const nlohmann::json& description, const io::SafetensorsFile& file,
                                const std::string& prefix, const std::string& origin) {
    const auto bad = [&](std::string_view what) {
      fail("{}: optimiser state: {}: expected {{\"iteration\": n, \"sgd\": count, \"adam_steps\": [...]}} "
           "with non-negative integers, got {}",
           origin, what, io::quote(description));
    };
    const auto count = [&](const nlohmann::json& j, std::string_view what) -> std::int64_t {
      const bool ok = j.is_number_unsigned() ? j.get<std::uint64_t>() <= static_cast<std::uint64_t>(INT64_MAX)
                                             : j.is_number_integer() && j.get<std::int64_t>() >= 0;
      if (!ok)
        fail("{}: optimiser state: {}: expected a non-negative integer, got {}", origin, what, io::quote(j));
      return j.get<std::int64_t>();
    };
    if (!description.is_object() || !description.contains("iteration") || !description.contains("sgd") ||
        !description.contains("adam_steps"))
      bad("missing fields");
    const auto& steps = description["adam_steps"];
    if (!steps.is_array()) bad("adam_steps");
    const auto tensors = static_cast<std::int64_t>(file.tensors.size());
    StageState st;
    st.iteration = count(description["iteration"], "iteration");
    const std::int64_t n_sgd = count(description["sgd"], "sgd");
    LABOR_CHECK(n_sgd <= tensors && static_cast<std::int64_t>(steps.size()) <= tensors,
                "{}: optimiser state: {} SGD and {} Adam entries (one per parameter), but the file holds only {} "
                "tensors",
                origin, n_sgd, steps.size(), tensors);
    st.sgd.resize(static_cast<std::size_t>(n_sgd));
    for (const auto& step : steps) {
      st.adam.emplace_back();
      st.adam.back().step = count(step, "adam step");
    }
    const auto shaped = [&](const std::string& name) {
      const auto it = file.tensors.find(prefix + name);
      if (it == file.tensors.end()) return Tensor<float, cpu>();
      const auto& e = it->second;
      std::uint64_t numel = 1;
      bool fits = e.dtype == "F32";
      for (const auto d : e.shape) {
        fits = fits && d >= 0 && (d == 0 || numel <= e.bytes.size() / 4 / static_cast<std::uint64_t>(d));
        if (fits) numel *= static_cast<std::uint64_t>(d);
      }
      LABOR_CHECK(fits && numel * 4 == e.bytes.size(),
                  "{}: tensor '{}': expected F32 data of its shape {} ({} bytes present, dtype {})", origin,
                  prefix + name, fmt::join(e.shape, "x"), e.bytes.size(), e.dtype);
      return Tensor<float, cpu>(io::detail::entry_shape(origin, prefix + name, e));
    };
    for (std::size_t i = 0; i < st.sgd.size(); ++i)
      st.sgd[i].momentum_buffer = shaped(fmt::format("sgd.{}.momentum_buffer", i));
    for (std::size_t i = 0; i < st.adam.size(); ++i) {
      st.adam[i].exp_avg = shaped(fmt::format("adam.{}.exp_avg", i));
      st.adam[i].exp_avg_sq = shaped(fmt::format("adam.{}.exp_avg_sq", i));
    }
    return st;
  }
};

/// Named float state gathered from several layers (each under its own prefix) for one file.
class StateDict {
 public:
  /// Adds the non-empty optimiser tensors of `state` as "<prefix>sgd.<i>.momentum_buffer",
  /// "<prefix>adam.<i>.exp_avg" and "<prefix>adam.<i>.exp_avg_sq" (the rest is in describe()).
  StateDict& add(StageState& state, const std::string& prefix) {
    for (std::size_t i = 0; i < state.sgd.size(); ++i)
      add_tensor(fmt::format("{}sgd.{}.momentum_buffer", prefix, i), state.sgd[i].momentum_buffer);
    for (std::size_t i = 0; i < state.adam.size(); ++i) {
      add_tensor(fmt::format("{}adam.{}.exp_avg", prefix, i), state.adam[i].exp_avg);
      add_tensor(fmt::format("{}adam.{}.exp_avg_sq", prefix, i), state.adam[i].exp_avg_sq);
    }
    return *this;
  }

  /// Adds every state tensor of `layer` (a Layer, or any model with value_type, device_type and
  /// visit()) under `prefix` (e.g. "model.", "discriminator.").
  template <class L>
  StateDict& add(L& layer, const std::string& prefix) {
    entries_.add_model(layer, prefix);
    return *this;
  }

  /// Writes the state and `metadata` (any JSON, stored as the "labor" metadata string) to `file`
  /// atomically. @throws labor::Error on an I/O failure or duplicate names; the file is unchanged then.
  void save(const std::filesystem::path& file, const nlohmann::json& metadata) const {
    entries_.pull();
    std::vector<io::SafetensorsWrite> w;
    for (const auto& [name, t] : entries_.targets()) w.emplace_back(name, t->view());
    io::write_safetensors(file, w, {{"labor", metadata.dump()}});
  }

  /// Restores the state from `file`, which must hold exactly these names with these shapes.
  /// Everything is checked before anything is copied, so a bad file leaves the layers untouched.
  /// @return the metadata JSON stored by save().
  /// @throws labor::Error naming the file and every missing, unexpected or mis-shaped key.
  nlohmann::json load(const std::filesystem::path& file) const { return load(io::read_safetensors(file), file); }

  /// load() from a file already read (`f`, read from `file`), e.g. to size a StageState first.
  nlohmann::json load(const io::SafetensorsFile& f, const std::filesystem::path& file) const {
    // A checkpoint holds exactly the model's names, as saved: no mapping, nothing ignored, F32 only.
    const io::WeightsMapping exact{.ignore = {}, .dtypes = {"F32"}};
    const auto keys = io::match_weights(f, entries_.targets(), exact, "checkpoint");
    const auto it = f.metadata.find("labor");
    LABOR_CHECK(it != f.metadata.end(), "checkpoint {}: metadata: expected a 'labor' entry, not found", file.string());
    nlohmann::json meta = io::parse_json(it->second, fmt::format("checkpoint '{}': metadata", file.string()));
    io::assign_weights(f, entries_.targets(), keys);
    entries_.push();
    return meta;
  }

 private:
  void add_tensor(std::string name, Tensor<float, cpu>& t) {
    if (!t.empty()) entries_.add(std::move(name), &t);
  }

  io::HostMirror entries_;  ///< host tensors (device layers through host copies)
};

}  // namespace labor::train
