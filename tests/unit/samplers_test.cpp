// Samplers against brute-force references written here with plain loops (their own argmax,
// prototypes, allocation rounds and sorting), on random maps with ties made on purpose; OMP vs
// CPP systems; bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <labor/core.hpp>
#include <labor/samplers.hpp>

#include "support/errors.hpp"
#include "support/sampler_maps.hpp"

namespace {

using labor::Shape;
using labor::Tensor;
namespace S = labor::samplers;
using labor::testing::expect_error;

static_assert(S::Sampler<S::SplSampler>);
static_assert(S::Sampler<S::PplSampler>);
static_assert(S::Sampler<S::RandomSampler>);
static_assert(S::Sampler<S::EntropySampler>);
static_assert(S::Sampler<S::MarginSampler>);

using labor::testing::Maps;
using labor::testing::palette_maps;
using labor::testing::smooth_maps;

// ---------------------------------------------------------------- brute-force reference

struct Ref {
  const Maps& m;
  std::int64_t n, c, h, w, hw;
  const Tensor<std::uint8_t>* exclude = nullptr;  ///< N×H×W, non-zero = not a candidate
  explicit Ref(const Maps& maps)
      : m(maps), n(maps.p1.size(0)), c(maps.p1.size(1)), h(maps.p1.size(2)), w(maps.p1.size(3)), hw(h * w) {}
  /// The rules over the pixels `mask` does not exclude.
  Ref(const Maps& maps, const Tensor<std::uint8_t>& mask) : Ref(maps) { exclude = &mask; }

  bool candidate(std::int64_t i, std::int64_t px) const { return exclude == nullptr || (*exclude)[i * hw + px] == 0; }
  /// M' = M ∧ ¬exclude.
  bool in_m(std::int64_t i, std::int64_t px) const { return candidate(i, px) && inconsistent(i, px); }

  float a(std::int64_t i, std::int64_t k, std::int64_t px) const { return m.p1[(i * c + k) * hw + px]; }
  float b(std::int64_t i, std::int64_t k, std::int64_t px) const { return m.p2[(i * c + k) * hw + px]; }
  double bar(std::int64_t i, std::int64_t k, std::int64_t px) const {
    return (static_cast<double>(a(i, k, px)) + static_cast<double>(b(i, k, px))) / 2.0;
  }
  static int first_max(const std::vector<double>& v) {
    int best = 0;
    for (int k = 1; k < static_cast<int>(v.size()); ++k)
      if (v[static_cast<std::size_t>(k)] > v[static_cast<std::size_t>(best)]) best = k;
    return best;
  }
  std::vector<double> channel(std::int64_t i, std::int64_t px, int which) const {
    std::vector<double> v(static_cast<std::size_t>(c));
    for (std::int64_t k = 0; k < c; ++k)
      v[static_cast<std::size_t>(k)] = which == 1 ? a(i, k, px) : which == 2 ? b(i, k, px) : bar(i, k, px);
    return v;
  }
  bool inconsistent(std::int64_t i, std::int64_t px) const {
    return first_max(channel(i, px, 1)) != first_max(channel(i, px, 2));
  }
  int yhat(std::int64_t i, std::int64_t px) const { return first_max(channel(i, px, 0)); }
  // Fixed-point keys as documented: per-channel terms rounded to 2^-60 (L1) and 2^-48 (entropy).
  std::int64_t l1(std::int64_t i, std::int64_t px) const {
    std::int64_t s = 0;
    for (std::int64_t k = 0; k < c; ++k)
      s += std::llround(std::ldexp(std::abs(static_cast<double>(a(i, k, px)) - static_cast<double>(b(i, k, px))), 60));
    return s;
  }
  std::int64_t entropy(std::int64_t i, std::int64_t px) const {
    std::int64_t s = 0;
    for (std::int64_t k = 0; k < c; ++k) {
      const double p = bar(i, k, px);
      if (p > 0) s += std::llround(std::ldexp(-p * std::log(p), 48));
    }
    return s;
  }
  double margin(std::int64_t i, std::int64_t px) const {
    auto v = channel(i, px, 0);
    std::sort(v.begin(), v.end(), std::greater<>());
    return v[0] - (v.size() > 1 ? v[1] : 0.0);
  }

  S::Query spl(std::optional<double> cap) const {
    S::Query q{"spl", static_cast<std::int32_t>(c), {}};
    for (std::int64_t i = 0; i < n; ++i) {
      std::vector<std::int64_t> sel;
      for (std::int64_t px = 0; px < hw; ++px)
        if (in_m(i, px)) sel.push_back(px);
      if (cap) {
        const auto limit = static_cast<std::size_t>(std::floor(*cap * static_cast<double>(hw)));
        std::sort(sel.begin(), sel.end(), [&](std::int64_t x, std::int64_t y) {
          const auto kx = l1(i, x), ky = l1(i, y);
          return kx != ky ? kx > ky : x < y;
        });
        if (sel.size() > limit) sel.resize(limit);
        std::sort(sel.begin(), sel.end());
      }
      q.images.push_back(image(sel, i));
    }
    return q;
  }

  S::ImageQuery image(const std::vector<std::int64_t>& sel, std::int64_t i) const {
    S::ImageQuery im{h, w, sel, {}, {}};
    for (auto px : sel) im.classes.push_back(yhat(i, px));
    return im;
  }

  template <class Key, class Better>
  S::Query top_k(const char* name, std::int64_t k, Key key, Better better) const {
    S::Query q{name, static_cast<std::int32_t>(c), {}};
    for (std::int64_t i = 0; i < n; ++i) {
      std::vector<std::int64_t> px;
      for (std::int64_t x = 0; x < hw; ++x)
        if (candidate(i, x)) px.push_back(x);
      std::sort(px.begin(), px.end(), [&](std::int64_t x, std::int64_t y) {
        const auto kx = key(i, x), ky = key(i, y);
        if (kx != ky) return better(kx, ky);
        return x < y;
      });
      px.resize(std::min(px.size(), static_cast<std::size_t>(k)));
      std::sort(px.begin(), px.end());
      q.images.push_back(image(px, i));
    }
    return q;
  }

  /// Random: image i draws min(points, #candidates) ranks of [0, #candidates) from
  /// Rng(image_seed(seed, i)) with Floyd's algorithm; rank r is the r-th candidate in pixel order.
  S::Query random(std::int64_t points, std::uint64_t seed) const {
    S::Query q{"random", static_cast<std::int32_t>(c), {}};
    for (std::int64_t i = 0; i < n; ++i) {
      std::vector<std::int64_t> cand;
      for (std::int64_t px = 0; px < hw; ++px)
        if (candidate(i, px)) cand.push_back(px);
      labor::Rng rng(S::detail::image_seed(seed, i));
      const auto m = static_cast<std::int64_t>(cand.size());
      std::vector<std::int64_t> sel;
      for (auto r : S::detail::sample_without_replacement(rng, m, std::min(points, m)))
        sel.push_back(cand[static_cast<std::size_t>(r)]);
      q.images.push_back(image(sel, i));
    }
    return q;
  }

  /// Allocation rounds written from DESIGN §1 with exact rational quotas (numerator over Σ_open).
  static std::map<int, std::int64_t> allocate(const std::map<int, std::int64_t>& size, std::int64_t points) {
    std::vector<int> ks;
    for (auto& [k, s] : size)
      if (s > 0) ks.push_back(k);
    std::sort(ks.begin(), ks.end(),
              [&](int x, int y) { return size.at(x) != size.at(y) ? size.at(x) > size.at(y) : x < y; });
    std::map<int, std::int64_t> got;
    if (points <= static_cast<std::int64_t>(ks.size())) {
      for (std::int64_t t = 0; t < points; ++t) got[ks[static_cast<std::size_t>(t)]] = 1;
      return got;
    }
    for (int k : ks) got[k] = 1;
    std::int64_t r = points - static_cast<std::int64_t>(ks.size());
    for (;;) {
      std::vector<int> open;
      std::int64_t total = 0;
      for (int k : ks)
        if (got[k] < size.at(k)) open.push_back(k), total += size.at(k);
      if (r == 0 || open.empty()) break;
      std::map<int, std::int64_t> give;
      std::int64_t given = 0;
      for (int k : open) given += (give[k] = r * size.at(k) / total);
      std::vector<int> by = open;  // open is ascending in k? no: ordered by size; sort by (fraction desc, k asc)
      std::sort(by.begin(), by.end(), [&](int x, int y) {
        const auto fx = r * size.at(x) % total, fy = r * size.at(y) % total;
        return fx != fy ? fx > fy : x < y;
      });
      for (std::int64_t t = 0; t < r - given; ++t) ++give[by[static_cast<std::size_t>(t)]];
      std::int64_t back = 0;
      for (int k : open) {
        got[k] += give[k];
        if (got[k] > size.at(k)) back += got[k] - size.at(k), got[k] = size.at(k);
      }
      r = back;
    }
    return got;
  }

  S::Query ppl(std::int64_t points, double min_distance) const {
    S::Query q{"ppl", static_cast<std::int32_t>(c), {}};
    for (std::int64_t i = 0; i < n; ++i) {
      std::map<int, std::vector<std::int64_t>> cls;
      for (std::int64_t px = 0; px < hw; ++px)
        if (in_m(i, px)) cls[yhat(i, px)].push_back(px);
      std::map<int, std::int64_t> size;
      for (auto& [k, v] : cls) size[k] = static_cast<std::int64_t>(v.size());
      const auto quota = allocate(size, points);
      struct Pick {
        std::int64_t px;
        int k;
        double score;
      };
      std::vector<Pick> picks;
      for (auto& [k, members] : cls) {
        std::vector<double> mu(static_cast<std::size_t>(c), 0.0);
        for (auto px : members)
          for (std::int64_t ch = 0; ch < c; ++ch) mu[static_cast<std::size_t>(ch)] += bar(i, ch, px);
        for (auto& v : mu) v /= static_cast<double>(members.size());
        std::vector<std::pair<double, std::int64_t>> cand;
        for (auto px : members) {
          double s = 0;
          for (std::int64_t ch = 0; ch < c; ++ch) {
            const double d = bar(i, ch, px) - mu[static_cast<std::size_t>(ch)];
            s += d * d;
          }
          cand.emplace_back(s, px);
        }
        std::sort(cand.begin(), cand.end());
        const auto want = quota.count(k) ? quota.at(k) : 0;
        std::vector<std::int64_t> taken;
        for (auto& [s, px] : cand) {
          if (static_cast<std::int64_t>(taken.size()) == want) break;
          bool far = true;
          for (auto t : taken)
            if (static_cast<double>(std::max(std::abs(t / w - px / w), std::abs(t % w - px % w))) < min_distance)
              far = false;
          if (!far) continue;
          taken.push_back(px);
          picks.push_back({px, k, s});
        }
      }
      std::sort(picks.begin(), picks.end(), [](const Pick& x, const Pick& y) { return x.px < y.px; });
      S::ImageQuery im{h, w, {}, {}, {}};
      for (auto& p : picks) {
        im.pixels.push_back(p.px);
        im.classes.push_back(p.k);
        im.scores.push_back(static_cast<float>(p.score));
      }
      q.images.push_back(im);
    }
    return q;
  }
};

void expect_same(const S::Query& got, const S::Query& want, double score_tol = -1) {
  EXPECT_EQ(got.strategy, want.strategy);
  EXPECT_EQ(got.num_classes, want.num_classes);
  ASSERT_EQ(got.images.size(), want.images.size());
  for (std::size_t i = 0; i < got.images.size(); ++i) {
    const auto& g = got.images[i];
    const auto& r = want.images[i];
    EXPECT_EQ(g.height, r.height);
    EXPECT_EQ(g.width, r.width);
    EXPECT_EQ(g.pixels, r.pixels) << "image " << i;
    EXPECT_EQ(g.classes, r.classes) << "image " << i;
    ASSERT_EQ(g.scores.size(), r.scores.size()) << "image " << i;
    for (std::size_t j = 0; j < g.scores.size(); ++j) {
      if (score_tol < 0) {
        EXPECT_EQ(g.scores[j], r.scores[j]);
      } else {
        EXPECT_NEAR(g.scores[j], r.scores[j], score_tol) << "image " << i << " point " << j;
      }
    }
  }
}

// ---------------------------------------------------------------- tests

TEST(Samplers, Names) {
  EXPECT_EQ(S::SplSampler{}.name(), "spl");
  EXPECT_EQ(S::PplSampler{}.name(), "ppl");
  EXPECT_EQ(S::RandomSampler{}.name(), "random");
  EXPECT_EQ(S::EntropySampler{}.name(), "entropy");
  EXPECT_EQ(S::MarginSampler{}.name(), "margin");
}

// A sampler of a user's own: only the rule, the other call forms from SelectForms. It selects,
// per image, the first pixel that is not excluded and records which policy type ran it.
struct FirstFreePixel : S::SelectForms<FirstFreePixel> {
  using SelectForms<FirstFreePixel>::select;
  [[nodiscard]] std::string_view name() const { return "first"; }
  template <class Policy, class T, labor::Device D>
  [[nodiscard]] S::Query select(const Policy&, labor::TensorView<T, D> p1, labor::TensorView<T, D>,
                                std::type_identity_t<S::ExcludeView<D>> exclude) const {
    static_assert(std::is_same_v<Policy, decltype(S::device_policy<labor::cpu>())>, "the host policy");
    const std::int64_t n = p1.size(0), h = p1.size(2), w = p1.size(3);
    S::Query q{.strategy = "first", .num_classes = static_cast<std::int32_t>(p1.size(1)), .images = {}};
    for (std::int64_t i = 0; i < n; ++i) {
      S::ImageQuery im{.height = h, .width = w, .pixels = {}, .classes = {}, .scores = {}};
      for (std::int64_t px = 0; px < h * w; ++px)
        if (exclude.numel() == 0 || exclude.data()[i * h * w + px] == 0) {
          im.pixels.push_back(px);
          im.classes.push_back(0);
          break;
        }
      q.images.push_back(std::move(im));
    }
    return q;
  }
};
static_assert(S::Sampler<FirstFreePixel>);

TEST(SelectForms, EveryFormCallsTheOneRule) {
  const auto m = smooth_maps(2, 3, 4, 5, 7);
  const FirstFreePixel s;
  const auto policy = S::device_policy<labor::cpu>();
  Tensor<std::uint8_t> exclude(Shape{2, 4, 5});
  for (std::int64_t px = 0; px < 3; ++px) exclude[px] = 1;       // image 0: pixels 0..2 excluded
  for (std::int64_t px = 0; px < 7; ++px) exclude[20 + px] = 1;  // image 1: pixels 0..6 excluded
  const labor::TensorView<const float, labor::cpu> p1 = m.p1.view(), p2 = m.p2.view();
  for (const S::Query& q : {s.select(p1, p2), s.select(policy, p1, p2)}) {
    ASSERT_EQ(q.images.size(), 2u);
    EXPECT_EQ(q.images[0].pixels, std::vector<std::int64_t>{0});
    EXPECT_EQ(q.images[1].pixels, std::vector<std::int64_t>{0});
  }
  const auto q = s.select(p1, p2, exclude.view());
  EXPECT_EQ(q.images[0].pixels, std::vector<std::int64_t>{3});
  EXPECT_EQ(q.images[1].pixels, std::vector<std::int64_t>{7});
  // The library's samplers get the same forms: with an empty mask, the same Query as without one.
  const S::PplSampler ppl{3, 2};
  const auto a = ppl.select(p1, p2), b = ppl.select(p1, p2, S::exclude_nothing<labor::cpu>());
  ASSERT_EQ(a.images.size(), b.images.size());
  for (std::size_t i = 0; i < a.images.size(); ++i) EXPECT_EQ(a.images[i].pixels, b.images[i].pixels);
  EXPECT_EQ(ppl.points, 3);
  EXPECT_EQ(ppl.min_distance, 2.0);
}

TEST(InconsistencyMask, MatchesReference) {
  for (auto seed : {1u, 2u}) {
    const auto m = seed == 1 ? palette_maps(2, 5, 9, 13, seed) : smooth_maps(3, 4, 7, 11, seed);
    const Ref ref(m);
    const auto mask = S::inconsistency_mask(m.p1, m.p2);
    ASSERT_EQ(mask.shape(), (Shape{ref.n, ref.h, ref.w}));
    std::int64_t ones = 0;
    for (std::int64_t i = 0; i < ref.n; ++i)
      for (std::int64_t px = 0; px < ref.hw; ++px) {
        ASSERT_EQ(mask[i * ref.hw + px], ref.inconsistent(i, px) ? 1 : 0) << i << " " << px;
        ones += mask[i * ref.hw + px];
      }
    EXPECT_GT(ones, 0);
    EXPECT_LT(ones, mask.numel());
  }
}

TEST(Spl, EveryInconsistentPixel) {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    const auto m = palette_maps(3, 6, 17, 19, seed);
    expect_same(S::SplSampler{}.select(m.p1, m.p2), Ref(m).spl(std::nullopt));
  }
  const auto s = smooth_maps(2, 19, 33, 47, 9);
  expect_same(S::SplSampler{}.select(s.p1, s.p2), Ref(s).spl(std::nullopt));
}

TEST(Spl, CapKeepsLargestDisagreementWithTies) {
  const auto m = palette_maps(2, 5, 23, 29, 4, 0.3);
  const Ref ref(m);
  for (double cap : {1.0, 0.5, 0.1, 0.01, 0.001}) {
    SCOPED_TRACE(cap);
    expect_same(S::SplSampler{cap}.select(m.p1, m.p2), ref.spl(cap));
  }
  const auto q = S::SplSampler{0.01}.select(m.p1, m.p2);
  for (const auto& im : q.images) EXPECT_EQ(im.pixels.size(), 6u);  // ⌊0.01·667⌋, M is larger
  const auto s = smooth_maps(1, 7, 40, 50, 5);
  expect_same(S::SplSampler{0.05}.select(s.p1, s.p2), Ref(s).spl(0.05));
}

TEST(Ppl, MatchesReferenceOverAllocationRegimes) {
  const auto m = palette_maps(3, 6, 21, 25, 7, 0.4);
  const Ref ref(m);
  for (std::int64_t points : {1, 2, 3, 6, 11, 40, 200, 525}) {
    for (double r : {0.0, 2.0, 3.5}) {
      SCOPED_TRACE(testing::Message() << "points " << points << " min_distance " << r);
      expect_same(S::PplSampler{points, r}.select(m.p1, m.p2), ref.ppl(points, r), 1e-6);
    }
  }
  const auto s = smooth_maps(2, 19, 31, 37, 3);
  const Ref sref(s);
  for (std::int64_t points : {5, 40, 300})
    expect_same(S::PplSampler{points}.select(s.p1, s.p2), sref.ppl(points, 0), 1e-6);
  expect_same(S::PplSampler{40, 4}.select(s.p1, s.p2), sref.ppl(40, 4), 1e-6);
}

TEST(Ppl, AllocationRounds) {
  using V = std::vector<std::int64_t>;
  // N ≤ K: the largest classes first, ties to the lower class.
  EXPECT_EQ(S::detail::ppl_allocation({10, 5, 5, 0, 1}, 2), (V{1, 1, 0, 0, 0}));
  EXPECT_EQ(S::detail::ppl_allocation({5, 10, 5, 0, 1}, 3), (V{1, 1, 1, 0, 0}));
  // Remainder by the largest fractional part: R = 5 over 10, 5, 1 → 3.125, 1.5625, 0.3125.
  EXPECT_EQ(S::detail::ppl_allocation({10, 5, 1, 0}, 8), (V{4, 3, 1, 0}));
  // Equal fractions: lower class wins.
  EXPECT_EQ(S::detail::ppl_allocation({3, 3, 3}, 4), (V{2, 1, 1}));
  // Cut back: 0.75, 0.75, 7.5 → 1, 1, 8 after the round, 2 points return and go to the open class.
  EXPECT_EQ(S::detail::ppl_allocation({1, 1, 10}, 12), (V{1, 1, 10}));
  // More points than |M|: every pixel, no more.
  EXPECT_EQ(S::detail::ppl_allocation({2, 0, 1}, 9), (V{2, 0, 1}));
  EXPECT_EQ(S::detail::ppl_allocation({0, 0}, 3), (V{0, 0}));
  // Against the reference rounds on many random sizes.
  labor::Rng rng(11);
  for (int t = 0; t < 2000; ++t) {
    const int c = 1 + static_cast<int>(rng.uniform_int(8));
    V size(static_cast<std::size_t>(c));
    std::map<int, std::int64_t> sz;
    for (int k = 0; k < c; ++k)
      sz[k] = size[static_cast<std::size_t>(k)] =
          static_cast<std::int64_t>(rng.uniform_int(4) == 0 ? 0 : rng.uniform_int(30));
    const auto points = 1 + static_cast<std::int64_t>(rng.uniform_int(80));
    const auto got = S::detail::ppl_allocation(size, points);
    const auto want = Ref::allocate(sz, points);
    for (int k = 0; k < c; ++k)
      ASSERT_EQ(got[static_cast<std::size_t>(k)], want.count(k) ? want.at(k) : 0) << "trial " << t << " class " << k;
  }
}

TEST(Ppl, EmptyMaskGivesNoPoints) {
  auto m = palette_maps(2, 4, 6, 7, 3, 1.0);  // p2 == p1: M is empty
  const auto q = S::PplSampler{10}.select(m.p1, m.p2);
  ASSERT_EQ(q.images.size(), 2u);
  for (const auto& im : q.images) {
    EXPECT_TRUE(im.pixels.empty());
    EXPECT_EQ(im.height, 6);
  }
  EXPECT_EQ(q.selected_pixels(), 0);
  EXPECT_EQ(S::SplSampler{}.select(m.p1, m.p2).selected_pixels(), 0);
}

TEST(Ppl, MinDistanceSpreadsPoints) {
  const auto m = palette_maps(1, 3, 30, 30, 8, 0.0);
  const auto q = S::PplSampler{30, 5}.select(m.p1, m.p2);
  const auto& im = q.images[0];
  for (std::size_t a = 0; a < im.pixels.size(); ++a)
    for (std::size_t b = a + 1; b < im.pixels.size(); ++b)
      if (im.classes[a] == im.classes[b]) {
        const auto dy = std::abs(im.pixels[a] / 30 - im.pixels[b] / 30),
                   dx = std::abs(im.pixels[a] % 30 - im.pixels[b] % 30);
        EXPECT_GE(std::max(dy, dx), 5);
      }
}

TEST(Entropy, MatchesReferenceWithTies) {
  for (std::uint64_t seed : {1u, 5u}) {
    const auto m = palette_maps(2, 5, 15, 16, seed);
    const Ref ref(m);
    for (std::int64_t k : {1, 7, 100, 240}) {
      SCOPED_TRACE(k);
      expect_same(S::EntropySampler{k}.select(m.p1, m.p2),
                  ref.top_k(
                      "entropy", k, [&](auto i, auto px) { return ref.entropy(i, px); }, std::greater<>()));
    }
  }
  const auto s = smooth_maps(2, 19, 20, 21, 2);
  const Ref sref(s);
  expect_same(S::EntropySampler{50}.select(s.p1, s.p2),
              sref.top_k(
                  "entropy", 50, [&](auto i, auto px) { return sref.entropy(i, px); }, std::greater<>()));
}

TEST(Margin, MatchesReferenceWithTies) {
  for (std::uint64_t seed : {2u, 6u}) {
    const auto m = palette_maps(2, 5, 15, 16, seed);
    const Ref ref(m);
    for (std::int64_t k : {1, 9, 100, 240}) {
      SCOPED_TRACE(k);
      expect_same(S::MarginSampler{k}.select(m.p1, m.p2),
                  ref.top_k(
                      "margin", k, [&](auto i, auto px) { return ref.margin(i, px); }, std::less<>()));
    }
  }
  const auto s = smooth_maps(2, 19, 20, 21, 3);
  const Ref sref(s);
  expect_same(S::MarginSampler{50}.select(s.p1, s.p2),
              sref.top_k(
                  "margin", 50, [&](auto i, auto px) { return sref.margin(i, px); }, std::less<>()));
  // One class: the margin is top-1 (= 1), every pixel ties, the lowest indices win.
  Tensor<float> one = Tensor<float>::full(Shape{1, 1, 3, 4}, 1.0f);
  const auto q = S::MarginSampler{3}.select(one, one);
  EXPECT_EQ(q.images[0].pixels, (std::vector<std::int64_t>{0, 1, 2}));
}

TEST(Random, DeterministicUniformAndThreadIndependent) {
  const auto m = palette_maps(3, 4, 8, 9, 1);
  const Ref ref(m);
  const auto a = S::RandomSampler{10, 42}.select(m.p1, m.p2);
  const auto b = S::RandomSampler{10, 42}.select(m.p1, m.p2);
  expect_same(a, b);
  const auto other = S::RandomSampler{10, 43}.select(m.p1, m.p2);
  EXPECT_NE(a.images[0].pixels, other.images[0].pixels);
  EXPECT_NE(a.images[0].pixels, a.images[1].pixels);
  for (std::size_t i = 0; i < a.images.size(); ++i) {
    const auto& im = a.images[i];
    ASSERT_EQ(im.pixels.size(), 10u);
    EXPECT_TRUE(std::is_sorted(im.pixels.begin(), im.pixels.end()));
    EXPECT_EQ(std::adjacent_find(im.pixels.begin(), im.pixels.end()), im.pixels.end());
    for (std::size_t j = 0; j < im.pixels.size(); ++j) {
      EXPECT_GE(im.pixels[j], 0);
      EXPECT_LT(im.pixels[j], 72);
      EXPECT_EQ(im.classes[j], ref.yhat(static_cast<std::int64_t>(i), im.pixels[j]));
    }
    EXPECT_TRUE(im.scores.empty());
  }
  // Thread count does not matter.
  const int threads = labor::num_threads();
  labor::set_num_threads(1);
  const auto one = S::RandomSampler{10, 42}.select(m.p1, m.p2);
  labor::set_num_threads(threads);
  expect_same(one, a);
  // Every pixel once at points = H·W.
  const auto all = S::RandomSampler{72, 1}.select(m.p1, m.p2);
  EXPECT_EQ(all.images[2].pixels.size(), 72u);
  // Uniformity: 3 of 16 pixels, 8000 draws; each pixel expected 1500 times.
  const auto u = palette_maps(1, 2, 4, 4, 2);
  std::vector<int> hits(16, 0);
  for (std::uint64_t seed = 0; seed < 8000; ++seed) {
    const auto q = S::RandomSampler{3, seed}.select(u.p1, u.p2);
    for (auto p : q.images[0].pixels) ++hits[static_cast<std::size_t>(p)];
  }
  double chi2 = 0;
  for (int h : hits) chi2 += (h - 1500.0) * (h - 1500.0) / 1500.0;
  EXPECT_LT(chi2, 45.0);  // 15 degrees of freedom: p ≈ 1e-4
}

TEST(Samplers, OmpAndCppSystemsAgreeExactly) {
  const auto m = palette_maps(2, 6, 37, 41, 12, 0.5);
  const labor::TensorView<const float> p1 = m.p1, p2 = m.p2;
  auto both = [&](const auto& s) {
    expect_same(s.select(thrust::omp::par, p1, p2), s.select(thrust::cpp::par, p1, p2));
  };
  both(S::SplSampler{});
  both(S::SplSampler{0.05});
  both(S::PplSampler{40});
  both(S::PplSampler{40, 3});
  both(S::RandomSampler{25, 3});
  both(S::EntropySampler{25});
  both(S::MarginSampler{25});
  const auto a = S::inconsistency_mask(thrust::omp::par, p1, p2), b = S::inconsistency_mask(thrust::cpp::par, p1, p2);
  for (std::int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a[i], b[i]);
  // And on one thread.
  const int threads = labor::num_threads();
  labor::set_num_threads(1);
  const auto one = S::PplSampler{40}.select(p1, p2);
  labor::set_num_threads(threads);
  expect_same(one, S::PplSampler{40}.select(p1, p2));
}

TEST(Samplers, ThreeDimensionalInputIsOneImage) {
  const auto m = palette_maps(1, 4, 10, 12, 3, 0.3);
  const labor::TensorView<const float> p1 = m.p1.view().reshaped(Shape{4, 10, 12}),
                                       p2 = m.p2.view().reshaped(Shape{4, 10, 12});
  expect_same(S::SplSampler{}.select(p1, p2), S::SplSampler{}.select(m.p1, m.p2));
  expect_same(S::PplSampler{9}.select(p1, p2), S::PplSampler{9}.select(m.p1, m.p2));
  EXPECT_EQ(S::inconsistency_mask(p1, p2).shape(), (Shape{1, 10, 12}));
}

TEST(Samplers, QueryAccounting) {
  const auto m = palette_maps(2, 5, 10, 10, 4, 0.2);
  const auto q = S::PplSampler{12}.select(m.p1, m.p2);
  EXPECT_EQ(q.strategy, "ppl");
  EXPECT_EQ(q.num_classes, 5);
  EXPECT_EQ(q.selected_pixels(), 24);
  EXPECT_EQ(q.pool_pixels(), 200);
  EXPECT_DOUBLE_EQ(q.fraction(), 0.12);
  EXPECT_DOUBLE_EQ(q.points_per_image(), 12.0);
  const auto counts = q.per_class_counts();
  EXPECT_EQ(std::accumulate(counts.begin(), counts.end(), std::int64_t{0}), 24);
}

// ---------------------------------------------------------------- host fast path vs generic passes

// The vector block sweep against BlockStats on every full block: M, ŷ (with its exact recomputation
// where the float sums tie) and validity, on maps with ties and with bad values of every kind.
TEST(SamplersHostPath, SweepBlockMatchesBlockStats) {
  using S::detail::BlockStats;
  using S::detail::SweepBlock;
  constexpr int P = SweepBlock::pixels;
  std::vector<Maps> all;
  all.push_back(palette_maps(2, 5, 8, 3 * P, 3));
  all.push_back(smooth_maps(1, 19, 4, 2 * P, 4));
  all.push_back(palette_maps(1, 1, 2, P, 5));  // one class: M empty
  auto bad = palette_maps(1, 4, 6, P, 6);
  const std::int64_t hw = 6 * P;
  bad.p1[0 * hw + 3] = -0.5f;
  bad.p2[1 * hw + 10] = std::nanf("");
  bad.p1[2 * hw + 20] = std::numeric_limits<float>::infinity();
  bad.p2[3 * hw + 30] = -std::numeric_limits<float>::infinity();
  bad.p1[0 * hw + 40] += 0.01f;
  bad.p2[2 * hw + 50] = -0.0f;  // a negative zero is a valid probability
  bad.p1[1 * hw + P + 7] = std::nanf("");
  bad.p2[1 * hw + P + 7] = -1.0f;
  all.push_back(bad);
  for (const auto& m : all) {
    const std::int64_t c = m.p1.size(1), px = m.p1.size(2) * m.p1.size(3);
    for (std::int64_t n = 0; n < m.p1.size(0); ++n)
      for (std::int64_t b = 0; b < px / P; ++b) {
        const float* a = m.p1.data() + n * c * px + b * P;
        const float* z = m.p2.data() + n * c * px + b * P;
        SweepBlock blk;
        blk.compute(a, z, px, static_cast<int>(c));
        for (int q = 0; q < P; q += 16) {
          BlockStats<16, S::detail::stat_none> ref;
          ref.compute(a + q, z + q, px, static_cast<int>(c), 16);
          for (int j = 0; j < 16; ++j) {
            const int k = q + j;
            SCOPED_TRACE(testing::Message() << "image " << n << " pixel " << b * P + k);
            ASSERT_EQ(((blk.bad >> k) & 1u) != 0, ref.bad[j]);
            if (ref.bad[j]) continue;
            ASSERT_EQ(((blk.diff >> k) & 1u) != 0, ref.a1[j] != ref.a2[j]);
            const int yhat = ((blk.tie >> k) & 1u) != 0 ? S::detail::mean_argmax(a + k, z + k, px, static_cast<int>(c))
                                                        : blk.yhat[k];
            ASSERT_EQ(yhat, ref.yhat[j]);
          }
        }
      }
  }
}

// Whole selections: the host path (the default on host maps) against the generic passes, on images
// whose sizes end in partial sweep blocks and tiles, over caps, point counts and min distances.
TEST(SamplersHostPath, SplAndPplMatchGenericPasses) {
  using S::detail::Path;
  const auto policy = thrust::omp::par;
  std::vector<Maps> all;
  all.push_back(palette_maps(3, 6, 21, 25, 7, 0.4));
  all.push_back(palette_maps(2, 5, 33, 70, 8, 0.3));  // 2310 pixels: full sweep blocks and a tail
  all.push_back(smooth_maps(2, 19, 31, 37, 3));
  all.push_back(smooth_maps(1, 7, 64, 96, 11));
  all.push_back(smooth_maps(1, 19, 100, 150, 13));       // a tile of 13760 pixels and a shorter one
  all.push_back(palette_maps(1, 5, 130, 140, 14, 0.3));  // a tile of 16384 pixels and a shorter one
  all.push_back(palette_maps(2, 4, 6, 7, 3, 1.0));       // M empty
  for (const auto& m : all) {
    const labor::TensorView<const float> p1 = m.p1, p2 = m.p2;
    SCOPED_TRACE(fmt::format("maps {}", m.p1.shape()));
    for (std::optional<double> cap : {std::optional<double>{}, std::optional<double>{1.0}, std::optional<double>{0.05},
                                      std::optional<double>{0.001}}) {
      SCOPED_TRACE(cap ? *cap : -1.0);
      expect_same(S::detail::spl_select(policy, cap, p1, p2, Path::automatic),
                  S::detail::spl_select(policy, cap, p1, p2, Path::generic));
    }
    const std::int64_t hw = m.p1.size(2) * m.p1.size(3);
    for (std::int64_t points : {std::int64_t{1}, std::int64_t{3}, std::int64_t{11}, std::int64_t{40}, hw / 2, hw})
      for (double r : {0.0, 2.0, 3.5}) {
        SCOPED_TRACE(testing::Message() << "points " << points << " min_distance " << r);
        expect_same(S::detail::ppl_select(policy, points, r, p1, p2, Path::automatic),
                    S::detail::ppl_select(policy, points, r, p1, p2, Path::generic));
      }
  }
  // Classes larger than the walked prefix (1024) whose walk runs out under a wide min_distance.
  const auto big = smooth_maps(1, 3, 160, 200, 12);
  const labor::TensorView<const float> b1 = big.p1, b2 = big.p2;
  for (double r : {40.0, 70.0}) {
    const auto fast = S::detail::ppl_select(policy, 300, r, b1, b2, Path::automatic);
    expect_same(fast, S::detail::ppl_select(policy, 300, r, b1, b2, Path::generic));
    EXPECT_LT(fast.selected_pixels(), 300);
  }
  // The sequential system takes the host path as well.
  const auto m = palette_maps(2, 6, 37, 41, 12, 0.5);
  const labor::TensorView<const float> p1 = m.p1, p2 = m.p2;
  expect_same(S::detail::ppl_select(thrust::cpp::par, 40, 0.0, p1, p2, Path::automatic),
              S::detail::ppl_select(thrust::cpp::par, 40, 0.0, p1, p2, Path::generic));
  expect_same(S::detail::spl_select(thrust::cpp::par, std::optional<double>{0.1}, p1, p2, Path::automatic),
              S::detail::spl_select(thrust::cpp::par, std::optional<double>{0.1}, p1, p2, Path::generic));
}

// Both paths report the same first bad pixel, in a full sweep block or in the tail of a tile.
TEST(SamplersHostPath, SameErrorsAsGenericPasses) {
  using S::detail::Path;
  const auto m = palette_maps(2, 3, 33, 70, 2);
  const std::int64_t hw = 33 * 70;
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const labor::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  for (std::int64_t px : {std::int64_t{5}, std::int64_t{1100}, hw - 3}) {
    for (int which = 0; which < 4; ++which) {
      auto p1 = m.p1, p2 = m.p2;
      auto& t = which % 2 == 0 ? p1 : p2;
      const std::int64_t at = (1 * 3 + which % 3) * hw + px;
      t[at] = which == 0 ? -0.25f : which == 1 ? std::nanf("") : which == 2 ? t[at] + 0.01f : 2.0f;
      p1[(1 * 3 + 1) * hw + hw - 1] = -1.0f;  // a later bad pixel is not the one reported
      const labor::TensorView<const float> v1 = p1, v2 = p2;
      SCOPED_TRACE(testing::Message() << "pixel " << px << " kind " << which);
      const auto spl_fast =
          message([&] { (void)S::detail::spl_select(thrust::omp::par, {}, v1, v2, Path::automatic); });
      EXPECT_NE(spl_fast, "no error");
      EXPECT_EQ(spl_fast, message([&] { (void)S::detail::spl_select(thrust::omp::par, {}, v1, v2, Path::generic); }));
      const auto ppl_fast =
          message([&] { (void)S::detail::ppl_select(thrust::omp::par, 5, 0.0, v1, v2, Path::automatic); });
      EXPECT_NE(ppl_fast, "no error");
      EXPECT_EQ(ppl_fast,
                message([&] { (void)S::detail::ppl_select(thrust::omp::par, 5, 0.0, v1, v2, Path::generic); }));
    }
  }
}

// ---------------------------------------------------------------- exclusion (labeling rounds)

using labor::testing::exclusion_mask;
using S::ExcludeView;

// The concept states the call LaborTrainer::select makes, select(policy, p1, p2, exclude), and the
// host form select(p1, p2) on cpu: a type lacking either is not a Sampler.
struct HostFormOnly {
  [[nodiscard]] std::string_view name() const { return "host-form-only"; }
  [[nodiscard]] S::Query select(labor::TensorView<const float>, labor::TensorView<const float>) const { return {}; }
};
struct PolicyFormWithoutExclude : HostFormOnly {
  using HostFormOnly::select;
  template <class Policy>
  [[nodiscard]] S::Query select(const Policy&, labor::TensorView<const float>, labor::TensorView<const float>) const {
    return {};
  }
};
struct ExcludeFormOnly {
  [[nodiscard]] std::string_view name() const { return "exclude-form-only"; }
  template <class Policy>
  [[nodiscard]] S::Query select(const Policy&, labor::TensorView<const float>, labor::TensorView<const float>,
                                ExcludeView<labor::cpu>) const {
    return {};
  }
};
struct BothForms : ExcludeFormOnly {
  using ExcludeFormOnly::select;
  [[nodiscard]] S::Query select(labor::TensorView<const float>, labor::TensorView<const float>) const { return {}; }
};
static_assert(!S::Sampler<HostFormOnly>);
static_assert(!S::Sampler<PolicyFormWithoutExclude, labor::cpu>);
static_assert(!S::Sampler<ExcludeFormOnly, labor::cpu>);
static_assert(S::Sampler<BothForms, labor::cpu>);
static_assert(S::Sampler<S::SplSampler, labor::cpu> && S::Sampler<S::PplSampler, labor::cpu> &&
              S::Sampler<S::RandomSampler, labor::cpu> && S::Sampler<S::EntropySampler, labor::cpu> &&
              S::Sampler<S::MarginSampler, labor::cpu>);

/// Every sampler in configurations covering its regimes, for images of `hw` pixels.
template <class F>
void for_each_sampler(std::int64_t hw, F&& f) {
  for (std::optional<double> cap :
       {std::optional<double>{}, std::optional<double>{1.0}, std::optional<double>{0.3}, std::optional<double>{0.02}})
    f(S::SplSampler{cap});
  for (std::int64_t points : {std::int64_t{1}, std::int64_t{7}, std::int64_t{40}, hw})
    for (double r : {0.0, 2.5})
      if (points <= hw) f(S::PplSampler{points, r});
  for (std::int64_t points : {std::int64_t{1}, std::int64_t{10}, hw / 2, hw}) {
    f(S::RandomSampler{points, static_cast<std::uint64_t>(points) + 3});
    f(S::EntropySampler{points});
    f(S::MarginSampler{points});
  }
}

/// The plain-loop reference of each sampler (over Ref's candidates).
S::Query reference(const Ref& r, const S::SplSampler& s) {
  return r.spl(s.cap);
}
S::Query reference(const Ref& r, const S::PplSampler& s) {
  return r.ppl(s.points, s.min_distance);
}
S::Query reference(const Ref& r, const S::RandomSampler& s) {
  return r.random(s.points, s.seed);
}
S::Query reference(const Ref& r, const S::EntropySampler& s) {
  return r.top_k(
      "entropy", s.points, [&](auto i, auto px) { return r.entropy(i, px); }, std::greater<>());
}
S::Query reference(const Ref& r, const S::MarginSampler& s) {
  return r.top_k(
      "margin", s.points, [&](auto i, auto px) { return r.margin(i, px); }, std::less<>());
}

/// A readable name of a sampler configuration for traces.
std::string describe(const S::SplSampler& s) {
  return fmt::format("spl cap {}", s.cap ? *s.cap : -1.0);
}
std::string describe(const S::PplSampler& s) {
  return fmt::format("ppl {} r {}", s.points, s.min_distance);
}
std::string describe(const S::RandomSampler& s) {
  return fmt::format("random {} seed {}", s.points, s.seed);
}
std::string describe(const S::EntropySampler& s) {
  return fmt::format("entropy {}", s.points);
}
std::string describe(const S::MarginSampler& s) {
  return fmt::format("margin {}", s.points);
}

std::vector<Maps> exclusion_maps() {
  std::vector<Maps> all;
  all.push_back(palette_maps(5, 6, 17, 19, 1, 0.4));  // ties on purpose; images of every mask kind
  all.push_back(palette_maps(4, 5, 11, 37, 2, 0.2));
  all.push_back(smooth_maps(4, 7, 13, 21, 3));
  return all;
}

TEST(SamplersExclude, EmptyExclusionIsTheTwoArgumentSelect) {
  for (const auto& m : exclusion_maps()) {
    const labor::TensorView<const float> p1 = m.p1, p2 = m.p2;
    const Tensor<std::uint8_t> zeros(Shape{m.p1.size(0), m.p1.size(2), m.p1.size(3)});
    for_each_sampler(m.p1.size(2) * m.p1.size(3), [&](const auto& s) {
      SCOPED_TRACE(describe(s));
      const auto plain = s.select(p1, p2);
      expect_same(s.select(p1, p2, ExcludeView<labor::cpu>{}), plain);
      expect_same(s.select(p1, p2, S::exclude_nothing<labor::cpu>()), plain);
      expect_same(s.select(thrust::omp::par, p1, p2, ExcludeView<labor::cpu>{}), plain);
      expect_same(s.select(thrust::cpp::par, p1, p2, S::exclude_nothing<labor::cpu>()),
                  s.select(thrust::cpp::par, p1, p2));
      expect_same(s.select(p1, p2, zeros), plain);  // a mask of zeros excludes nothing either
    });
  }
}

TEST(SamplersExclude, MatchesReferenceAndNeverSelectsAnExcludedPixel) {
  std::uint64_t seed = 10;
  for (const auto& m : exclusion_maps()) {
    SCOPED_TRACE(fmt::format("maps {}", m.p1.shape()));
    const auto mask = exclusion_mask(m.p1.size(0), m.p1.size(2), m.p1.size(3), ++seed);
    const Ref ref(m, mask);
    const std::int64_t hw = ref.hw;
    for_each_sampler(hw, [&](const auto& s) {
      SCOPED_TRACE(describe(s));
      const auto q = s.select(m.p1, m.p2, mask);
      expect_same(q, reference(ref, s), 1e-6);
      for (std::size_t i = 0; i < q.images.size(); ++i)
        for (auto px : q.images[i].pixels)
          ASSERT_EQ(mask[static_cast<std::int64_t>(i) * hw + px], 0) << "image " << i << " pixel " << px;
      // An image whose every pixel is excluded gets none; one with nothing excluded what select(p1, p2) gives it.
      EXPECT_TRUE(q.images[1].pixels.empty());
      const auto plain = s.select(m.p1, m.p2);
      EXPECT_EQ(q.images[0].pixels, plain.images[0].pixels);
    });
  }
  // Without an exclusion the reference is the plain rule (the random reference maps ranks to pixels).
  const auto m = palette_maps(3, 4, 8, 9, 1);
  expect_same(S::RandomSampler{10, 42}.select(m.p1, m.p2), Ref(m).random(10, 42));
}

TEST(SamplersExclude, FewerCandidatesThanPointsGiveFewerPixels) {
  const auto m = palette_maps(1, 4, 6, 8, 5, 0.0);
  Tensor<std::uint8_t> mask = Tensor<std::uint8_t>::full(Shape{1, 6, 8}, 1);
  for (std::int64_t px : {3, 17, 40}) mask[px] = 0;
  const std::vector<std::int64_t> left{3, 17, 40};
  EXPECT_EQ((S::RandomSampler{10, 1}.select(m.p1, m.p2, mask).images[0].pixels), left);
  EXPECT_EQ(S::EntropySampler{10}.select(m.p1, m.p2, mask).images[0].pixels, left);
  EXPECT_EQ(S::MarginSampler{48}.select(m.p1, m.p2, mask).images[0].pixels, left);
  const auto ppl = S::PplSampler{10}.select(m.p1, m.p2, mask);
  EXPECT_LE(ppl.images[0].pixels.size(), 3u);
  for (auto px : ppl.images[0].pixels) EXPECT_TRUE(px == 3 || px == 17 || px == 40);
  // points is still checked against H·W.
  expect_error([&] { (void)S::EntropySampler{49}.select(m.p1, m.p2, mask); }, {"entropy", "points"});
}

// The host fast path and the generic Thrust passes under an exclusion, on images that end in partial
// sweep blocks and tiles; and the OMP and CPP systems for every sampler.
TEST(SamplersExclude, HostPathEqualsGenericPasses) {
  using S::detail::Path;
  const auto policy = thrust::omp::par;
  std::vector<Maps> all = exclusion_maps();
  all.push_back(palette_maps(4, 5, 33, 70, 8, 0.3));
  all.push_back(smooth_maps(4, 19, 100, 150, 13));  // a tile of 13760 pixels and a shorter one
  std::uint64_t seed = 20;
  for (const auto& m : all) {
    SCOPED_TRACE(fmt::format("maps {}", m.p1.shape()));
    const auto mask = exclusion_mask(m.p1.size(0), m.p1.size(2), m.p1.size(3), ++seed);
    const labor::TensorView<const float> p1 = m.p1, p2 = m.p2;
    const ExcludeView<labor::cpu> ex = mask;
    for (std::optional<double> cap : {std::optional<double>{}, std::optional<double>{0.05}}) {
      const auto fast = S::detail::spl_select(policy, cap, p1, p2, Path::automatic, ex);
      expect_same(fast, S::detail::spl_select(policy, cap, p1, p2, Path::generic, ex));
      EXPECT_NE(fast.selected_pixels(), S::detail::spl_select(policy, cap, p1, p2, Path::generic).selected_pixels());
    }
    const std::int64_t hw = m.p1.size(2) * m.p1.size(3);
    for (std::int64_t points : {std::int64_t{3}, std::int64_t{40}, hw})
      for (double r : {0.0, 3.5}) {
        SCOPED_TRACE(testing::Message() << "points " << points << " min_distance " << r);
        expect_same(S::detail::ppl_select(policy, points, r, p1, p2, Path::automatic, ex),
                    S::detail::ppl_select(policy, points, r, p1, p2, Path::generic, ex));
      }
    for_each_sampler(hw, [&](const auto& s) {
      SCOPED_TRACE(describe(s));
      expect_same(s.select(thrust::omp::par, p1, p2, ex), s.select(thrust::cpp::par, p1, p2, ex));
    });
  }
}

TEST(SamplersExclude, ThreeDimensionalMapsTakeAnHxWMask) {
  const auto m = palette_maps(1, 4, 10, 12, 3, 0.3);
  const auto mask = exclusion_mask(3, 10, 12, 4);  // image 2: 30% excluded
  const labor::TensorView<const float> p1 = m.p1.view().reshaped(Shape{4, 10, 12}),
                                       p2 = m.p2.view().reshaped(Shape{4, 10, 12});
  const ExcludeView<labor::cpu> one = mask.view().slice(2), batch = mask.view().slice(2).reshaped(Shape{1, 10, 12});
  const Tensor<std::uint8_t> batch_mask(batch);
  const Ref ref(m, batch_mask);
  for_each_sampler(120, [&](const auto& s) {
    SCOPED_TRACE(describe(s));
    const auto q = s.select(p1, p2, one);
    expect_same(q, s.select(m.p1, m.p2, batch));
    expect_same(q, reference(ref, s), 1e-6);
  });
}

TEST(SamplersExclude, WrongShapeIsAnErrorNamingExclude) {
  const auto m = palette_maps(2, 3, 4, 5, 1);
  const Tensor<std::uint8_t> wide(Shape{2, 4, 6}), flat(Shape{40}), one(Shape{4, 5}), batch(Shape{1, 4, 5});
  for_each_sampler(20, [&](const auto& s) {
    const std::string who(s.name());
    SCOPED_TRACE(who);
    expect_error([&] { (void)s.select(m.p1, m.p2, wide); },
                 {who + ": exclude: expected shape [2, 4, 5], got [2, 4, 6]"});
    expect_error([&] { (void)s.select(m.p1, m.p2, flat); }, {"exclude", "[2, 4, 5]", "[40]"});
    expect_error([&] { (void)s.select(m.p1, m.p2, one); }, {"exclude", "[2, 4, 5]", "[4, 5]"});
    const labor::TensorView<const float> p1 = m.p1.view().slice(0), p2 = m.p2.view().slice(0);
    expect_error([&] { (void)s.select(p1, p2, batch); }, {who + ": exclude: expected shape [4, 5], got [1, 4, 5]"});
    expect_error([&] { (void)s.select(thrust::cpp::par, p1, p2, ExcludeView<labor::cpu>(wide)); }, "exclude");
  });
}

// A bad value of p2 at an excluded pixel is still reported (SPL and PPL validate before they copy p1
// into p2 there), with the message select(p1, p2) gives.
TEST(SamplersExclude, BadValueAtAnExcludedPixelIsReported) {
  const auto m = palette_maps(2, 3, 4, 5, 1);
  auto bad = m.p2;
  const std::int64_t px = 2 * 5 + 3;  // image 1, y = 2, x = 3
  bad[(1 * 3 + 2) * 20 + px] = -0.25f;
  const Tensor<std::uint8_t> all = Tensor<std::uint8_t>::full(Shape{2, 4, 5}, 1);
  for_each_sampler(20, [&](const auto& s) {
    const std::string who(s.name());
    SCOPED_TRACE(who);
    const auto want = labor::testing::error_of([&] { (void)s.select(m.p1, bad); });
    EXPECT_NE(want.find("y=2, x=3"), std::string::npos) << want;
    EXPECT_EQ(labor::testing::error_of([&] { (void)s.select(m.p1, bad, all); }), want);
  });
}

// ---------------------------------------------------------------- bad input

TEST(SamplersErrors, ShapesAndBudgets) {
  const auto m = palette_maps(1, 3, 4, 5, 1);
  Tensor<float> other(Shape{1, 3, 5, 4});
  expect_error([&] { (void)S::SplSampler{}.select(m.p1, other); }, {"spl", "p2 shape", "[1, 3, 4, 5]", "[1, 3, 5, 4]"});
  expect_error([&] { (void)S::PplSampler{3}.select(m.p1, other); }, {"ppl", "p2 shape"});
  Tensor<float> flat(Shape{60});
  expect_error([&] { (void)S::EntropySampler{1}.select(flat, flat); }, {"entropy", "rank"});
  Tensor<float> empty(Shape{0, 3, 4, 5});
  expect_error([&] { (void)S::MarginSampler{1}.select(empty, empty); }, {"margin", "non-empty"});
  expect_error([&] { (void)S::inconsistency_mask(m.p1, other); }, {"inconsistency_mask", "p2 shape"});
  for (std::int64_t bad : {0, -1, 21}) {
    expect_error([&] { (void)S::PplSampler{bad}.select(m.p1, m.p2); }, {"ppl", "points", std::to_string(bad)});
    expect_error([&] { (void)S::RandomSampler{bad, 1}.select(m.p1, m.p2); }, {"random", "points"});
    expect_error([&] { (void)S::EntropySampler{bad}.select(m.p1, m.p2); }, {"entropy", "points"});
    expect_error([&] { (void)S::MarginSampler{bad}.select(m.p1, m.p2); }, {"margin", "points"});
  }
  for (double cap : {0.0, -0.5, 1.5, std::nan("")})
    expect_error([&] { (void)S::SplSampler{cap}.select(m.p1, m.p2); }, {"spl", "cap", "(0, 1]"});
  expect_error([&] { (void)S::PplSampler{3, -1}.select(m.p1, m.p2); }, {"ppl", "min_distance"});
}

TEST(SamplersErrors, NotProbabilities) {
  const auto m = palette_maps(2, 3, 4, 5, 1);
  auto bad = m.p2;
  const std::int64_t hw = 20, px = 2 * 5 + 3;  // image 1, y = 2, x = 3
  bad[(1 * 3 + 2) * hw + px] = -0.25f;
  expect_error([&] { (void)S::SplSampler{}.select(m.p1, bad); },
               {"spl", "p2", "image 1", "y=2, x=3", "channel 2", "-0.25"});
  expect_error([&] { (void)S::PplSampler{2}.select(bad, m.p1); }, {"ppl", "p1", "image 1", "y=2, x=3", "-0.25"});
  expect_error([&] { (void)S::RandomSampler{2, 0}.select(m.p1, bad); }, {"random", "p2", "-0.25"});
  expect_error([&] { (void)S::EntropySampler{2}.select(m.p1, bad); }, {"entropy", "p2", "-0.25"});
  expect_error([&] { (void)S::MarginSampler{2}.select(m.p1, bad); }, {"margin", "p2", "-0.25"});
  expect_error([&] { (void)S::inconsistency_mask(m.p1, bad); }, {"inconsistency_mask", "p2", "-0.25"});
  bad = m.p1;
  bad[px] = std::nanf("");
  expect_error([&] { (void)S::SplSampler{0.5}.select(bad, m.p2); }, {"p1", "image 0", "y=2, x=3", "nan"});
  bad = m.p1;
  bad[hw + 1] = std::numeric_limits<float>::infinity();
  expect_error([&] { (void)S::PplSampler{2}.select(bad, m.p2); }, {"p1", "y=0, x=1", "channel 1", "inf"});
  bad = m.p1;
  bad[7] += 0.01f;  // channel sum 1.01
  expect_error([&] { (void)S::SplSampler{}.select(bad, m.p2); }, {"p1", "y=1, x=2", "channel sum", "1.01"});
  bad = m.p1;
  bad[7] += 0.0005f;  // within the tolerance
  EXPECT_NO_THROW((void)S::SplSampler{}.select(bad, m.p2));
  // The first bad pixel is reported.
  bad = m.p1;
  bad[19] = -1.0f;
  bad[4] = -2.0f;
  expect_error([&] { (void)S::SplSampler{}.select(bad, m.p2); }, {"y=0, x=4", "-2"});
}

TEST(SamplersErrors, ValidateProbabilities) {
  const auto m = palette_maps(1, 3, 4, 5, 1);
  EXPECT_NO_THROW(S::validate_probabilities(m.p1, "p1"));
  auto bad = m.p1;
  bad[3] = 2.0f;
  expect_error([&] { S::validate_probabilities(bad, "logits"); },
               {"logits", "not a probability map", "y=0, x=3", "channel sum"});
  expect_error([&] { S::validate_probabilities(Tensor<float>(Shape{5}), "p1"); }, {"p1", "rank"});
  expect_error(
      [&] {
        S::check_same_shape(Shape{1, 2, 3, 4}, Shape{1, 2, 3, 5}, "labor_select");
      },
      {"labor_select", "p2 shape"});
}

}  // namespace
