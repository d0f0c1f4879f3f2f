#include "replay/rate_limiter.h"

#include <cmath>
#include <string>

namespace apprentice {
namespace {

// Throws InvalidArgument for a negative count; builds the message only then (hot path).
void CheckCount(const char* member, int64_t n) {
  if (n < 0) {
    throw InvalidArgument(std::string("RateLimiter::") + member + ": n must be >= 0, got " +
                          std::to_string(n));
  }
}

}  // namespace

Status RateLimiter::Options::Validate() const {
  if (min_size_to_sample < 1) {
    return Status::InvalidArgument("rate limiter min_size_to_sample must be >= 1, got " +
                                   std::to_string(min_size_to_sample));
  }
  if (!(std::isfinite(samples_per_insert) && samples_per_insert >= 0.0)) {
    return Status::InvalidArgument(
        "rate limiter samples_per_insert must be finite and >= 0 (0 = no ratio), got " +
        std::to_string(samples_per_insert));
  }
  if (!(std::isfinite(tolerance) && tolerance >= 0.0)) {
    return Status::InvalidArgument("rate limiter tolerance must be finite and >= 0, got " +
                                   std::to_string(tolerance));
  }
  return Status::Ok();
}

RateLimiter::RateLimiter(Options options) : options_(options) { RequireOk(options_.Validate()); }

void RateLimiter::OnInsert(int64_t n) {
  CheckCount("OnInsert", n);
  bool wake;
  {
    std::lock_guard lock(mu_);
    inserts_ += n;
    wake = waiters_ > 0;
  }
  if (wake) cv_.notify_all();
}

bool RateLimiter::CanSampleLocked(int64_t n) const {
  if (inserts_ < options_.min_size_to_sample) return false;
  if (options_.samples_per_insert == 0.0) return true;
  const double allowed =
      static_cast<double>(inserts_ - options_.min_size_to_sample) * options_.samples_per_insert +
      options_.tolerance;
  return static_cast<double>(samples_ + n) <= allowed;
}

bool RateLimiter::CanSample(int64_t n) const {
  CheckCount("CanSample", n);
  std::lock_guard lock(mu_);
  return CanSampleLocked(n);
}

bool RateLimiter::TrySample(int64_t n) {
  CheckCount("TrySample", n);
  std::lock_guard lock(mu_);
  if (!CanSampleLocked(n)) return false;
  samples_ += n;
  return true;
}

void RateLimiter::OnSample(int64_t n) {
  CheckCount("OnSample", n);
  std::lock_guard lock(mu_);
  samples_ += n;
}

Status RateLimiter::WaitToSample(int64_t n, std::chrono::nanoseconds timeout) {
  CheckCount("WaitToSample", n);
  using Clock = std::chrono::steady_clock;
  const Clock::time_point now = Clock::now();
  // A timeout too long to add to now() waits without a deadline.
  const Clock::time_point deadline =
      timeout >= Clock::time_point::max() - now ? Clock::time_point::max() : now + timeout;
  std::unique_lock lock(mu_);
  ++waiters_;
  const bool ready =
      cv_.wait_until(lock, deadline, [&] { return cancelled_ || CanSampleLocked(n); });
  --waiters_;
  if (cancelled_) return Status::Unavailable("rate limiter cancelled");
  if (!ready) {
    return Status::DeadlineExceeded("rate limiter: timed out waiting to sample " +
                                    std::to_string(n) + " (inserts " + std::to_string(inserts_) +
                                    ", samples " + std::to_string(samples_) + ")");
  }
  samples_ += n;
  return Status::Ok();
}

void RateLimiter::Cancel() {
  {
    std::lock_guard lock(mu_);
    cancelled_ = true;
  }
  cv_.notify_all();
}

bool RateLimiter::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

int64_t RateLimiter::inserts() const {
  std::lock_guard lock(mu_);
  return inserts_;
}

int64_t RateLimiter::samples() const {
  std::lock_guard lock(mu_);
  return samples_;
}

int64_t RateLimiter::waiters() const {
  std::lock_guard lock(mu_);
  return waiters_;
}

}  // namespace apprentice
