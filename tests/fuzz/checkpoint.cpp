// libFuzzer harness: checkpoints as LaborRun reads them (train/checkpoint.hpp). A final checkpoint:
// read_safetensors, then StateDict::load into a small model under "model.". A partial one (a stage
// part-way): the "labor" metadata's "optimizer" entry shapes a StageState
// (StageState::shaped_like), whose tensors are added under "optim." and loaded with the model's.
#include "fuzz_support.hpp"
#include "labor/train/checkpoint.hpp"

namespace {

/// The "labor" metadata string as JSON, parsed with a nesting limit as labor's readers of outside
/// JSON do (io/json.hpp); null when absent or not JSON.
nlohmann::json metadata(const labor::io::SafetensorsFile& f) {
  const auto it = f.metadata.find("labor");
  if (it == f.metadata.end()) return nullptr;
  const auto limit = [](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > 64) throw labor::Error("nested too deep");
    return true;
  };
  try {
    return nlohmann::json::parse(it->second, limit);
  } catch (const nlohmann::json::exception&) {
    return nullptr;
  } catch (const labor::Error&) {
    return nullptr;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace labor;
  const auto file = fuzz::write_file(fuzz::scratch() / "input.safetensors", data, size);
  io::SafetensorsFile f;
  if (!fuzz::accepts([&] { f = io::read_safetensors(file); })) return 0;

  fuzz::TinyModel model;
  train::StateDict final_state;
  final_state.add(model, "model.");
  (void)fuzz::accepts([&] { (void)final_state.load(f, file); });

  const auto meta = metadata(f);
  if (!meta.is_object() || !meta.contains("optimizer")) return 0;
  train::StageState st;
  if (!fuzz::accepts([&] { st = train::StageState::shaped_like(meta["optimizer"], f, "optim.", file.string()); }))
    return 0;
  train::StateDict partial;
  partial.add(model, "model.").add(st, "optim.");
  if (fuzz::accepts([&] { (void)partial.load(f, file); })) {
    for (const auto& s : st.sgd) fuzz::check_tensor(s.momentum_buffer, "StageState: sgd tensor");
    for (const auto& a : st.adam) {
      fuzz::check_tensor(a.exp_avg, "StageState: adam exp_avg");
      fuzz::check_tensor(a.exp_avg_sq, "StageState: adam exp_avg_sq");
    }
  }
  return 0;
}
