// labor_fuzz_seeds OUT: writes the seed corpora of the fuzz harnesses, OUT/<harness>/<name>, with
// labor's own writers (valid files of every kind each harness reads).
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "fuzz_support.hpp"
#include "labor/annotate/file_oracle.hpp"
#include "labor/annotate/label_store.hpp"
#include "labor/io/npy.hpp"
#include "labor/io/png.hpp"
#include "labor/io/safetensors.hpp"
#include "labor/io/weights.hpp"
#include "labor/train/checkpoint.hpp"

namespace fs = std::filesystem;
using namespace labor;

namespace {

template <class T>
Tensor<T, cpu> iota(Shape shape, int start = 0) {
  Tensor<T, cpu> t(shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<T>((start + i) % 200);
  return t;
}

void copy_over(const fs::path& from, const fs::path& to) {
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

void text(const fs::path& file, const std::string& s) { fuzz::write_file(file, s); }

void npy(const fs::path& out) {
  io::write_npy(out / "f32_2x3.npy", iota<float>(Shape{2, 3}));
  io::write_npy(out / "f32_1x4x2x2.npy", iota<float>(Shape{1, 4, 2, 2}));
  io::write_npy(out / "f64_4.npy", iota<double>(Shape{4}));
  io::write_npy(out / "i32_2x2x2.npy", iota<std::int32_t>(Shape{2, 2, 2}));
  io::write_npy(out / "i64_scalar.npy", iota<std::int64_t>(Shape{}));
  io::write_npy(out / "u8_3x5.npy", iota<std::uint8_t>(Shape{3, 5}));
  io::write_npy(out / "f32_empty.npy", Tensor<float, cpu>(Shape{0, 3}));
}

void png(const fs::path& out) {
  io::write_png(out / "gray_4x5.png", iota<std::uint8_t>(Shape{4, 5}));
  io::write_png(out / "rgb_3x2.png", iota<std::uint8_t>(Shape{3, 2, 3}, 7));
  io::write_png(out / "gray_1x1.png", Tensor<std::uint8_t, cpu>(Shape{1, 1}));
  auto labels = Tensor<std::uint8_t, cpu>(Shape{6, 4});
  for (std::int64_t i = 0; i < labels.numel(); ++i) labels[i] = static_cast<std::uint8_t>(i % 3 == 0 ? 255 : 7 + i);
  io::write_png(out / "labels_6x4.png", labels);
}

fuzz::TinyModel model() {
  fuzz::TinyModel m;
  int k = 1;
  for (auto* t : {&m.conv1.value, &m.bn1_weight.value, &m.bn1_bias.value, &m.bn1_running_mean, &m.bn1_running_var,
                  &m.layer1_conv1.value})
    for (std::int64_t i = 0; i < t->numel(); ++i) (*t)[i] = 0.25f * static_cast<float>(k++ % 17);
  return m;
}

void safetensors(const fs::path& out) {
  auto m = model();
  io::save_weights(m, out / "tiny.safetensors");
  io::save_weights(m, out / "tiny_module.safetensors", {{"format", "pt"}}, "module.");
  const auto f = iota<float>(Shape{2, 3});
  const auto i = iota<std::int32_t>(Shape{4});
  io::write_safetensors(out / "mixed.safetensors", {{"weight", f.view()}, {"index", i.view()}}, {{"note", "seed"}});
  io::write_safetensors(out / "empty.safetensors", {});
}

train::StageState stage_state(fuzz::TinyModel& m) {
  train::StageState st;
  st.iteration = 3;
  for (auto& [name, t] : io::state_tensors(m)) {
    if (name.find("running") != std::string::npos) continue;
    st.sgd.emplace_back();
    st.sgd.back().momentum_buffer = iota<float>(t->shape());
  }
  st.adam.emplace_back();
  st.adam.back().step = 3;
  st.adam.back().exp_avg = iota<float>(Shape{2, 2});
  st.adam.back().exp_avg_sq = iota<float>(Shape{2, 2}, 3);
  return st;
}

void checkpoint(const fs::path& out) {
  auto m = model();
  train::StateDict final_state;
  final_state.add(m, "model.");
  final_state.save(out / "final.safetensors",
                   {{"labor_run", 1}, {"stage", "uda"}, {"iteration", 4}, {"config", "0123456789abcdef"}});
  auto st = stage_state(m);
  train::StateDict partial;
  partial.add(m, "model.").add(st, "optim.");
  partial.save(out / "partial.safetensors", {{"labor_run", 1},
                                             {"stage", "uda"},
                                             {"iteration", st.iteration},
                                             {"optimizer", st.describe()},
                                             {"config", "0123456789abcdef"}});
  train::StageState fresh;
  fresh.sgd.resize(2);
  train::StateDict first;
  first.add(m, "model.").add(fresh, "optim.");
  first.save(out / "partial_no_momentum.safetensors", {{"labor_run", 1}, {"optimizer", fresh.describe()}});
}

annotate::Answers answers() {
  annotate::Answers a;
  a.images.push_back({0, 4, 5, {0, 6, 19}, {1, 255, 18}});
  a.images.push_back({5, 1, 3, {}, {}});
  a.images.push_back({9, 3, 2, {1, 2, 3, 4, 5}, {0, 1, 2, 3, 4}});
  return a;
}

void label_store(const fs::path& out) {
  annotate::LabelStore s(19);
  s.save(out / "empty.lstore");
  s.merge(answers());
  s.save(out / "three_images.lstore");
  annotate::LabelStore one(2);
  one.merge({{{2, 2, 2, {3}, {1}}}});
  one.save(out / "one_pixel.lstore");
}

samplers::Query query(const std::string& strategy) {
  samplers::Query q;
  q.strategy = strategy;
  q.num_classes = 19;
  q.images.push_back({4, 5, {0, 6, 19}, {1, 2, 3}, {}});
  q.images.push_back({3, 2, {1, 4}, {0, 18}, {}});
  q.images.push_back({2, 2, {}, {}, {}});
  return q;
}

void queries(const fs::path& out, const fs::path& work) {
  for (const std::string s : {"spl", "ppl", "random"}) {
    const auto dir = work / ("queries_" + s);
    const std::vector<std::int64_t> ids = {3, 7, 11};
    annotate::export_queries(query(s), dir, ids);
    copy_over(dir / "queries.json", out / (s + ".json"));
  }
}

void answers_seeds(const fs::path& out) {
  text(out / "list.json", "[[1, 255, 18], [0, 4]]\n");
  text(out / "images.json",
       R"({"images": [{"index": 7, "labels": [2, 3]}, {"index": 3, "labels": [0, 0, 0], "pixels": [[0, 0], [1, 1], [3, 4]]}]})"
       "\n");
  auto map = Tensor<std::uint8_t, cpu>(Shape{4, 5});
  map[0] = 1;
  map[6] = 255;
  map[19] = 18;
  io::write_png(out / "labels_3.png", map);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: labor_fuzz_seeds OUT\n");
    return 2;
  }
  const fs::path out = argv[1];
  const fs::path work = out / ".work";
  for (const char* h : {"npy", "png", "safetensors", "checkpoint", "label_store", "queries", "answers"})
    fs::create_directories(out / h);
  fs::create_directories(work);
  npy(out / "npy");
  png(out / "png");
  safetensors(out / "safetensors");
  checkpoint(out / "checkpoint");
  label_store(out / "label_store");
  queries(out / "queries", work);
  answers_seeds(out / "answers");
  // The checkpoint harness reads safetensors files too, and the other way round.
  for (const auto& e : fs::directory_iterator(out / "checkpoint")) copy_over(e.path(), out / "safetensors" / e.path().filename());
  fs::remove_all(work);
  std::printf("labor_fuzz_seeds: wrote the seed corpora to %s\n", out.c_str());
  return 0;
}
