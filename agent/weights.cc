#include "agent/weights.h"

#include <algorithm>

#include "core/status.h"

namespace apprentice {

WeightBroadcast::WeightBroadcast(std::shared_ptr<const Snapshot> initial)
    : latest_(std::move(initial)) {
  Require(latest_ != nullptr, "a weight source needs an initial snapshot");
}

std::shared_ptr<const Snapshot> WeightBroadcast::Latest() const {
  std::lock_guard lock(latest_mu_);
  return latest_;
}

int WeightBroadcast::Subscribe(Callback on_snapshot) {
  Require(static_cast<bool>(on_snapshot), "WeightSource::Subscribe needs a callback");
  std::lock_guard lock(publish_mu_);
  subscribers_.emplace_back(next_id_, std::move(on_snapshot));
  return next_id_++;
}

void WeightBroadcast::Unsubscribe(int id) {
  std::lock_guard lock(publish_mu_);
  std::erase_if(subscribers_, [id](const auto& s) { return s.first == id; });
}

void WeightBroadcast::Publish(std::shared_ptr<const Snapshot> snapshot) {
  Require(snapshot != nullptr, "WeightBroadcast::Publish needs a snapshot");
  std::lock_guard lock(publish_mu_);
  {
    std::lock_guard latest_lock(latest_mu_);
    latest_ = snapshot;
  }
  for (const auto& [id, callback] : subscribers_) callback(snapshot);
}

}  // namespace apprentice
