#pragma once
/// @file weights.hpp
/// Loading and saving model weights as safetensors files: one checked mapping from file keys to a
/// model's parameters and buffers, shared by io::load_weights (pretrained weights, e.g. exported
/// from torchvision by tools/export_safetensors.py) and train::StateDict (checkpoints).
///
/// Name mapping, file key → model name:
///   1. a key starting with `strip_prefix` loses it ("module.conv1.weight" → "conv1.weight" for
///      DataParallel checkpoints); other keys stay as they are;
///   2. a stripped key matching one of the `ignore` patterns ('*' matches any run of characters)
///      is skipped; the default skips torchvision's classifier "fc.*" and batch norm's step counter
///      "*.num_batches_tracked" (a model tensor whose name an ignore pattern hides is then reported
///      missing: pass a list without that pattern);
///   3. the first `rename` rule (from, to) whose `from` starts the key replaces that start by `to`
///      (AdaptSeg's DeepLab-v2 checkpoint: {"Scale.layer5.", "head."}, {"Scale.", "backbone."}
///      map its classifier and backbone onto a models::Segmenter in one load);
///   4. `add_prefix` is prepended ("conv1.weight" → "backbone.conv1.weight" for a model that holds
///      the network under "backbone.").
/// A torchvision ResNet state dict then maps 1:1 onto models::ResNet: "conv1.weight",
/// "bn1.running_mean", "layer3.5.conv2.weight", "layer1.0.downsample.0.weight", ... keep their
/// names (see models/resnet.hpp).
///
/// Everything is checked before anything is copied: every model tensor must have exactly one file
/// key, of an accepted dtype and of the same shape, and every file key not ignored must belong to
/// the model. All problems are listed in one labor::Error naming the file; the model is then
/// untouched. A truncated or corrupt file is refused by read_safetensors, naming the file.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "labor/core/error.hpp"
#include "labor/core/tensor.hpp"
#include "labor/io/safetensors.hpp"
#include "labor/nn/parameter.hpp"

namespace labor::io {

/// The state tensors of a layer (or any model with visit()) by full name: parameters
/// ("<prefix>weight", ...) and buffers ("<prefix>running_mean", ...), in visiting order.
template <class L>
std::vector<std::pair<std::string, Tensor<typename L::value_type, typename L::device_type>*>> state_tensors(
    L& layer, const std::string& prefix = {}) {
  using T = typename L::value_type;
  using D = typename L::device_type;
  struct Collect {
    std::vector<std::pair<std::string, Tensor<T, D>*>> out;
    void parameter(const std::string& n, nn::Parameter<T, D>& p) { out.emplace_back(n, &p.value); }
    void buffer(const std::string& n, Tensor<T, D>& t) { out.emplace_back(n, &t); }
  } c;
  layer.visit(c, prefix);
  return std::move(c.out);
}

/// How file keys map onto model names and what a file may contain (see the file comment).
struct WeightsMapping {
  /// Removed from the front of file keys that start with it (e.g. "module.").
  std::string strip_prefix = {};
  /// Prepended to every (stripped) file key to give the model name.
  std::string add_prefix = {};
  /// Patterns of stripped file keys to skip ('*' matches any run of characters).
  std::vector<std::string> ignore = {"fc.*", "*.num_batches_tracked"};
  /// Prefix replacements (from, to), the first match applied, after stripping and ignoring.
  std::vector<std::pair<std::string, std::string>> rename = {};
  /// Accepted dtypes of a float tensor (F16, BF16 and F64 are converted to float).
  std::vector<std::string> dtypes = {"F32", "F16", "BF16", "F64"};
};

/// Named float host tensors of a model, the destination of a load.
using WeightTargets = std::vector<std::pair<std::string, Tensor<float, cpu>*>>;

namespace detail {

/// Whether `name` matches `pattern`, where '*' matches any run of characters (also none).
inline bool wildcard_match(std::string_view pattern, std::string_view name) {
  std::size_t p = 0, n = 0, star = std::string_view::npos, resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

/// "[64, 3, 7, 7]"; a shape of more than 8 extents (a file may hold any) shows its first 8 and its rank.
inline std::string dims_string(const std::vector<std::int64_t>& dims) {
  constexpr std::size_t max_shown = 8;
  if (dims.size() <= max_shown) return fmt::format("[{}]", fmt::join(dims, ", "));
  return fmt::format("[{}, ... ({} extents)]", fmt::join(dims.begin(), dims.begin() + max_shown, ", "), dims.size());
}

}  // namespace detail

/// Checks `file` (already read) against `targets` under `mapping` and returns, for each target in
/// order, the file key that holds it. `what` starts the error message ("load_weights",
/// "checkpoint").
/// @throws labor::Error "<what> <file>: does not match the model: ..." listing every missing key
///         ("missing 'name'"), every unexpected key ("unexpected 'key'"), every key of a wrong dtype
///         or shape ("'name' is I64 [64], expected F32/F16/BF16/F64 [64]") and every pair of keys
///         mapping to one name; the first 1000 problems are listed, then their number ("and 7 more").
inline std::vector<std::string> match_weights(const SafetensorsFile& file, const WeightTargets& targets,
                                              const WeightsMapping& mapping, std::string_view what) {
  std::vector<std::string> problems;
  std::map<std::string, std::string> by_model_name;  // model name → file key
  for (const auto& [key, entry] : file.tensors) {
    std::string name = key;
    if (!mapping.strip_prefix.empty() && name.starts_with(mapping.strip_prefix))
      name.erase(0, mapping.strip_prefix.size());
    bool ignored = false;
    for (const auto& pattern : mapping.ignore) ignored = ignored || detail::wildcard_match(pattern, name);
    if (ignored) continue;
    for (const auto& [from, to] : mapping.rename)
      if (name.starts_with(from)) {
        name = to + name.substr(from.size());
        break;
      }
    name = mapping.add_prefix + name;
    const auto [it, inserted] = by_model_name.emplace(name, key);
    if (!inserted)
      problems.push_back(fmt::format("'{}' and '{}' both map to '{}'", detail::tensor_name(it->second),
                                     detail::tensor_name(key), detail::tensor_name(name)));
  }
  std::vector<std::string> keys;
  std::set<std::string> used;
  for (const auto& [name, tensor] : targets) {
    const auto it = by_model_name.find(name);
    if (it == by_model_name.end()) {
      problems.push_back(fmt::format("missing '{}'", name));
      keys.emplace_back();
      continue;
    }
    used.insert(name);
    keys.push_back(it->second);
    const SafetensorsEntry& e = file.tensors.at(it->second);
    std::vector<std::int64_t> dims;
    for (int d = 0; d < tensor->rank(); ++d) dims.push_back(tensor->size(d));
    bool dtype_ok = false;
    for (const auto& dt : mapping.dtypes) dtype_ok = dtype_ok || e.dtype == dt;
    if (!dtype_ok || e.shape != dims) {
      const std::string from =
          it->second == name ? std::string() : fmt::format(" (file key '{}')", detail::tensor_name(it->second));
      problems.push_back(fmt::format("'{}'{} is {} {}, expected {} {}", name, from, detail::tensor_name(e.dtype),
                                     detail::dims_string(e.shape), fmt::join(mapping.dtypes, "/"),
                                     detail::dims_string(dims)));
    }
  }
  for (const auto& [name, key] : by_model_name)
    if (used.count(name) == 0) problems.push_back(fmt::format("unexpected '{}'", detail::tensor_name(key)));
  if (problems.empty()) return keys;
  // A file from elsewhere may hold any number of keys: the message lists the first 1000 problems
  // (a whole ResNet-101 mismatch has fewer), each name cut to 80 characters.
  constexpr std::size_t max_listed = 1000;
  const std::size_t total = problems.size();
  if (total > max_listed) {
    problems.resize(max_listed);
    problems.push_back(fmt::format("and {} more", total - max_listed));
  }
  fail("{} {}: does not match the model ({} problem{}): {}", what, file.path.string(), total, total == 1 ? "" : "s",
       fmt::join(problems, ", "));
  return keys;
}

/// Copies the tensors chosen by match_weights into `targets` (converting to float).
inline void assign_weights(const SafetensorsFile& file, const WeightTargets& targets,
                           const std::vector<std::string>& keys) {
  for (std::size_t i = 0; i < targets.size(); ++i) *targets[i].second = file.to_float(keys[i]);
}

/// Host tensors standing for the state tensors of a model on any device, so that reading and
/// writing files is one host-side code path: a host tensor is its own mirror; a device tensor gets
/// a host copy of its shape, filled from the device by pull() (before writing a file) and copied to
/// the device by push() (after reading one). Copies of a HostMirror share the host copies.
class HostMirror {
 public:
  /// Adds `tensor` (which must outlive the mirror) under `name`.
  template <Device D>
  void add(std::string name, Tensor<float, D>* tensor) {
    if constexpr (std::is_same_v<D, cpu>) {
      targets_.emplace_back(std::move(name), tensor);
    } else {
      auto host = std::make_shared<Tensor<float, cpu>>(tensor->shape());
      targets_.emplace_back(std::move(name), host.get());
      pull_.emplace_back([tensor, host] {
        check_shape("HostMirror::pull", tensor->shape(), host->shape());
        CrossDeviceCopy<D, cpu>::copy(host->data(), tensor->data(), host->bytes());
      });
      push_.emplace_back([tensor, host] {
        check_shape("HostMirror::push", host->shape(), tensor->shape());
        CrossDeviceCopy<cpu, D>::copy(tensor->data(), host->data(), host->bytes());
      });
      hosts_.push_back(std::move(host));
    }
  }
  /// Adds every state tensor of `model` (io::state_tensors) under `prefix`.
  template <class L>
  void add_model(L& model, const std::string& prefix = {}) {
    static_assert(std::is_same_v<typename L::value_type, float>, "HostMirror: float models only");
    for (auto& [name, t] : state_tensors(model, prefix)) add(name, t);
  }

  /// (name, host tensor) for every added tensor, in order.
  [[nodiscard]] const WeightTargets& targets() const { return targets_; }
  /// Copies the device tensors into their host mirrors.
  void pull() const {
    for (const auto& f : pull_) f();
  }
  /// Copies the host mirrors back into the device tensors.
  void push() const {
    for (const auto& f : push_) f();
  }

 private:
  WeightTargets targets_;
  std::vector<std::shared_ptr<Tensor<float, cpu>>> hosts_;
  std::vector<std::function<void()>> pull_, push_;
};

/// Options of load_weights: the name mapping (WeightsMapping's fields).
using LoadWeightsOptions = WeightsMapping;

/// Loads every parameter and buffer of `model` (float, host; anything with visit()) from the
/// safetensors `file` under `options`' name mapping. Either all tensors are loaded or, on any
/// problem, none. @throws labor::Error naming the file: unreadable, truncated or corrupt files, and
///         every missing, unexpected, mis-typed or mis-shaped key in one message (see match_weights).
template <class L>
void load_weights(L& model, const std::filesystem::path& file, const LoadWeightsOptions& options = {}) {
  HostMirror mirror;
  mirror.add_model(model);
  const SafetensorsFile f = read_safetensors(file);
  assign_weights(f, mirror.targets(), match_weights(f, mirror.targets(), options, "load_weights"));
  mirror.push();
}

/// Writes every parameter and buffer of `model` (float, host) to `file` as F32 under its visit()
/// names with `prefix` prepended, plus string `metadata`, atomically (see write_safetensors).
/// @throws labor::Error on an I/O failure or duplicate names; the file is then unchanged.
template <class L>
void save_weights(L& model, const std::filesystem::path& file, const std::map<std::string, std::string>& metadata = {},
                  const std::string& prefix = {}) {
  HostMirror mirror;
  mirror.add_model(model, prefix);
  mirror.pull();
  std::vector<SafetensorsWrite> w;
  for (const auto& [name, t] : mirror.targets()) w.emplace_back(name, t->view());
  write_safetensors(file, w, metadata);
}

}  // namespace labor::io
