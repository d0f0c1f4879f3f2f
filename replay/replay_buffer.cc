#include "replay/replay_buffer.h"

namespace apprentice {

Status ReplayBuffer::Options::Validate() const {
  if (capacity < 1) {
    return Status::InvalidArgument("replay capacity must be >= 1, got " + std::to_string(capacity));
  }
  return Status::Ok();
}

ReplayBuffer::ReplayBuffer(Options options) : options_(options) {
  RequireOk(options_.Validate());
}

void ReplayBuffer::Insert(DecisionRecord record) {
  Insert(std::make_shared<const DecisionRecord>(std::move(record)));
}

void ReplayBuffer::Insert(RecordPtr record) {
  RecordPtr evicted;  // destroyed after the lock is released
  std::lock_guard lock(mu_);
  ++inserted_;
  if (static_cast<int64_t>(ring_.size()) < options_.capacity) {
    ring_.push_back(std::move(record));
    return;
  }
  evicted = std::move(ring_[next_]);
  ring_[next_] = std::move(record);
  next_ = (next_ + 1) % options_.capacity;
}

bool ReplayBuffer::SampleUniform(int64_t n, Rng& rng, std::vector<RecordPtr>& out) const {
  out.clear();
  std::lock_guard lock(mu_);
  if (ring_.empty()) return false;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out.push_back(ring_[rng.Below(ring_.size())]);
  return true;
}

int64_t ReplayBuffer::size() const {
  std::lock_guard lock(mu_);
  return static_cast<int64_t>(ring_.size());
}

int64_t ReplayBuffer::inserted() const {
  std::lock_guard lock(mu_);
  return inserted_;
}

int64_t ReplayBuffer::evicted() const {
  std::lock_guard lock(mu_);
  return inserted_ - static_cast<int64_t>(ring_.size());
}

}  // namespace apprentice
