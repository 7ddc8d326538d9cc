// libFuzzer harness: annotate::LabelStore::read / deserialize (what load() reads). Each input is
// tried as it is and with its trailing FNV-1a checksum recomputed, so that mutations reach the
// checks behind the checksum. A store that loads must serialize to the same bytes and merge into
// an empty store of its class count.
#include <cstring>
#include <optional>

#include "fuzz_support.hpp"
#include "labor/annotate/label_store.hpp"
#include "labor/core/hash.hpp"

namespace {

void check(std::string_view bytes) {
  using namespace labor;
  std::optional<annotate::LabelStore> store;
  if (!fuzz::accepts([&] { store.emplace(annotate::LabelStore::deserialize(bytes, "input.lstore")); })) return;
  fuzz::expect(store->serialize() == bytes, "LabelStore: deserialize → serialize changed the bytes");
  annotate::Answers answers;
  for (auto id : store->image_ids()) {
    const auto& im = store->image(id);
    annotate::ImageAnswers a{id, im.height, im.width, {}, {}};
    for (const auto& e : im.entries) {
      a.pixels.push_back(e.index);
      a.labels.push_back(e.label);
    }
    answers.images.push_back(std::move(a));
  }
  annotate::LabelStore merged(store->num_classes());
  fuzz::expect(fuzz::accepts([&] { merged.merge(answers); }), "LabelStore: a loaded store does not merge again");
  fuzz::expect(merged == *store, "LabelStore: merging a loaded store's labels gives another store");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  // The file path once, as LaborRun reads a round's answers.lstore.
  const auto file = labor::fuzz::write_file(labor::fuzz::scratch() / "input.lstore", bytes);
  (void)labor::fuzz::accepts([&] { (void)labor::annotate::LabelStore::read(file); });
  check(bytes);
  if (size >= 16) {
    const std::uint64_t h = labor::fnv1a64(std::string_view(bytes).substr(0, size - 8));
    std::memcpy(bytes.data() + size - 8, &h, 8);
    check(bytes);
  }
  return 0;
}
