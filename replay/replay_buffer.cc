#include "replay/replay_buffer.h"

#include <algorithm>
#include <cmath>
#include <string>


namespace apprentice {
namespace {

std::unique_ptr<Sampler> MakeSampler(const ReplayBuffer::Options& options) {
  return Samplers().Make(options.sampler, options.sampler_options, options.capacity).ValueOrThrow();
}

// make_shared keeps the record and its control block (vtable pointer, two counts) in one block.
constexpr int64_t kControlBlockBytes = 16;

// Throws InvalidArgument for a negative count; builds the message only then (hot path).
void CheckCount(const char* member, int64_t n) {
  if (n < 0) {
    throw InvalidArgument(std::string("ReplayBuffer::") + member + ": n must be >= 0, got " +
                          std::to_string(n));
  }
}

int64_t VectorBytes(const std::vector<float>& v) {
  return static_cast<int64_t>(v.capacity() * sizeof(float));
}

}  // namespace

Status ReplayBuffer::Options::Validate() const {
  if (capacity < 1) {
    return Status::InvalidArgument("replay capacity must be >= 1, got " + std::to_string(capacity));
  }
  Result<OptionValues> resolved = Samplers().Resolve(sampler, sampler_options);
  return resolved.ok() ? Status::Ok() : resolved.status();
}

ReplayBuffer::ReplayBuffer(Options options)
    : options_(Validated(std::move(options))),
      sampler_(MakeSampler(options_)),
      prioritized_(sampler_->uses_priorities()),
      sampler_bytes_(sampler_->bytes()),
      slots_(static_cast<size_t>(options_.capacity)),
      beta_(sampler_->initial_beta()) {}

void ReplayBuffer::CheckPriority(double priority) {
  if (!(std::isfinite(priority) && priority >= 0.0)) {
    throw InvalidArgument("replay priority must be finite and >= 0, got " +
                          std::to_string(priority));
  }
}

int64_t ReplayBuffer::Insert(DecisionRecord record) {
  return Insert(std::make_shared<const DecisionRecord>(std::move(record)));
}

int64_t ReplayBuffer::Insert(DecisionRecord record, double priority) {
  return Insert(std::make_shared<const DecisionRecord>(std::move(record)), priority);
}

int64_t ReplayBuffer::Insert(RecordPtr record) {
  if (record == nullptr) throw InvalidArgument("ReplayBuffer::Insert: null record");
  if (prioritized_ && options_.initial_priority) {
    const double priority = options_.initial_priority(*record);
    CheckPriority(priority);
    return InsertImpl(std::move(record), priority, /*has_priority=*/true);
  }
  return InsertImpl(std::move(record), 0.0, /*has_priority=*/false);
}

int64_t ReplayBuffer::Insert(RecordPtr record, double priority) {
  if (record == nullptr) throw InvalidArgument("ReplayBuffer::Insert: null record");
  CheckPriority(priority);
  return InsertImpl(std::move(record), priority, /*has_priority=*/true);
}

bool ReplayBuffer::Replace(int64_t key, RecordPtr record) {
  if (record == nullptr) throw InvalidArgument("ReplayBuffer::Replace: null record");
  if (key < 0) return false;
  const int64_t bytes = RecordBytes(*record);
  RecordPtr replaced;  // destroyed after the lock is released
  std::lock_guard lock(mu_);
  Slot& slot = slots_[static_cast<size_t>(key % options_.capacity)];
  if (slot.key != key) return false;  // evicted since (or never inserted)
  replaced = std::move(slot.record);
  slot.record = std::move(record);
  stored_bytes_ += bytes - slot.bytes;
  slot.bytes = bytes;
  return true;
}

ReplayBuffer::RecordPtr ReplayBuffer::At(int64_t key) const {
  if (key < 0) return nullptr;
  std::lock_guard lock(mu_);
  const Slot& slot = slots_[static_cast<size_t>(key % options_.capacity)];
  return slot.key == key ? slot.record : nullptr;
}

int64_t ReplayBuffer::InsertImpl(RecordPtr record, double priority, bool has_priority) {
  const int64_t bytes = RecordBytes(*record);
  RecordPtr evicted;  // destroyed after the lock is released
  std::lock_guard lock(mu_);
  Slot& slot = slots_[static_cast<size_t>(next_slot_)];
  evicted = std::move(slot.record);
  slot.record = std::move(record);
  slot.key = inserted_;
  stored_bytes_ += bytes - slot.bytes;
  slot.bytes = bytes;
  if (prioritized_) {
    if (has_priority) {
      max_priority_ = std::max(max_priority_, priority);
    } else {
      priority = max_priority_;
    }
    sampler_->OnInsert(next_slot_, priority);
  } else {
    sampler_->OnInsert(next_slot_, 0.0);
  }
  if (++next_slot_ == options_.capacity) next_slot_ = 0;
  return inserted_++;
}

bool ReplayBuffer::Sample(int64_t n, Rng& rng, SampleBatch& out) const {
  CheckCount("Sample", n);
  // Drop the previous batch's references outside the lock: one of them may be the last owner of
  // an evicted record.
  out.records.clear();
  std::lock_guard lock(mu_);
  const int64_t size = std::min(inserted_, options_.capacity);
  if (size == 0) {
    out.keys.clear();
    out.probabilities.clear();
    out.weights.clear();
    return false;
  }
  const size_t count = static_cast<size_t>(n);
  out.keys.resize(count);
  out.probabilities.resize(count);
  out.weights.resize(count);
  out.records.reserve(count);
  Sampler::Ring ring;
  ring.size = size;
  ring.newest_slot = (next_slot_ == 0 ? options_.capacity : next_slot_) - 1;
  ring.beta = beta_;
  // The sampler writes slots into `keys`; they are turned into keys below.
  sampler_->Sample(ring, rng, out.keys, out.probabilities, out.weights);
  for (int64_t& entry : out.keys) {
    const Slot& slot = slots_[static_cast<size_t>(entry)];
    out.records.push_back(slot.record);
    entry = slot.key;
  }
  return true;
}

bool ReplayBuffer::SampleUniform(int64_t n, Rng& rng, std::vector<RecordPtr>& out) const {
  CheckCount("SampleUniform", n);
  out.clear();
  std::lock_guard lock(mu_);
  const int64_t size = std::min(inserted_, options_.capacity);
  if (size == 0) return false;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    out.push_back(slots_[rng.Below(static_cast<uint64_t>(size))].record);
  }
  return true;
}

int64_t ReplayBuffer::UpdatePriorities(std::span<const int64_t> keys,
                                       std::span<const double> priorities) {
  if (keys.size() != priorities.size()) {
    throw InvalidArgument("ReplayBuffer::UpdatePriorities: " + std::to_string(keys.size()) +
                          " keys but " + std::to_string(priorities.size()) + " priorities");
  }
  double max_priority = 0.0;
  for (double p : priorities) {
    CheckPriority(p);
    max_priority = std::max(max_priority, p);
  }
  int64_t updated = 0;
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < keys.size(); ++i) {
    const int64_t key = keys[i];
    if (key < 0) continue;
    const int64_t slot = key % options_.capacity;
    if (slots_[static_cast<size_t>(slot)].key != key) continue;  // evicted (or never inserted)
    ++updated;
    if (prioritized_) sampler_->OnUpdate(slot, priorities[i]);
  }
  max_priority_ = std::max(max_priority_, max_priority);
  return updated;
}

void ReplayBuffer::SetBeta(double beta) {
  if (!(beta >= 0.0 && beta <= 1.0)) {
    throw InvalidArgument("replay importance-sampling beta must be in [0, 1], got " +
                          std::to_string(beta));
  }
  std::lock_guard lock(mu_);
  beta_ = beta;
}

double ReplayBuffer::beta() const {
  std::lock_guard lock(mu_);
  return beta_;
}

int64_t ReplayBuffer::size() const {
  std::lock_guard lock(mu_);
  return std::min(inserted_, options_.capacity);
}

int64_t ReplayBuffer::inserted() const {
  std::lock_guard lock(mu_);
  return inserted_;
}

int64_t ReplayBuffer::evicted() const {
  std::lock_guard lock(mu_);
  return std::max<int64_t>(0, inserted_ - options_.capacity);
}

int64_t ReplayBuffer::RecordBytes(const DecisionRecord& record) {
  return kControlBlockBytes + static_cast<int64_t>(sizeof(DecisionRecord)) +
         VectorBytes(record.observation) + VectorBytes(record.planner.logits) +
         VectorBytes(record.planner.mean) + VectorBytes(record.planner.log_std) +
         VectorBytes(record.executor.logits) + VectorBytes(record.executor.mean) +
         VectorBytes(record.executor.log_std);
}

int64_t ReplayBuffer::slot_bytes() const {
  const int64_t fixed = options_.capacity * static_cast<int64_t>(sizeof(Slot)) + sampler_bytes_;
  return (fixed + options_.capacity - 1) / options_.capacity;
}

int64_t ReplayBuffer::bytes_per_record() const {
  int64_t stored_bytes, size;
  {
    std::lock_guard lock(mu_);
    stored_bytes = stored_bytes_;
    size = std::min(inserted_, options_.capacity);
  }
  return (size == 0 ? 0 : stored_bytes / size) + slot_bytes();
}

int64_t ReplayBuffer::approximate_bytes() const {
  int64_t stored_bytes;
  {
    std::lock_guard lock(mu_);
    stored_bytes = stored_bytes_;
  }
  return stored_bytes + options_.capacity * static_cast<int64_t>(sizeof(Slot)) + sampler_bytes_ +
         static_cast<int64_t>(sizeof(*this));
}

ReplayBuffer::Options ReplayOptionsFor(int64_t capacity, const std::string& sampler,
                                       const OptionValues& sampler_options) {
  ReplayBuffer::Options options;
  options.capacity = capacity;
  options.sampler = sampler;
  options.sampler_options = sampler_options;
  options.initial_priority = PlannerExecutorDisagreement;  // used only by samplers with priorities
  return options;
}

}  // namespace apprentice
