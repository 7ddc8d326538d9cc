// libFuzzer harness: annotate::load_queries (a round's queries.json, as the `labor` program and
// LaborRun read it back). A query that loads must have image sizes whose pixel count fits, answers
// to every pixel must merge into a LabelStore that saves and loads again, and a small one must
// export (export_queries) and load back unchanged.
#include <optional>

#include "fuzz_support.hpp"
#include "labor/annotate/file_oracle.hpp"
#include "labor/annotate/label_store.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace labor;
  constexpr std::int32_t classes = 19;
  const auto dir = fuzz::scratch() / "round";
  std::filesystem::create_directories(dir);
  fuzz::write_file(dir / "queries.json", data, size);
  std::optional<annotate::ExportedQueries> q;
  if (!fuzz::accepts([&] { q.emplace(annotate::load_queries(dir, classes)); })) return 0;

  fuzz::expect(q->image_ids.size() == q->query.images.size(), "load_queries: one id per image");
  __int128 pool = 0;
  annotate::Answers answers;
  for (std::size_t i = 0; i < q->query.images.size(); ++i) {
    const auto& im = q->query.images[i];
    const __int128 n = static_cast<__int128>(im.height) * im.width;
    fuzz::expect(im.height > 0 && im.width > 0 && n <= (__int128{1} << 62), "load_queries: image size overflows");
    pool += n;
    for (auto p : im.pixels) fuzz::expect(p >= 0 && p < n, "load_queries: pixel outside the image");
    answers.images.push_back({q->image_ids[i], im.height, im.width, im.pixels,
                              std::vector<std::int32_t>(im.pixels.size(), labor::ignore_label)});
  }
  annotate::LabelStore store(classes);
  if (fuzz::accepts([&] { store.merge(answers); })) {
    const auto bytes = store.serialize();
    fuzz::expect(fuzz::accepts([&] { (void)annotate::LabelStore::deserialize(bytes); }),
                 "LabelStore: the answers to a loaded query save but do not load again");
  }
  // The export writes atomically (fsync per file): about one accepted input in 64, by its bytes.
  if (pool > (1 << 14) || q->query.images.size() > 16 || !fuzz::sampled(data, size)) return 0;
  const auto out = fuzz::scratch() / "export";
  annotate::export_queries(q->query, out, q->image_ids);
  const auto back = annotate::load_queries(out, classes);
  fuzz::expect(back.image_ids == q->image_ids && back.query.strategy == q->query.strategy,
               "export_queries → load_queries: ids or strategy changed");
  for (std::size_t i = 0; i < q->query.images.size(); ++i) {
    const auto &a = q->query.images[i], &b = back.query.images[i];
    fuzz::expect(a.height == b.height && a.width == b.width && a.pixels == b.pixels &&
                     (q->query.strategy != "ppl" || a.classes == b.classes),
                 "export_queries → load_queries: an image changed");
  }
  std::error_code ec;
  std::filesystem::remove_all(out, ec);
  return 0;
}
