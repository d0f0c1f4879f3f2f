// LatencyHistogram: records durations in nanoseconds into fixed log-linear buckets (exact below
// 128 ns, then 64 buckets per power of two: within 1.6 % everywhere). Record() is O(1) and never
// allocates, so it may sit on the per-step path.
//
// LatencyHistogram is not thread-safe: one histogram per recording thread; Merge() combines them.
// SharedLatencyHistogram is the same histogram for one recording thread watched by others: any
// thread may take a Snapshot() while the owner records.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "core/json.h"

namespace apprentice {

class LatencyHistogram {
 public:
  void Record(int64_t ns);
  void Merge(const LatencyHistogram& other);
  void Clear() { *this = LatencyHistogram(); }

  int64_t count() const { return count_; }
  int64_t min_ns() const { return count_ ? min_ : 0; }
  int64_t max_ns() const { return max_; }
  double mean_ns() const { return count_ ? static_cast<double>(sum_) / count_ : 0.0; }
  // The q-quantile (q in [0, 1]) in nanoseconds; 0 when empty. Exact below 128 ns, else the
  // middle of the bucket, clamped to [min, max].
  double Quantile(double q) const;
  double QuantileUs(double q) const { return Quantile(q) * 1e-3; }

  // The counts regrouped into `per_decade` log-spaced bins per power of ten (bin i holds
  // [10^(i/per_decade), 10^((i+1)/per_decade)) microseconds; a bucket goes to the bin of its
  // middle, 0 ns to the bin of 1 ns): {upper edge in µs, count} for every bin from the first to
  // the last non-empty one, empty bins between included (a chart's bars). Empty when no record.
  struct Bin {
    double upper_us = 0.0;
    int64_t count = 0;
  };
  std::vector<Bin> Bins(int per_decade = 10) const;

 private:
  static constexpr int kExact = 128;
  static constexpr int kSubBuckets = 64;
  static constexpr int kBuckets = kExact + (63 - 7) * kSubBuckets;
  static int BucketOf(int64_t ns);
  static double BucketMiddle(int bucket);

  std::array<int64_t, kBuckets> buckets_{};
  int64_t count_ = 0;
  int64_t sum_ = 0;
  int64_t min_ = INT64_MAX;
  int64_t max_ = 0;

  friend class SharedLatencyHistogram;
};

class SharedLatencyHistogram {
 public:
  // One thread only (the owner). Wait-free, no allocation, no read-modify-write instruction.
  void Record(int64_t ns);
  // Brings into the cache what Record(ns) will write (a caller about to record a latency near
  // `ns` after sleeping). Any thread; changes nothing.
  void Prefetch(int64_t ns) const;
  // Any thread. A snapshot taken during Record() may miss that record; it never tears a count.
  LatencyHistogram Snapshot() const;

 private:
  std::array<std::atomic<int64_t>, LatencyHistogram::kBuckets> buckets_{};
  std::atomic<int64_t> sum_{0};
  std::atomic<int64_t> min_{INT64_MAX};
  std::atomic<int64_t> max_{0};
};

// {"p50", "p90", "p99", "max"} in microseconds: the one form every summary and metrics line uses.
Json LatencyPercentilesJson(const LatencyHistogram& histogram);
// {"upper_us": [...], "count": [...]}: Bins(10), for plots (summary.json's latency_histograms).
Json LatencyBinsJson(const LatencyHistogram& histogram);

}  // namespace apprentice
