#include "agent/pacer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include "core/clock.h"

namespace apprentice {

Status Pacer::Options::Validate() const {
  if (!(std::isfinite(rate_hz) && rate_hz > 0.0 && rate_hz <= 1e6)) {
    return Status::InvalidArgument("the loop rate must be in (0, 1000000] Hz");
  }
  if (wake_early_us < 0) return Status::InvalidArgument("the early wake must be >= 0 us");
  if (warm_lead_ns < 0) return Status::InvalidArgument("the warm lead must be >= 0 ns");
  return Status::Ok();
}

Pacer::Pacer(Options options)
    : options_(Validated(options)),
      period_ns_(static_cast<int64_t>(std::llround(1e9 / options_.rate_hz))),
      early_ns_(std::min<int64_t>(options_.wake_early_us * 1000, period_ns_ / 2)),
      next_tick_(NowNs()) {}

bool Pacer::Wait(const std::function<void()>& warm, StopFlag* stop) {
  const int64_t wake = next_tick_ - early_ns_;
  if (stop != nullptr) {
    if (!stop->SleepUntil(wake)) return false;
  } else {
    std::this_thread::sleep_until(AtNs(wake));
  }
  if (early_ns_ == 0) return true;
  const int64_t warm_at = next_tick_ - std::min(options_.warm_lead_ns, early_ns_);
  while (NowNs() < warm_at) {
  }
  if (warm) warm();
  while (NowNs() < next_tick_) {
  }
  return true;
}

void Pacer::EndStep() {
  next_tick_ += period_ns_;
  const int64_t now = NowNs();
  if (now > next_tick_) {  // this step ran past the next tick: skip ahead, count it
    ++overruns_;
    next_tick_ = now;
  }
}

}  // namespace apprentice
