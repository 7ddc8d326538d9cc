// libFuzzer harness: io::read_npy of every element type, and write_npy → read_npy round trips of
// what it accepts.
#include <cstring>

#include "fuzz_support.hpp"
#include "labor/io/npy.hpp"

namespace {

template <class T>
void read_as(const std::filesystem::path& file, std::size_t size, bool round_trip) {
  labor::Tensor<T, labor::cpu> t;
  if (!labor::fuzz::accepts([&] { t = labor::io::read_npy<T>(file); })) return;
  labor::fuzz::check_tensor(t, "read_npy: shape and storage disagree");
  labor::fuzz::expect(t.bytes() <= size, "read_npy: more data bytes than the file holds");
  // The round trip writes atomically (fsync): about one accepted input in 64, chosen by its bytes.
  if (t.bytes() > (std::size_t{1} << 20) || !round_trip) return;
  const auto copy = labor::fuzz::scratch() / "copy.npy";
  labor::io::write_npy<T>(copy, t);
  const auto back = labor::io::read_npy<T>(copy);
  labor::fuzz::expect(back.shape() == t.shape(), "write_npy → read_npy: shape changed");
  labor::fuzz::expect(t.bytes() == 0 || std::memcmp(back.data(), t.data(), t.bytes()) == 0,
                      "write_npy → read_npy: data changed");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto file = labor::fuzz::write_file(labor::fuzz::scratch() / "input.npy", data, size);
  const bool round_trip = labor::fuzz::sampled(data, size);
  read_as<float>(file, size, round_trip);
  read_as<double>(file, size, round_trip);
  read_as<std::int32_t>(file, size, round_trip);
  read_as<std::int64_t>(file, size, round_trip);
  read_as<std::uint8_t>(file, size, round_trip);
  return 0;
}
