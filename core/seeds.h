// Seeds: every random stream of apprentice is derived here from the run's one seed, so that two
// streams never share a seed by accident and adding a stream never moves another (a run with the
// same seed draws the same episodes, mixtures and batches as before).
//
//   run seed ──▶ StreamSeed(seed, SeedStream::kX) ──▶ Rng for stream X
//   run seed, id ──▶ MixSeed(seed, id) ──▶ a seed per plan request or per resumed run
#pragma once

#include <cstdint>

namespace apprentice {

enum class SeedStream : uint64_t {
  kEvalEpisodes = 0xE7A1'5EED'0000'0001ULL,  // reset seeds of the executor's evaluation episodes
  kMixture = 0xB37A'0000'0000'0002ULL,       // the β-mixture: who acts in sync and dagger modes
  kReplaySampler = 0x5A3B'0000'0000'0003ULL, // the distiller's batches
  kPlannerEval = 0x9A77'0000'0000'0004ULL,   // plan seeds of the planner's evaluation episodes
  kRollout = 0x7011'0000'0000'0005ULL,       // offline rollouts (apprentice eval, distill)
  kHoldoutSplit = 0x5B11'7000'0000'0006ULL,  // offline distill: the held-out episodes
  kOfflineBatches = 0xBA7C'0000'0000'0007ULL,// offline distill: the batch order
  kStudentInit = 0x5EED'D157'11E5ULL,        // the student network's initial weights
  kLearningCurve = 0xC0DE'0000'0000'0008ULL, // episodes of the evaluations during training
  kLabelSelection = 0x1AB3'0000'0000'0009ULL,// which decisions the teacher labels (a budget)
  kRandomPolicy = 0x4A4D'0000'0000'000AULL,  // the actions of the random policy's evaluation
  kExecutorSampling = 0x5A3D'0000'0000'000BULL,  // draws of an executor that samples its actions
  kFeatureProjection = 0xFEA7'0000'0000'000CULL,  // the distiller's feature projection's weights
};

// The seed of `stream` in a run seeded with `seed`.
constexpr uint64_t StreamSeed(uint64_t seed, SeedStream stream) {
  return seed ^ static_cast<uint64_t>(stream);
}

// The reset seeds of training episodes: the run's seed itself, and for a run resumed after
// `resumed_records` logged records a stream that depends on them (so a resumed run does not replay
// the episodes it already has).
constexpr uint64_t TrainEpisodeSeed(uint64_t seed, uint64_t resumed_records) {
  return seed ^ (resumed_records * 0x9E3779B97F4A7C15ULL);
}

// A seed for item `id` of a stream (a plan request, a resumed run's episodes), independent of the
// order in which items are handled: SplitMix64's finaliser over seed ^ id * golden ratio.
constexpr uint64_t MixSeed(uint64_t seed, uint64_t id) {
  uint64_t z = seed ^ (id * 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace apprentice
