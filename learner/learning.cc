#include "learner/learning.h"

#include <algorithm>
#include <utility>

#include "core/seeds.h"

namespace apprentice {
namespace {

Distiller::Options Seeded(Distiller::Options options, uint64_t seed) {
  options.seed = seed;
  return options;
}

RateLimiter::Options LimiterOptions(const Learning::Options& o) {
  RateLimiter::Options limiter;
  limiter.min_size_to_sample = o.min_replay;
  const auto batch = static_cast<double>(o.distiller.batch_size);
  // updates_per_label = 0: the limiter's "no ratio" would mean "no limit"; TryTrainStep() never
  // asks it then.
  limiter.samples_per_insert = o.updates_per_label * batch;
  limiter.tolerance = batch;
  return limiter;
}

}  // namespace

Status Learning::Options::Validate() const {
  if (Status s = ReplayOptionsFor(replay_capacity, sampler, sampler_options).Validate(); !s.ok()) {
    return s;
  }
  if (min_replay < 1) return Status::InvalidArgument("min replay must be >= 1");
  if (min_replay > replay_capacity) {
    return Status::InvalidArgument("min replay (" + std::to_string(min_replay) +
                                   ") exceeds the replay capacity (" +
                                   std::to_string(replay_capacity) +
                                   "): training would never start");
  }
  if (!(updates_per_label >= 0.0 && updates_per_label <= 1e6)) {
    return Status::InvalidArgument("updates per label must be in [0, 1000000]");
  }
  if (Status s = distiller.Validate(); !s.ok()) return s;
  return LimiterOptions(*this).Validate();
}

Learning::Learning(Options options, const Space& observation_space, const Space& action_space)
    : options_(Validated(options)),
      distiller_(Seeded(options_.distiller, options_.seed), observation_space, action_space),
      replay_(ReplayOptionsFor(options_.replay_capacity, options_.sampler,
                               options_.sampler_options)),
      limiter_(LimiterOptions(options_)),
      sampler_rng_(StreamSeed(options_.seed, SeedStream::kReplaySampler)) {}

Status Learning::Restore(const std::string& checkpoint_path,
                         std::span<const std::shared_ptr<const DecisionRecord>> records) {
  if (!checkpoint_path.empty()) {
    if (Status s = distiller_.LoadCheckpoint(checkpoint_path); !s.ok()) return s;
  }
  for (const auto& record : records) {
    if (record != nullptr && Trainable(*record)) replay_.Insert(record);
  }
  // The restored labels fill the replay but earn no updates: the checkpoint made those already.
  limiter_.OnInsert(std::min<int64_t>(static_cast<int64_t>(records.size()), options_.min_replay));
  return Status::Ok();
}

void Learning::Add(std::shared_ptr<const DecisionRecord> record) {
  Require(record != nullptr, "Learning::Add: null record");
  const uint64_t id = record->decision_id;
  std::lock_guard lock(keys_mu_);
  if (id != 0) {
    if (auto it = keys_.find(id); it != keys_.end()) {
      // A ground truth found later without the planner's label (joined from the service's
      // journal) completes the stored record instead of replacing its soft target.
      if (!record->has_label) {
        if (ReplayBuffer::RecordPtr stored = replay_.At(it->second);
            stored != nullptr && stored->has_label) {
          auto merged = std::make_shared<DecisionRecord>(*stored);
          merged->has_truth = record->has_truth;
          merged->truth = record->truth;
          merged->reward = record->reward;
          merged->terminated = record->terminated;
          merged->truncated = record->truncated;
          record = std::move(merged);
        }
      }
      if (replay_.Replace(it->second, record)) {
        ++replaced_;
        return;
      }
    }
  }
  const int64_t key = replay_.Insert(std::move(record));
  limiter_.OnInsert(1);
  if (id == 0) return;
  keys_[id] = key;
  key_order_.emplace_back(key, id);
  // Ids of evicted records are forgotten: the map holds at most the replay's capacity.
  const int64_t oldest = key + 1 - options_.replay_capacity;
  while (!key_order_.empty() && key_order_.front().first < oldest) {
    const auto [old_key, old_id] = key_order_.front();
    key_order_.pop_front();
    if (auto it = keys_.find(old_id); it != keys_.end() && it->second == old_key) keys_.erase(it);
  }
}

int64_t Learning::replaced() const {
  std::lock_guard lock(keys_mu_);
  return replaced_;
}

std::optional<Distiller::TrainStats> Learning::TryTrainStep() {
  if (options_.updates_per_label <= 0.0) return std::nullopt;
  if (!limiter_.TrySample(options_.distiller.batch_size)) return std::nullopt;
  return TrainStep();
}

Distiller::TrainStats Learning::TrainStep() {
  replay_.Sample(options_.distiller.batch_size, sampler_rng_, drawn_);
  if (!replay_.uses_priorities()) return distiller_.Train(drawn_.records);
  Distiller::TrainStats stats = distiller_.Train(drawn_.records, drawn_.weights);
  priority_updates_ += replay_.UpdatePriorities(drawn_.keys, stats.priorities);
  return stats;
}

std::shared_ptr<const Snapshot> Learning::FinalSnapshot() {
  if (distiller_.updates() % distiller_.options().publish_every == 0) return nullptr;
  return distiller_.MakeSnapshot(distiller_.published() + 1);
}

std::shared_ptr<const Snapshot> Learning::CurrentSnapshot() const {
  return distiller_.MakeSnapshot(distiller_.published());
}

}  // namespace apprentice
