#include "core/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace apprentice {

int LatencyHistogram::BucketOf(int64_t ns) {
  if (ns < kExact) return static_cast<int>(std::max<int64_t>(ns, 0));
  const int e = 63 - std::countl_zero(static_cast<uint64_t>(ns));  // >= 7
  const int sub = static_cast<int>((ns >> (e - 6)) - kSubBuckets);  // [0, 64)
  return std::min(kExact + (e - 7) * kSubBuckets + sub, kBuckets - 1);
}

double LatencyHistogram::BucketMiddle(int bucket) {
  if (bucket < kExact) return bucket;
  const int e = (bucket - kExact) / kSubBuckets + 7;
  const int sub = (bucket - kExact) % kSubBuckets;
  const double width = std::ldexp(1.0, e - 6);
  return (kSubBuckets + sub) * width + width / 2;
}

void LatencyHistogram::Record(int64_t ns) {
  ns = std::max<int64_t>(ns, 0);
  ++buckets_[BucketOf(ns)];
  ++count_;
  sum_ += ns;
  min_ = std::min(min_, ns);
  max_ = std::max(max_, ns);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (int i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

double LatencyHistogram::Quantile(double q) const {
  if (count_ == 0) return 0.0;
  q = std::clamp(q, 0.0, 1.0);
  // Rank of the wanted sample, 1-based (nearest-rank definition).
  const int64_t rank = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(q * count_)));
  int64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      return std::clamp(BucketMiddle(i), static_cast<double>(min_), static_cast<double>(max_));
    }
  }
  return static_cast<double>(max_);
}

std::vector<LatencyHistogram::Bin> LatencyHistogram::Bins(int per_decade) const {
  std::vector<Bin> bins;
  if (count_ == 0 || per_decade < 1) return bins;
  auto bin_of = [per_decade](int bucket) {
    const double us = std::max(BucketMiddle(bucket), 1.0) * 1e-3;
    return static_cast<int>(std::floor(per_decade * std::log10(us) + 1e-9));
  };
  int first = 0, last = kBuckets - 1;
  while (buckets_[first] == 0) ++first;
  while (buckets_[last] == 0) --last;
  const int low = bin_of(first);
  bins.resize(static_cast<size_t>(bin_of(last) - low + 1));
  for (size_t i = 0; i < bins.size(); ++i) {
    bins[i].upper_us = std::pow(10.0, static_cast<double>(low + static_cast<int>(i) + 1) / per_decade);
  }
  for (int b = first; b <= last; ++b) bins[static_cast<size_t>(bin_of(b) - low)].count += buckets_[b];
  return bins;
}

void SharedLatencyHistogram::Record(int64_t ns) {
  ns = std::max<int64_t>(ns, 0);
  // Single writer: plain load + store, each atomic, so readers never see a torn value.
  auto bump = [](std::atomic<int64_t>& a, int64_t by) {
    a.store(a.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  };
  bump(buckets_[LatencyHistogram::BucketOf(ns)], 1);
  bump(sum_, ns);
  if (ns < min_.load(std::memory_order_relaxed)) min_.store(ns, std::memory_order_relaxed);
  if (ns > max_.load(std::memory_order_relaxed)) max_.store(ns, std::memory_order_relaxed);
}

void SharedLatencyHistogram::Prefetch(int64_t ns) const {
  __builtin_prefetch(&buckets_[LatencyHistogram::BucketOf(std::max<int64_t>(ns, 0))], 1);
  __builtin_prefetch(&sum_, 1);
  __builtin_prefetch(&max_, 1);
}

LatencyHistogram SharedLatencyHistogram::Snapshot() const {
  LatencyHistogram h;
  for (int i = 0; i < LatencyHistogram::kBuckets; ++i) {
    h.buckets_[i] = buckets_[i].load(std::memory_order_relaxed);
    h.count_ += h.buckets_[i];
  }
  h.sum_ = sum_.load(std::memory_order_relaxed);
  h.min_ = min_.load(std::memory_order_relaxed);
  h.max_ = max_.load(std::memory_order_relaxed);
  return h;
}

Json LatencyPercentilesJson(const LatencyHistogram& h) {
  return Json::Object{{"p50", h.QuantileUs(0.5)},
                      {"p90", h.QuantileUs(0.9)},
                      {"p99", h.QuantileUs(0.99)},
                      {"max", static_cast<double>(h.max_ns()) * 1e-3}};
}

Json LatencyBinsJson(const LatencyHistogram& h) {
  Json::Array upper, count;
  for (const LatencyHistogram::Bin& bin : h.Bins(10)) {
    upper.push_back(bin.upper_us);
    count.push_back(bin.count);
  }
  return Json::Object{{"upper_us", std::move(upper)}, {"count", std::move(count)}};
}

}  // namespace apprentice
