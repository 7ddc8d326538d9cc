// Checks a finished `labor_train --preset quick` run (its --out folder in LABOR_E2E_OUT): the
// ordering the method must show, the budgets, and that every label store holds only queried
// pixels with their true labels (the benchmark is regenerated from results.json's config).

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include <labor/annotate/label_store.hpp>
#include <labor/data/synthetic.hpp>

namespace {

namespace fs = std::filesystem;

fs::path out_dir() {
  const char* v = std::getenv("LABOR_E2E_OUT");
  return v != nullptr ? fs::path(v) : fs::path();
}

nlohmann::json results() {
  std::ifstream in(out_dir() / "results.json");
  return nlohmann::json::parse(in);
}

std::map<std::string, nlohmann::json> methods(const nlohmann::json& r) {
  std::map<std::string, nlohmann::json> m;
  for (const auto& x : r.at("methods")) m[x.at("name").get<std::string>()] = x;
  return m;
}

TEST(LaborTrainQuick, WritesEveryOutput) {
  ASSERT_FALSE(out_dir().empty()) << "set LABOR_E2E_OUT";
  for (const char* f : {"results.json", "miou_vs_labels.svg", "visuals/test_000.png", "labels/labor_spl.lstore",
                        "checkpoints/uda.safetensors", "checkpoints/selector_r1.safetensors",
                        "checkpoints/selection_labor_spl.json", "checkpoints/selection_labor_ppl.json"})
    EXPECT_TRUE(fs::exists(out_dir() / f)) << f;
  const auto m = methods(results());
  for (const char* name :
       {"source_only", "uda", "labor_ppl", "labor_spl", "random", "entropy", "ripu_region", "target_supervised"}) {
    ASSERT_EQ(m.count(name), 1u) << name;
    EXPECT_EQ(m.at(name).at("per_class_iou").size(), static_cast<std::size_t>(labor::data::synthetic_num_classes));
  }
}

TEST(LaborTrainQuick, LaborSplBeatsSourceOnlyOnTheTargetTestSplit) {
  const auto m = methods(results());
  EXPECT_LT(m.at("source_only").at("miou").get<double>(), m.at("labor_spl").at("miou").get<double>());
  EXPECT_EQ(m.at("source_only").at("labeled_fraction").get<double>(), 0.0);
  EXPECT_EQ(m.at("target_supervised").at("labeled_fraction").get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(m.at("labor_ppl").at("points_per_image").get<double>(),
                   static_cast<double>(results().at("config").at("ppl_points").get<std::int64_t>()));
}

TEST(LaborTrainQuick, EveryRowHasItsValidationScoreApartFromItsTestScore) {
  const auto r = results();
  EXPECT_GT(r.at("config").at("data").at("target_val").get<std::int64_t>(), 0);
  int differ = 0;
  for (const auto& [name, row] : methods(r)) {
    ASSERT_TRUE(row.at("val_miou").is_number()) << name;
    const double v = row.at("val_miou").get<double>();
    EXPECT_GT(v, 0.0) << name;
    EXPECT_LE(v, 100.0) << name;
    differ += v != row.at("miou").get<double>();
  }
  // Scored on other images than the test split: some row must differ.
  EXPECT_GT(differ, 0);
}

TEST(LaborTrainQuick, LabelStoresHoldOnlyQueriedPixelsWithTheirTrueLabels) {
  const auto r = results();
  const auto& d = r.at("config").at("data");
  labor::data::SyntheticOptions o{.height = d.at("height"),
                                  .width = d.at("width"),
                                  .source_images = 1,
                                  .target_pool = d.at("target_pool"),
                                  .target_test = 1,
                                  .seed = d.at("seed"),
                                  .palette_shift = d.at("palette_shift")};
  const auto pool = labor::data::make_synthetic_split(o, labor::data::Domain::target, 0, o.target_pool);
  const auto m = methods(r);
  for (const char* name : {"labor_spl", "labor_ppl", "random", "entropy", "ripu_region"}) {
    const auto store = labor::annotate::LabelStore::read(out_dir() / "labels" / (std::string(name) + ".lstore"));
    std::int64_t checked = 0;
    for (const auto id : store.image_ids()) {
      ASSERT_LT(id, pool.size()) << name;
      const auto& im = store.image(id);
      ASSERT_EQ(im.height, o.height);
      ASSERT_EQ(im.width, o.width);
      for (const auto& e : im.entries) {
        ASSERT_EQ(e.label, pool.label(id)[e.index]) << name << " image " << id << " pixel " << e.index;
        ++checked;
      }
    }
    EXPECT_GT(checked, 0) << name;
    // The stored pixels are exactly the budget results.json reports.
    const double frac =
        static_cast<double>(store.queried_pixels()) / static_cast<double>(pool.size() * o.height * o.width);
    EXPECT_NEAR(m.at(name).at("labeled_fraction").get<double>(), frac, 1e-12) << name;
  }
}

}  // namespace
