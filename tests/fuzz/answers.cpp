// libFuzzer harness: annotate::import_answers against a fixed round of two images (ids 3 and 7,
// 4×5 and 3×2, strategy "spl", 19 classes). An input that starts with the PNG signature is image
// 3's label map labels_3.png (image 7's is a valid fixed one); anything else is answers.json. What
// imports must validate and merge into a LabelStore that saves and loads again.
#include <cstring>
#include <optional>

#include "fuzz_support.hpp"
#include "labor/annotate/file_oracle.hpp"
#include "labor/annotate/label_store.hpp"
#include "labor/io/png.hpp"

namespace {

const labor::samplers::Query& round_query() {
  static const labor::samplers::Query q = [] {
    labor::samplers::Query q;
    q.strategy = "spl";
    q.num_classes = 19;
    q.images.push_back({4, 5, {0, 6, 19}, {1, 2, 3}, {}});
    q.images.push_back({3, 2, {1, 4}, {0, 18}, {}});
    return q;
  }();
  return q;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace labor;
  static const std::vector<std::int64_t> ids = {3, 7};
  static const auto dir = [] {
    auto d = fuzz::scratch() / "answers";
    std::filesystem::create_directories(d);
    auto seven = Tensor<std::uint8_t, cpu>(Shape{3, 2});
    seven[1] = 5;
    seven[4] = 255;
    io::write_png(d / "labels_7.png", seven);
    return d;
  }();
  const bool png = size >= 8 && std::memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0;
  fuzz::write_file(dir / (png ? "labels_3.png" : "answers.json"), data, size);
  std::optional<annotate::Answers> a;
  const auto format = png ? annotate::AnswerFormat::png : annotate::AnswerFormat::json;
  if (fuzz::accepts([&] { a.emplace(annotate::import_answers(dir, round_query(), 19, ids, format)); })) {
    fuzz::expect(a->images.size() == 2 && a->images[0].image == 3 && a->images[1].image == 7,
                 "import_answers: answers for other images than the round's");
    for (std::size_t i = 0; i < 2; ++i)
      fuzz::expect(a->images[i].pixels == round_query().images[i].pixels &&
                       a->images[i].labels.size() == a->images[i].pixels.size(),
                   "import_answers: pixels differ from the query's");
    annotate::LabelStore store(19);
    fuzz::expect(fuzz::accepts([&] { store.merge(*a); }), "LabelStore::merge refused imported answers");
    fuzz::expect(annotate::LabelStore::deserialize(store.serialize()) == store, "LabelStore: save → load changed it");
  }
  return 0;
}
