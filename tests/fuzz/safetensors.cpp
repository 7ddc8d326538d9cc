// libFuzzer harness: io::read_safetensors, every tensor through to_float / to_int32, and
// io::load_weights into a small model under the default mapping and a renaming one.
#include "fuzz_support.hpp"
#include "labor/io/safetensors.hpp"
#include "labor/io/weights.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace labor;
  const auto file = fuzz::write_file(fuzz::scratch() / "input.safetensors", data, size);
  io::SafetensorsFile f;
  if (fuzz::accepts([&] { f = io::read_safetensors(file); })) {
    std::size_t total = 0;
    for (const auto& entry : f.tensors) {
      const std::string& name = entry.first;
      total += entry.second.bytes.size();
      Tensor<float, cpu> t;
      if (fuzz::accepts([&] { t = f.to_float(name); })) fuzz::check_tensor(t, "to_float: shape and storage disagree");
      Tensor<std::int32_t, cpu> i;
      if (fuzz::accepts([&] { i = f.to_int32(name); })) fuzz::check_tensor(i, "to_int32: shape and storage disagree");
    }
    fuzz::expect(total <= size, "read_safetensors: more tensor bytes than the file holds");
  }
  fuzz::TinyModel model;
  (void)fuzz::accepts([&] { io::load_weights(model, file); });
  io::LoadWeightsOptions renamed;
  renamed.strip_prefix = "module.";
  renamed.rename = {{"Scale.", ""}};
  renamed.add_prefix = "";
  (void)fuzz::accepts([&] { io::load_weights(model, file, renamed); });
  return 0;
}
