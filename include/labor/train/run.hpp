#pragma once
/// @file run.hpp
/// LaborRun: the LabOR schedule over a run folder, resumable at any point and driven in rounds by
/// any oracle — the simulated one of experiments, or a person answering files days later.
///
/// Folder layout (`RUN/`):
/// - `checkpoints/<stage>.safetensors`: a finished stage's weights (model A and D, or the selector)
///   with JSON metadata `{"labor_run": version, "stage", "iteration", "config": fingerprint,
///   "settings", "timing", "result"}`; `checkpoints/<stage>.partial.safetensors`: a stage part-way
///   (weights, optimiser state, iteration), removed when the stage ends.
/// - `rounds/<r>/` (r = 1, 2, …): `queries.json` and `mask_<i>.png` (annotate::export_queries),
///   `round.json` (what the round was selected from: the query id, the sampler, the models'
///   fingerprints; the selection's seconds), for the annotator `images/<id>_<stem>.png` (the image
///   with its queried pixels drawn) and `answers_template.json` (the points to label, "labels" to
///   fill), and `answers.lstore` (the round's answers, a LabelStore).
/// - `labels.lstore`: every answer so far (the rounds' stores merged in round order).
///
/// Stages of the standard schedule: `source_only`, `uda`, then per round `selector_r<r>`,
/// the selection into `rounds/<r>/`, the answers, and `adapt_r<r>`. A stage's fingerprint hashes
/// the run's identity (data, model, seed: whatever the program says decides the numbers), the
/// stage's options and its parent's fingerprint — and for an adaptation the labels it trains on —
/// so a changed setting invalidates exactly the stages it affects. A checkpoint whose fingerprint
/// differs is an error (never a silent retrain): the folder was written with other settings.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "labor/annotate/answers.hpp"
#include "labor/annotate/file_oracle.hpp"
#include "labor/annotate/label_store.hpp"
#include "labor/annotate/oracle.hpp"
#include "labor/annotate/render.hpp"
#include "labor/core/error.hpp"
#include "labor/core/hash.hpp"
#include "labor/core/parallel.hpp"
#include "labor/core/rng.hpp"
#include "labor/data/dataset.hpp"
#include "labor/io/atomic_file.hpp"
#include "labor/io/json.hpp"
#include "labor/io/png.hpp"
#include "labor/io/safetensors.hpp"
#include "labor/samplers/query.hpp"
#include "labor/samplers/sampler.hpp"
#include "labor/train/checkpoint.hpp"
#include "labor/train/options.hpp"
#include "labor/train/trainer.hpp"

namespace labor::train {

/// Version of the run folder's layout and fingerprints; a checkpoint of another version is refused.
inline constexpr int run_version = 1;

/// The options as JSON (fingerprints, results files).
inline nlohmann::json to_json(const data::AugmentOptions& a) {
  return {{"crop", {a.crop_height, a.crop_width}}, {"scale", {a.scale_min, a.scale_max}}, {"flip", a.flip}};
}
inline nlohmann::json to_json(const SgdSchedule& s) {
  return {{"lr", s.lr},
          {"head_lr_mult", s.head_lr_mult},
          {"momentum", s.momentum},
          {"weight_decay", s.weight_decay},
          {"poly_power", s.poly_power}};
}
inline nlohmann::json to_json(const SegmenterStageOptions& o) {
  return {{"iterations", o.iterations},   {"batch_size", o.batch_size}, {"sgd", to_json(o.sgd)},
          {"lambda_adv", o.lambda_adv},   {"lambda_tgt", o.lambda_tgt}, {"d_lr", o.d_lr},
          {"d_betas", {o.d_beta1, o.d_beta2}}, {"augment", to_json(o.augment)}};
}
inline nlohmann::json to_json(const SelectorStageOptions& o) {
  return {{"iterations", o.iterations}, {"batch_size", o.batch_size},   {"sgd", to_json(o.sgd)},
          {"lambda_dis", o.lambda_dis}, {"lambda_weight", o.lambda_weight}, {"augment", to_json(o.augment)},
          {"pl_alpha", o.pl_alpha},     {"pl_gamma", o.pl_gamma},       {"pl_momentum", o.pl_momentum},
          {"pl_init", o.pl_init},       {"pl_max", o.pl_max}};
}

/// What a run reports while it works (progress bars, logs); every member may be empty.
struct RunHooks {
  /// A stage starts training (not called for a stage loaded from its checkpoint).
  std::function<void(std::string_view stage)> begin;
  /// The stage that began has ended; the text summarises it.
  std::function<void(std::string_view summary)> end;
  /// A line for the log ("[uda] resumed from ...").
  std::function<void(std::string_view line)> note;
};

/// Settings of a LaborRun.
struct RunOptions {
  /// What decides every stage's result besides the stage options: the data, the model, the seed, as
  /// the program describes them. Part of every fingerprint.
  nlohmann::json identity = nlohmann::json::object();
  /// The source-only stage (its lambda_adv is normally 0).
  SegmenterStageOptions source_only;
  /// UDA, the selector and the adaptation stages, and the schedule's seed.
  LaborOptions labor;
  /// Classes C of the label maps (1 to 255): the label stores' and the queries' class count.
  std::int32_t num_classes = 0;
  /// Class names for the annotator's answers template (empty: none listed).
  std::vector<std::string> class_names;
  /// Write the annotator's files with each round's queries: `rounds/<r>/images/<id>_<stem>.png`
  /// (annotate::render_query) and `answers_template.json`.
  bool pictures = true;
  /// Save a stage part-way every this many iterations (0: only when it ends). Does not change results.
  std::int64_t checkpoint_every = 0;
  RunHooks hooks;
};

/// A stage that has finished: its checkpoint's metadata, and whether it was loaded (true) or trained now.
struct StageRecord {
  nlohmann::json meta;
  bool loaded = false;
};

/// Where a labeling round stands (RUN/rounds/<round>/).
struct RoundStatus {
  std::int64_t round = 0;
  bool queried = false, answered = false, adapted = false;
  std::int64_t images = 0, queried_pixels = 0;
  /// Answers stored for the round: images, pixels (ignore answers included) and pixels with a class.
  std::int64_t answered_images = 0, answered_pixels = 0, labeled_pixels = 0;
  std::string strategy;
};

/// What answer() stored.
struct AnswerSummary {
  std::int64_t round = 0, images = 0, pixels = 0;
  /// False when the round already held exactly these answers (nothing was written).
  bool changed = false;
};

namespace detail {

/// An Oracle that answers nothing: selection without asking (the answers come later, from files).
struct NoAnswers {
  annotate::Answers answer(const samplers::Query&, std::span<const std::int64_t>) const { return {}; }
};

/// Parses the `labor` metadata entry of a checkpoint read from `file`.
inline nlohmann::json checkpoint_meta(const io::SafetensorsFile& f, const std::filesystem::path& file) {
  const auto it = f.metadata.find("labor");
  LABOR_CHECK(it != f.metadata.end(), "checkpoint '{}': no labor metadata (not written by labor)", file.string());
  auto j = io::parse_json(it->second, fmt::format("checkpoint '{}': metadata", file.string()));
  LABOR_CHECK(j.is_object(), "checkpoint '{}': metadata: expected a JSON object, got {}", file.string(), j.type_name());
  return j;
}

/// The "summary" string of a checkpoint's "result", "" when it has none.
inline std::string result_summary(const nlohmann::json& meta) {
  if (!meta.is_object() || !meta.contains("result")) return {};
  const auto& r = meta["result"];
  return r.is_object() && r.contains("summary") && r["summary"].is_string() ? r["summary"].get<std::string>()
                                                                             : std::string();
}

}  // namespace detail

/// The resumable LabOR schedule of one run folder, over the trainer LaborTrainer<B, H, Dis>.
///
/// Every stage function takes the trainer holding its parent stage's weights and leaves the
/// stage's weights in it: from its checkpoint when the stage has finished before (checked against
/// its fingerprint), else by training — resuming from a partial checkpoint when there is one — and
/// then saving. Stages must therefore be called in schedule order on one trainer; a program that
/// stops after any call and starts again gets bit-identical weights. A run folder holds one
/// schedule; programs that branch (several methods from one UDA model) use segmenter_stage and
/// selector_stage with fingerprints of their own.
template <models::Backbone B, models::Head H, models::Discriminator Dis>
class LaborRun {
 public:
  using Trainer = LaborTrainer<B, H, Dis>;
  using Selector = typename Trainer::Selector;
  using device_type = typename Trainer::device_type;

  /// A run over the folder `dir` (created by the first stage that writes). Reads nothing yet.
  /// @throws labor::Error when `dir` exists and is not a folder, or for options outside their ranges.
  LaborRun(std::filesystem::path dir, RunOptions options) : dir_(std::move(dir)), options_(std::move(options)) {
    LABOR_CHECK(!std::filesystem::exists(dir_) || std::filesystem::is_directory(dir_),
                "run folder '{}': expected a folder, got a file", dir_.string());
    validate(options_.source_only, "source_only");
    validate(options_.labor);
    LABOR_CHECK(options_.num_classes >= 1 && options_.num_classes <= labor::ignore_label,
                "LaborRun: num_classes: expected in [1, {}], got {}", labor::ignore_label, options_.num_classes);
    LABOR_CHECK(options_.checkpoint_every >= 0, "LaborRun: checkpoint_every: expected >= 0, got {}",
                options_.checkpoint_every);
  }

  [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }
  [[nodiscard]] const RunOptions& options() const { return options_; }

  /// RUN/checkpoints/<stage>.safetensors.
  [[nodiscard]] std::filesystem::path checkpoint(std::string_view stage) const {
    return dir_ / "checkpoints" / (std::string(stage) + ".safetensors");
  }
  /// RUN/checkpoints/<stage>.partial.safetensors.
  [[nodiscard]] std::filesystem::path partial_checkpoint(std::string_view stage) const {
    return dir_ / "checkpoints" / (std::string(stage) + ".partial.safetensors");
  }
  /// RUN/rounds/<round> (round ≥ 1).
  [[nodiscard]] std::filesystem::path round_dir(std::int64_t round) const {
    return dir_ / "rounds" / std::to_string(round);
  }
  /// RUN/labels.lstore.
  [[nodiscard]] std::filesystem::path labels_path() const { return dir_ / "labels.lstore"; }

  /// The fingerprint of a stage: a hash of the run version, the identity, the stage's name, its
  /// settings and its parent's fingerprint ("" for the first stage).
  [[nodiscard]] std::string fingerprint(std::string_view stage, std::string_view parent,
                                        const nlohmann::json& settings) const {
    const nlohmann::json j = {{"labor_run", run_version},
                              {"identity", options_.identity},
                              {"stage", stage},
                              {"parent", parent},
                              {"settings", settings}};
    return fnv1a64_hex(j.dump());
  }

  /// Throws unless the checkpoint `file` of `stage` was written by this run version with fingerprint `fp`.
  void check_checkpoint(const std::filesystem::path& file, std::string_view stage, const nlohmann::json& meta,
                        std::string_view fp) const {
    LABOR_CHECK(meta.contains("labor_run") && meta["labor_run"] == run_version,
                "checkpoint '{}': written by another labor version (run format {}, expected {}); start a new run "
                "folder",
                file.string(), meta.contains("labor_run") ? io::quote(meta["labor_run"]) : std::string("none"),
                run_version);
    LABOR_CHECK(meta.contains("stage") && meta["stage"] == stage, "checkpoint '{}': expected stage '{}', got {}",
                file.string(), stage, meta.contains("stage") ? io::quote(meta["stage"]) : std::string("none"));
    LABOR_CHECK(meta.contains("config") && meta["config"] == fp,
                "checkpoint '{}': written by a run with other settings (the data, model, seed, options or labels "
                "differ); use another run folder, or remove the folder's checkpoints to train again",
                file.string());
  }

  /// Throws unless `stage`'s final and partial checkpoints, where present, carry fingerprint `fp`.
  /// Reads only the files' headers and metadata.
  void check_stage(std::string_view stage, std::string_view fp) const {
    for (const auto& file : {checkpoint(stage), partial_checkpoint(stage)}) {
      if (!std::filesystem::exists(file)) continue;
      const auto f = io::read_safetensors(file);
      check_checkpoint(file, stage, detail::checkpoint_meta(f, file), fp);
    }
  }

  /// A segmenter stage on `t` (holding its parent's weights): loads checkpoints/<stage> when it
  /// exists; else resumes from the partial checkpoint if any, runs `train(t, resume)`
  /// (resume: nullptr or the StageState to continue from), saves model A and D with metadata
  /// {…, "result": finish(t)} and removes the partial file. `iterations` is the stage's count.
  template <class Train, class Finish>
  StageRecord segmenter_stage(const std::string& stage, const std::string& fp, Trainer& t, std::int64_t iterations,
                              Train&& train, Finish&& finish) {
    StateDict state;
    state.add(t.model(), "model.").add(t.discriminator(), "discriminator.");
    if (auto loaded = load_final(stage, fp, state)) return {std::move(*loaded), true};
    begin(stage);
    const auto t0 = std::chrono::steady_clock::now();
    const auto partial = partial_checkpoint(stage);
    const auto resume = load_partial(stage, fp, state);
    if (options_.checkpoint_every > 0)
      t.set_checkpoint_hook([&](std::string_view, const StageState& st,
                                Selector*) { save_partial(stage, fp, state, st); },
                            options_.checkpoint_every);
    try {
      train(t, resume ? &*resume : nullptr);
    } catch (...) {
      t.set_checkpoint_hook({}, 0);
      throw;
    }
    t.set_checkpoint_hook({}, 0);
    auto meta = final_meta(stage, fp, iterations, t0);
    meta["result"] = finish(t);
    save_checkpoint(state, checkpoint(stage), meta);
    std::filesystem::remove(partial);
    end(detail::result_summary(meta));
    return {std::move(meta), false};
  }

  /// The selector stage `stage` from the model A of `from`: loads checkpoints/<stage>, or computes
  /// pseudo-labels for `pool` (passed to `on_pseudo` when set, e.g. to report their accuracy),
  /// trains the selector (seed `seed`, resuming from a partial checkpoint) and saves it.
  template <data::Dataset T>
  Selector selector_stage(const std::string& stage, const std::string& fp, Trainer& from, const T& pool,
                          std::uint64_t seed, const std::function<void(const TargetLabels&)>& on_pseudo = {},
                          StageRecord* record = nullptr) {
    Rng structure_rng(0);  // the structure only: the weights are loaded or trained below
    Selector sel(from.model().backbone, from.model().head, from.head_factory()(structure_rng));
    StateDict state;
    state.add(sel, "selector.");
    if (auto loaded = load_final(stage, fp, state)) {
      if (record != nullptr) *record = {std::move(*loaded), true};
      return sel;
    }
    const auto& o = from.options().selector;
    begin("pseudo_labels");
    const auto pseudo = from.pseudo_labels(pool, o);
    if (on_pseudo) on_pseudo(pseudo);
    end("");
    begin(stage);
    const auto t0 = std::chrono::steady_clock::now();
    if (options_.checkpoint_every > 0)
      from.set_checkpoint_hook([&](std::string_view, const StageState& st,
                                   Selector* s) {
        StateDict weights;
        weights.add(*s, "selector.");
        save_partial(stage, fp, weights, st);
      },
                               options_.checkpoint_every);
    try {
      if (const auto resume = load_partial(stage, fp, state)) {
        from.train_selector_steps(sel, pool, pseudo, o, seed, &*resume);
      } else {
        sel = from.train_selector(pool, pseudo, o, seed);
      }
    } catch (...) {
      from.set_checkpoint_hook({}, 0);
      throw;
    }
    from.set_checkpoint_hook({}, 0);
    auto meta = final_meta(stage, fp, o.iterations, t0);
    StateDict trained;
    trained.add(sel, "selector.");
    save_checkpoint(trained, checkpoint(stage), meta);
    std::filesystem::remove(partial_checkpoint(stage));
    end("");
    if (record != nullptr) *record = {std::move(meta), false};
    return sel;
  }

  // ------------------------------------------------------------------ the standard schedule

  /// Fingerprints of the standard schedule's stages.
  [[nodiscard]] std::string source_only_fingerprint() const {
    return fingerprint("source_only", "", to_json(options_.source_only));
  }
  [[nodiscard]] std::string uda_fingerprint() const {
    return fingerprint("uda", source_only_fingerprint(), to_json(options_.labor.uda));
  }
  /// Fingerprint of model A after `round` rounds (0: the UDA model).
  [[nodiscard]] std::string model_fingerprint(std::int64_t round) const {
    return round == 0 ? uda_fingerprint() : adapt_fingerprint(round);
  }
  [[nodiscard]] std::string selector_fingerprint(std::int64_t round) const {
    return fingerprint(stage_name("selector", round), model_fingerprint(round - 1), to_json(options_.labor.selector));
  }
  /// Fingerprint of round `round`'s adaptation: its parent, its options and the labels of rounds 1..round.
  [[nodiscard]] std::string adapt_fingerprint(std::int64_t round) const {
    const nlohmann::json settings = {{"adapt", to_json(options_.labor.adapt)},
                                     {"labels", fnv1a64_hex(labels_through(round).serialize())}};
    return fingerprint(stage_name("adapt", round), model_fingerprint(round - 1), settings);
  }

  /// "<kind>_r<round>".
  static std::string stage_name(std::string_view kind, std::int64_t round) { return fmt::format("{}_r{}", kind, round); }

  /// Stage source_only: A on the source alone (options().source_only).
  template <data::Dataset S, data::Dataset T>
  StageRecord source_only(Trainer& t, const S& source, const T& target) {
    return segment("source_only", source_only_fingerprint(), t, source, target, nullptr, options_.source_only,
                   stage_seed(options_.labor.seed, "source_only"));
  }

  /// Stage uda: continues A with the adversarial alignment (options().labor.uda).
  template <data::Dataset S, data::Dataset T>
  StageRecord uda(Trainer& t, const S& source, const T& target) {
    return segment("uda", uda_fingerprint(), t, source, target, nullptr, options_.labor.uda,
                   stage_seed(options_.labor.seed, "uda"));
  }

  /// Round `round`'s selector, trained from the model A in `t` (which holds model_fingerprint(round − 1)).
  template <data::Dataset T>
  Selector selector(std::int64_t round, Trainer& t, const T& pool) {
    check_round_number(round);
    return selector_stage(stage_name("selector", round), selector_fingerprint(round), t, pool,
                          stage_seed(options_.labor.seed, "selector", round - 1));
  }

  /// Round `round`'s selection: `sampler` on every pool image, never choosing a pixel answered in an
  /// earlier round, written to rounds/<round>/ (queries.json, masks, round.json with `settings`
  /// describing the sampler). When the round's queries exist already from the same selector and
  /// settings they are read back instead. Returns the query (image ids 0..N−1, pool order).
  /// @throws labor::Error when an earlier round is not adapted yet, or the round's files came from
  /// other settings.
  template <data::Dataset T, samplers::Sampler<device_type> Smp>
  samplers::Query query(std::int64_t round, Trainer& t, Selector& sel, const T& pool, const Smp& sampler,
                        const nlohmann::json& settings) {
    check_round_number(round);
    const auto dir = round_dir(round);
    const nlohmann::json meta = {{"labor_run", run_version},
                                 {"round", round},
                                 {"strategy", std::string(sampler.name())},
                                 {"sampler", settings},
                                 {"model", model_fingerprint(round - 1)},
                                 {"selector", selector_fingerprint(round)}};
    if (std::filesystem::exists(dir / "round.json")) {
      const auto stored = io::read_json(dir / "round.json");
      for (const char* key : {"labor_run", "round", "strategy", "sampler", "model", "selector"})
        LABOR_CHECK(stored.contains(key) && stored[key] == meta[key],
                    "round {}: '{}' was selected with other settings ({} differs: stored {}, now {}); answer that "
                    "round as it is, or start a new run folder",
                    round, (dir / "round.json").string(), key,
                    stored.contains(key) ? io::quote(stored[key]) : std::string("none"), io::quote(meta[key]));
      return round_query(round);
    }
    begin("selection");
    const auto t0 = std::chrono::steady_clock::now();
    const auto earlier = labels_through(round - 1);
    detail::NoAnswers none;
    annotate::LabelStore scratch = earlier;  // select() merges the (empty) answers into it
    auto q = t.select(sel, pool, sampler, none, scratch);
    std::vector<std::int64_t> ids(static_cast<std::size_t>(pool.size()));
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int64_t>(i);
    annotate::export_queries(q, dir, ids);
    const auto t1 = std::chrono::steady_clock::now();
    const auto id = query_id(q);
    if (options_.pictures) write_annotator_files(round, id, q, pool);
    const auto t2 = std::chrono::steady_clock::now();
    auto round_meta = meta;
    round_meta["query_id"] = id;
    round_meta["selected_pixels"] = q.selected_pixels();
    round_meta["seconds"] = std::chrono::duration<double>(t1 - t0).count();
    round_meta["pictures_seconds"] = std::chrono::duration<double>(t2 - t1).count();
    io::atomic_write(dir / "round.json", "json", round_meta.dump(2) + "\n");
    end(fmt::format("{} pixels in {} images ({:.3f}% of the pool, {:.1f} per image)", q.selected_pixels(),
                    q.images.size(), 100.0 * q.fraction(), q.points_per_image()));
    return q;
  }

  /// The query of round `round` as written (image ids 0..N−1 in pool order).
  [[nodiscard]] samplers::Query round_query(std::int64_t round) const {
    LABOR_CHECK(std::filesystem::exists(round_dir(round) / "queries.json"),
                "round {}: no queries in '{}' (run the round's selection first)", round, round_dir(round).string());
    return annotate::load_queries(round_dir(round), options_.num_classes).query;
  }

  /// A hash of a query's strategy, images and pixels: what an answers file names to say which
  /// query it answers.
  static std::string query_id(const samplers::Query& q) {
    std::string bytes = q.strategy;
    for (const auto& im : q.images) {
      bytes += fmt::format("|{}x{}:", im.height, im.width);
      for (auto p : im.pixels) bytes += fmt::format("{},", p);
    }
    return fnv1a64_hex(bytes);
  }

  /// Stores `answers` for round `round` after checking them against the round's queries: every
  /// image of the answers must be one of the round's and repeat its queried pixels, labels in
  /// [0, C) or 255. Answers for a pixel answered before replace the old ones (latest wins); the
  /// same answers twice change nothing. Writes rounds/<round>/answers.lstore and labels.lstore.
  /// @throws labor::Error (nothing is written) for answers that do not fit the round, or when the
  /// round has been adapted already and the answers would change its labels.
  AnswerSummary answer(std::int64_t round, const annotate::Answers& answers) {
    const auto q = round_query(round);
    std::map<std::int64_t, std::size_t> at;
    for (std::size_t i = 0; i < q.images.size(); ++i) at.emplace(static_cast<std::int64_t>(i), i);
    for (const auto& a : answers.images) {
      const auto it = at.find(a.image);
      LABOR_CHECK(it != at.end(), "answers for round {}: image {}: not in the round (it has images 0..{})", round,
                  a.image, static_cast<std::int64_t>(q.images.size()) - 1);
      const auto& qi = q.images[it->second];
      LABOR_CHECK(a.height == qi.height && a.width == qi.width,
                  "answers for round {}: image {}: size: expected {}x{}, got {}x{}", round, a.image, qi.height,
                  qi.width, a.height, a.width);
      LABOR_CHECK(a.pixels == qi.pixels,
                  "answers for round {}: image {}: pixels: expected the {} queried pixels, got {} others", round,
                  a.image, qi.pixels.size(), a.pixels.size());
    }
    annotate::LabelStore store = round_store(round);
    const annotate::LabelStore before = store;
    store.merge(answers);  // validates labels; the strong guarantee leaves `store` as it was on error
    AnswerSummary s{round, static_cast<std::int64_t>(answers.images.size()), answers.size(), !(store == before)};
    if (!s.changed) return s;
    LABOR_CHECK(!std::filesystem::exists(checkpoint(stage_name("adapt", round))),
                "answers for round {}: the round has been adapted already ({}); its answers can no longer change",
                round, checkpoint(stage_name("adapt", round)).string());
    store.save(round_dir(round) / "answers.lstore");
    labels_through(last_round()).save(labels_path());
    return s;
  }

  /// Asks `oracle` for the answers to round `round`'s query and stores them (answer()).
  template <annotate::Oracle O>
  AnswerSummary ask(std::int64_t round, O& oracle) {
    const auto q = round_query(round);
    std::vector<std::int64_t> ids(q.images.size());
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int64_t>(i);
    return answer(round, oracle.answer(q, ids));
  }

  /// Round `round`'s adaptation: continues A in `t` (holding model_fingerprint(round − 1)) with
  /// every label of rounds 1..round (options().labor.adapt).
  /// @throws labor::Error when no round up to `round` has answers.
  template <data::Dataset S, data::Dataset T>
  StageRecord adapt(std::int64_t round, Trainer& t, const S& source, const T& pool) {
    check_round_number(round);
    const auto labels = labels_through(round);
    LABOR_CHECK(labels.num_images() > 0,
                "adapt round {}: no answers yet in '{}': answer the round's queries first (rounds/{}/queries.json)",
                round, dir_.string(), round);
    const Shape size = pool.image(0).shape();  // one decode for a file dataset
    for (const auto id : labels.image_ids()) {  // before dense_labels allocates a map per stored image
      const auto& im = labels.image(id);
      LABOR_CHECK(id < pool.size() && im.height == size[1] && im.width == size[2],
                  "adapt round {}: the answers of rounds 1..{} in '{}' (rounds/<r>/answers.lstore) hold image {} of "
                  "{}x{}, but the pool has {} images of {}x{}",
                  round, round, dir_.string(), id, im.height, im.width, pool.size(), size[1], size[2]);
    }
    const auto dense = dense_labels(labels, pool.size(), size[1], size[2]);
    return segment(stage_name("adapt", round), adapt_fingerprint(round), t, source, pool, &dense, options_.labor.adapt,
                   stage_seed(options_.labor.seed, "adapt", round - 1));
  }

  /// The whole standard schedule with an oracle that answers at once (the simulated one): source-only,
  /// UDA, then `rounds` rounds of selector, selection, answers and adaptation. Leaves the final A in
  /// `t`. Resumes wherever an earlier call stopped.
  template <data::Dataset S, data::Dataset T, samplers::Sampler<device_type> Smp, annotate::Oracle O>
  void run(Trainer& t, const S& source, const T& pool, const Smp& sampler, const nlohmann::json& settings, O& oracle,
           std::int64_t rounds) {
    LABOR_CHECK(rounds >= 1, "LaborRun::run: rounds: expected >= 1, got {}", rounds);
    source_only(t, source, pool);
    uda(t, source, pool);
    for (std::int64_t r = 1; r <= rounds; ++r) {
      if (!std::filesystem::exists(round_dir(r) / "round.json") ||
          !std::filesystem::exists(checkpoint(stage_name("adapt", r)))) {
        Selector sel = selector(r, t, pool);
        (void)query(r, t, sel, pool, sampler, settings);
        if (!std::filesystem::exists(round_dir(r) / "answers.lstore"))
          (void)ask(r, oracle);
      }
      adapt(r, t, source, pool);
    }
  }

  /// Loads the model A after `round` rounds (0: UDA) into `t` from its checkpoint.
  /// @throws labor::Error when that stage has not finished, or its checkpoint does not match.
  void load_model(std::int64_t round, Trainer& t) const {
    const auto stage = round == 0 ? std::string("uda") : stage_name("adapt", round);
    const auto file = checkpoint(stage);
    LABOR_CHECK(std::filesystem::exists(file), "run '{}': stage {} has not finished (no {})", dir_.string(), stage,
                file.string());
    StateDict state;
    state.add(t.model(), "model.").add(t.discriminator(), "discriminator.");
    const auto f = io::read_safetensors(file);
    check_checkpoint(file, stage, detail::checkpoint_meta(f, file), model_fingerprint(round));
    (void)state.load(f, file);
  }

  // ------------------------------------------------------------------ what is on disk

  /// The rounds that have a folder: 0 when none.
  [[nodiscard]] std::int64_t last_round() const {
    std::int64_t r = 0;
    while (std::filesystem::exists(round_dir(r + 1) / "round.json")) ++r;
    return r;
  }

  /// The answers of round `round` (an empty store when it has none).
  [[nodiscard]] annotate::LabelStore round_store(std::int64_t round) const {
    const auto file = round_dir(round) / "answers.lstore";
    if (!std::filesystem::exists(file)) return annotate::LabelStore(options_.num_classes);
    auto s = annotate::LabelStore::read(file);
    LABOR_CHECK(s.num_classes() == options_.num_classes, "label store '{}': classes: expected {}, got {}",
                file.string(), options_.num_classes, s.num_classes());
    return s;
  }

  /// Every answer of rounds 1..round, merged in round order (later rounds win).
  [[nodiscard]] annotate::LabelStore labels_through(std::int64_t round) const {
    annotate::LabelStore all(options_.num_classes);
    for (std::int64_t r = 1; r <= round; ++r) {
      const auto s = round_store(r);
      annotate::Answers a;
      for (auto id : s.image_ids()) {
        const auto& im = s.image(id);
        annotate::ImageAnswers ia{id, im.height, im.width, {}, {}};
        for (const auto& e : im.entries) {
          ia.pixels.push_back(e.index);
          ia.labels.push_back(e.label);
        }
        a.images.push_back(std::move(ia));
      }
      all.merge(a);
    }
    return all;
  }

  /// Where every round stands.
  [[nodiscard]] std::vector<RoundStatus> rounds_status() const {
    std::vector<RoundStatus> out;
    for (std::int64_t r = 1; r <= last_round(); ++r) {
      RoundStatus s;
      s.round = r;
      s.queried = true;
      const auto q = round_query(r);
      s.strategy = q.strategy;
      s.images = static_cast<std::int64_t>(q.images.size());
      s.queried_pixels = q.selected_pixels();
      const auto store = round_store(r);
      s.answered_images = store.num_images();
      s.answered_pixels = store.queried_pixels();
      s.labeled_pixels = store.labeled_pixels();
      s.answered = s.answered_images > 0;
      s.adapted = std::filesystem::exists(checkpoint(stage_name("adapt", r)));
      out.push_back(s);
    }
    return out;
  }

  /// The metadata of a finished stage's checkpoint (null when it has not finished).
  [[nodiscard]] nlohmann::json stage_meta(std::string_view stage) const {
    const auto file = checkpoint(stage);
    if (!std::filesystem::exists(file)) return nullptr;
    return detail::checkpoint_meta(io::read_safetensors(file), file);
  }

 private:
  template <data::Dataset S, data::Dataset T>
  StageRecord segment(const std::string& stage, const std::string& fp, Trainer& t, const S& source, const T& target,
                      const TargetLabels* labels, const SegmenterStageOptions& o, std::uint64_t seed) {
    return segmenter_stage(
        stage, fp, t, o.iterations,
        [&](Trainer& tr, const StageState* resume) {
          tr.train_segmenter(stage, source, target, labels, o, seed, resume);
        },
        [](Trainer&) { return nlohmann::json(nullptr); });
  }

  /// rounds/<r>/images/<id>_<stem>.png (the image with its queried pixels drawn, for images with
  /// any) and answers_template.json: per image its index, file, picture, pixels [[y, x], ...], the
  /// predicted class of each as a hint and "labels" (null each) for the annotator to fill.
  template <data::Dataset T>
  void write_annotator_files(std::int64_t round, const std::string& id, const samplers::Query& q,
                             const T& pool) const {
    const auto dir = round_dir(round);
    std::filesystem::create_directories(dir / "images");
    const auto count = static_cast<std::int64_t>(q.images.size());
    std::vector<std::filesystem::path> files(q.images.size());
    std::vector<std::string> pictures(q.images.size());
    for (std::int64_t n = 0; n < count; ++n) {
      const auto i = static_cast<std::size_t>(n);
      if constexpr (requires { pool.image_file(n); }) files[i] = pool.image_file(n);
      pictures[i] =
          fmt::format("images/{:04d}{}.png", n, files[i].empty() ? std::string() : "_" + files[i].stem().string());
    }
    // The pictures on every thread (a pool is readable from several threads, as the loader reads
    // it), encoded for speed: each is looked at once.
    parallel_tasks(count, [&](std::int64_t n) {
      const auto i = static_cast<std::size_t>(n);
      if (!q.images[i].pixels.empty())
        io::write_png(dir / pictures[i], annotate::render_query(pool.image(n), q.images[i]), {.fast = true});
    });
    nlohmann::json images = nlohmann::json::array();
    for (std::size_t i = 0; i < q.images.size(); ++i) {
      const auto& qi = q.images[i];
      const auto& file = files[i];
      const auto& picture = pictures[i];
      nlohmann::json pixels = nlohmann::json::array();
      for (auto p : qi.pixels) pixels.push_back({p / qi.width, p % qi.width});
      images.push_back({{"index", static_cast<std::int64_t>(i)},
                        {"file", file.string()},
                        {"picture", qi.pixels.empty() ? nlohmann::json(nullptr) : nlohmann::json(picture)},
                        {"pixels", std::move(pixels)},
                        {"predicted", qi.classes},
                        {"labels", nlohmann::json(std::vector<std::nullptr_t>(qi.pixels.size(), nullptr))}});
    }
    const nlohmann::json doc = {{"round", round},
                                {"query_id", id},
                                {"classes", options_.class_names},
                                {"ignore", labor::ignore_label},
                                {"images", std::move(images)}};
    io::atomic_write(dir / "answers_template.json", "json", doc.dump(1) + "\n");
  }

  void check_round_number(std::int64_t round) const {
    LABOR_CHECK(round >= 1, "round: expected >= 1, got {}", round);
    for (std::int64_t r = 1; r < round; ++r)
      LABOR_CHECK(std::filesystem::exists(checkpoint(stage_name("adapt", r))),
                  "round {}: round {} is not adapted yet (answer its queries, then adapt)", round, r);
  }

  /// Loads a finished stage into `state` when its checkpoint exists (after checking it).
  std::optional<nlohmann::json> load_final(const std::string& stage, const std::string& fp, StateDict& state) {
    const auto file = checkpoint(stage);
    if (!std::filesystem::exists(file)) return std::nullopt;
    const auto f = io::read_safetensors(file);
    auto meta = detail::checkpoint_meta(f, file);
    check_checkpoint(file, stage, meta, fp);
    (void)state.load(f, file);
    const auto summary = detail::result_summary(meta);
    note(fmt::format("[{}] resumed from {}{}", stage, file.string(), summary.empty() ? summary : " · " + summary));
    return meta;
  }

  /// Saves weights + optimiser state of a stage part-way (atomically).
  void save_partial(const std::string& stage, const std::string& fp, StateDict weights, StageState st) const {
    weights.add(st, "optim.");
    save_checkpoint(weights, partial_checkpoint(stage), {{"labor_run", run_version},
                                             {"stage", stage},
                                             {"iteration", st.iteration},
                                             {"optimizer", st.describe()},
                                             {"rng", {{"seed", options_.labor.seed}}},
                                             {"config", fp}});
  }

  /// Loads a partial checkpoint into `weights` and returns its optimiser state (none without a file).
  std::optional<StageState> load_partial(const std::string& stage, const std::string& fp, StateDict weights) {
    const auto file = partial_checkpoint(stage);
    if (!std::filesystem::exists(file)) return std::nullopt;
    const auto f = io::read_safetensors(file);
    const auto meta = detail::checkpoint_meta(f, file);
    check_checkpoint(file, stage, meta, fp);
    LABOR_CHECK(meta.contains("optimizer"), "checkpoint '{}': metadata: expected an 'optimizer' entry",
                file.string());
    auto st = StageState::shaped_like(meta["optimizer"], f, "optim.", file.string());
    weights.add(st, "optim.");
    (void)weights.load(f, file);
    note(fmt::format("[{}] resuming at iteration {} from {}", stage, st.iteration, file.string()));
    return st;
  }

  nlohmann::json final_meta(const std::string& stage, const std::string& fp, std::int64_t iterations,
                            std::chrono::steady_clock::time_point t0) const {
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return {{"labor_run", run_version},
            {"stage", stage},
            {"iteration", iterations},
            {"rng", {{"seed", options_.labor.seed}}},
            {"config", fp},
            {"timing",
             {{"seconds", secs},
              {"iterations", iterations},
              {"iterations_per_second", static_cast<double>(iterations) / secs}}}};
  }

  /// Saves `state` to `file`, making RUN/checkpoints/ first: folders appear only when a file is
  /// written into them, so a stage that fails before its first save leaves the run folder as it was.
  static void save_checkpoint(const StateDict& state, const std::filesystem::path& file, const nlohmann::json& meta) {
    std::filesystem::create_directories(file.parent_path());
    state.save(file, meta);
  }

  void begin(std::string_view stage) const {
    if (options_.hooks.begin) options_.hooks.begin(stage);
  }
  void end(const std::string& summary) const {
    if (options_.hooks.end) options_.hooks.end(summary);
  }
  void note(const std::string& line) const {
    if (options_.hooks.note) options_.hooks.note(line);
  }

  std::filesystem::path dir_;
  RunOptions options_;
};

}  // namespace labor::train
