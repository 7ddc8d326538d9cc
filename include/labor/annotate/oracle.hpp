#pragma once
/// @file oracle.hpp
/// The Oracle concept: whoever answers a selection round — the simulated oracle reading ground
/// truth in experiments, or a human through the file export/import.

#include <concepts>
#include <cstdint>
#include <span>

#include "labor/annotate/answers.hpp"
#include "labor/samplers/query.hpp"

namespace labor::annotate {

/// An oracle labels queried pixels. `answer(query, image_ids)` returns one ImageAnswers per image
/// of `query`, in query order, with image = image_ids[i] (0..N-1 when `image_ids` is empty) and
/// labels in the order of the query's pixels, each in [0, C) or ignore_label.
template <class O>
concept Oracle = requires(O& oracle, const samplers::Query& query, std::span<const std::int64_t> image_ids) {
  { oracle.answer(query, image_ids) } -> std::same_as<Answers>;
};

}  // namespace labor::annotate
