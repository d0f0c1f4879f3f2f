// Collector: joins every decision with its outcome and its label by decision id, never by arrival
// order, writes each complete record to the episode log, and hands labelled records to the
// learner as soon as a decision and its label are both in (learning does not wait for outcomes
// reported later).
//
//   Arbiters ── decision (at Act), outcome (at Observe, or any time later) ──▶ inbox ──┐
//   planner workers, remote planners ── label ──▶ OnLabel (posted to the io_context) ──┼─▶ join
//                                                                                      │  by id
//        Learner::Add ◀── labelled record (decision + label) ◀─────────────────────────┤
//        episode log  ◀── complete record (decision + outcome + label, or no label due) ┘
//
// Ground truth (an outcome carrying a true label, Outcome::truth) becomes the record's hard label:
// a record not yet taught carries it when its planner label arrives; one taught already goes to
// the learner again, corrected (it replaces the earlier version); one whose label never comes
// teaches the hard-label term alone when it is complete. Counted in truths().
//
// A record is complete when its outcome has arrived and its label has arrived or will not come
// (its request was dropped or never made). Labels, decisions and outcomes may arrive in any
// order (an Act()'s decision reaches the collector at Observe(), often after its label), and
// every wait is bounded:
// - a label waits for its decision up to max(label_wait_ms, outcome_wait_ms); if the decision
//   never comes (the inbox overflowed, the caller never observed) the label still teaches: it
//   goes to the learner alone, is counted in orphan_labels and is not logged (a log record is a
//   decision). Its decision, should it come later, is logged without the label;
// - a decision logged without the label it expected (it waited outcome_wait_ms) counts in
//   missing_labels; one logged without its outcome (outcome_wait_ms) in missing_outcomes; past
//   max_pending decisions waiting, the oldest stops waiting at once (counted the same way);
// - an outcome for an unknown decision waits label_wait_ms; then, with a find_decision lookup
//   (the service's journal) that knows the decision, the two are joined (late_joins: a ground
//   truth then teaches, the record is not logged again); otherwise it is dropped and counted
//   (orphan_outcomes).
// Ids whose label is settled before their decision arrives (the request was dropped, or the
// label went to the learner alone) are remembered, the newest kRecentIds of them, so that the
// decision does not wait for a label that will not come; so are the ids of labels already taught,
// so that a label delivered twice (a planner elsewhere retrying) teaches once (duplicate_labels).
// At most `inbox` labels wait for their decision; past that the oldest teaches alone at once.
//
// Threading:
// - The inbox (a BoundedQueue, drop-newest) takes decisions and outcomes from any thread without
//   locking or allocating: Inbox() is what Arbiters push into.
// - Everything else runs on the collector's one thread: a Boost.Asio io_context that drains the
//   inbox every 2 ms, runs posted labels, flushes the log and writes a metrics line every
//   metrics_interval_ms. The counters below are atomics any thread may read.
// - An I/O error of the log or the metrics file is fatal: failed() turns true and error() says
//   what happened; the owner stops the run. After a log error nothing more is appended; after a
//   metrics error the log still takes every record up to Stop().
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>

#include "agent/bounded_queue.h"
#include "agent/label_selection.h"
#include "agent/learner.h"
#include "agent/plan_queue.h"
#include "agent/records.h"
#include "core/agreement.h"
#include "core/latency_histogram.h"
#include "core/space.h"
#include "replay/episode_log.h"

namespace apprentice {

// One entry of the inbox: a decision (without its label and outcome) or an outcome.
struct CollectorItem {
  enum class Kind : uint8_t { kDecision, kOutcome };
  Kind kind = Kind::kDecision;
  uint64_t id = 0;
  // Decision: whether a plan request for it was queued (a label may come), and the request its
  // push displaced from the plan queue (0: none), whose label will not come.
  bool label_expected = false;
  uint64_t dropped_request = 0;
  bool has_outcome = false;  // decision: it carries its outcome (sent by Observe())
  DecisionRecord record;     // decision: everything but the label (and the outcome)
  Outcome outcome;           // outcome, or a decision's when has_outcome
};

class Collector {
 public:
  static constexpr size_t kRecentIds = 65'536;

  struct Options {
    int64_t inbox = 16'384;           // decisions and outcomes waiting for the collector
    // Sizes the inbox's records are prepared for, so that a push allocates nothing: the
    // observation's floats and the executor's output floats (logits, or means + log-stds).
    int64_t observation_size = 0;
    int64_t output_size = 0;
    int64_t label_wait_ms = 1'000;    // see above
    int64_t outcome_wait_ms = 60'000; // see above
    // Decisions held waiting for their outcome or label; past it the oldest is logged at once
    // without them (counted as missing), so that memory stays bounded at any rate.
    int64_t max_pending = 65'536;
    int64_t agreement_window = 1'000; // labels in the rolling agreement
    // Every complete record is appended to episode-log segments in this directory; empty = none.
    std::string log_dir;
    EpisodeLogMetadata log_metadata;
    // A line from `metrics_line` is appended every metrics_interval_ms (and at Stop()); empty =
    // none. The file is opened for appending: a resumed run keeps the lines of the earlier one.
    std::string metrics_path;
    int64_t metrics_interval_ms = 1'000;
    int nice = 0;  // the thread's nice value (Linux; 0 = unchanged)
    // Decisions no longer in memory, by id: an outcome whose decision never arrives (it was
    // logged long ago, or made before a restart) is joined with the one this finds, instead of
    // being dropped as an orphan. Called on the collector's thread; may read a file.
    DecisionLookup find_decision;
    // Where each label's disagreement with the executor's action is recorded, by the kind of
    // decision (the disagreement label policy reads it); null = nowhere. It outlives the collector.
    DisagreementBoard* disagreement = nullptr;
    Status Validate() const;
  };

  // Opens the log and the metrics file (Unavailable naming the path if either cannot be
  // written: thrown as InvalidArgument by the constructor). `learner` may be null (labels are
  // only logged). `metrics_line` is called on the collector's thread.
  Collector(Options options, Space action_space, Learner* learner,
            std::function<std::string()> metrics_line);
  ~Collector();
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  // Any thread: where decisions and outcomes go.
  BoundedQueue<CollectorItem>& Inbox() { return inbox_; }
  // Any thread: a finished plan request (posted to the collector's thread).
  void OnLabel(Label label);

  // Starts the thread. Once.
  void Start();
  // Joins everything still held into records (the caller has stopped producing), closes the log
  // and joins the thread. Returns the first I/O error (or Ok). Idempotent.
  Status Stop();
  // After Stop(): the last metrics line (once the producers of its numbers have stopped too).
  void WriteFinalMetricsLine();

  bool failed() const { return failed_.load(std::memory_order_acquire); }
  Status error() const;  // the fatal error, or Ok

  // Counters (any thread).
  int64_t labels() const { return labels_.load(std::memory_order_relaxed); }
  int64_t logged() const { return logged_.load(std::memory_order_relaxed); }
  int64_t decisions() const { return decisions_.load(std::memory_order_relaxed); }
  int64_t orphan_outcomes() const { return orphan_outcomes_.load(std::memory_order_relaxed); }
  int64_t truths() const { return truths_.load(std::memory_order_relaxed); }
  int64_t late_joins() const { return late_joins_.load(std::memory_order_relaxed); }
  int64_t missing_outcomes() const { return missing_outcomes_.load(std::memory_order_relaxed); }
  int64_t orphan_labels() const { return orphan_labels_.load(std::memory_order_relaxed); }
  int64_t missing_labels() const { return missing_labels_.load(std::memory_order_relaxed); }
  int64_t duplicate_labels() const { return duplicate_labels_.load(std::memory_order_relaxed); }
  double agreement() const { return agreement_.load(std::memory_order_relaxed); }
  double mean_kl() const { return mean_kl_.load(std::memory_order_relaxed); }
  int64_t agreement_samples() const { return agreement_samples_.load(std::memory_order_relaxed); }
  LatencyHistogram planner_latency() const { return planner_latency_.Snapshot(); }
  std::string last_error() const;  // the latest planner error a label carried, or I/O error

 private:
  struct Pending;

  void Poll();
  void MetricsTick();
  void Drain();
  void OnDecision(CollectorItem& item);
  void OnOutcome(uint64_t id, const Outcome& outcome);
  void HandleLabel(Label& label);
  void MergeLabel(Pending& pending, Label& label);
  void MaybeFinish(uint64_t id);
  void Finish(DecisionRecord& record);
  void Expire(int64_t now_ns, bool all);
  // The pending decision `id` stops waiting: logged now without the outcome or label it lacks.
  void GiveUpWaiting(uint64_t id);
  // The labelled record to the learner (and, with `agreement`, into the rolling agreement).
  void Forward(const DecisionRecord& record, bool agreement = true);
  void ExpireEarlyLabels(int64_t cutoff_ns, bool all);
  void ExpireEarlyOutcomes(int64_t cutoff_ns, bool all);
  // An outcome whose decision the collector never got, joined with the decision
  // options_.find_decision finds; false when there is none.
  bool JoinLate(uint64_t id, const Outcome& outcome);

  // The newest `capacity` ids inserted, for membership tests (older ones are forgotten).
  class RecentIds {
   public:
    explicit RecentIds(size_t capacity) : capacity_(capacity) {}
    void Insert(uint64_t id);
    bool Contains(uint64_t id) const { return live_.count(id) > 0; }
    bool Take(uint64_t id) { return live_.erase(id) > 0; }  // whether it was there

   private:
    const size_t capacity_;
    uint64_t generation_ = 0;
    std::unordered_map<uint64_t, uint64_t> live_;      // id -> the generation it was inserted in
    std::deque<std::pair<uint64_t, uint64_t>> order_;  // (id, generation), oldest first
  };
  void WriteMetricsLine();
  void Fail(const std::string& what, const Status& status);
  void FailLog(const Status& status);  // Fail(), and nothing more is appended to the log

  const Options options_;
  const Space action_space_;
  Learner* const learner_;
  const std::function<std::string()> metrics_line_;
  BoundedQueue<CollectorItem> inbox_;

  struct Io;
  std::unique_ptr<Io> io_;  // the io_context, its timers and thread
  std::once_flag stop_once_;
  Status stop_status_;

  // Collector thread only.
  std::unordered_map<uint64_t, std::unique_ptr<Pending>> pending_;
  std::deque<std::pair<int64_t, uint64_t>> pending_order_;  // (arrived_ns, id), arrival order
  struct EarlyLabel {
    Label label;
    int64_t arrived_ns = 0;
  };
  std::unordered_map<uint64_t, EarlyLabel> early_labels_;
  struct EarlyOutcome {
    Outcome outcome;
    int64_t arrived_ns = 0;
  };
  std::unordered_map<uint64_t, EarlyOutcome> early_outcomes_;
  // (arrived_ns, id) of the entries above, oldest first, so that expiring them costs what expires
  // (an entry whose id was joined meanwhile is skipped).
  std::deque<std::pair<int64_t, uint64_t>> early_label_order_, early_outcome_order_;
  RecentIds resolved_{kRecentIds};  // label settled before the decision came (see above)
  RecentIds taught_{kRecentIds};    // labels already handed to the learner
  AgreementWindow window_;
  std::optional<EpisodeLogWriter> log_;
  std::ofstream metrics_file_;
  bool stopping_ = false;
  bool log_failed_ = false;
  CollectorItem scratch_;

  // Written by the collector thread, read by any.
  SharedLatencyHistogram planner_latency_;
  std::atomic<int64_t> labels_{0}, logged_{0}, decisions_{0}, orphan_outcomes_{0}, truths_{0},
      late_joins_{0},
      missing_outcomes_{0}, orphan_labels_{0}, missing_labels_{0}, duplicate_labels_{0},
      agreement_samples_{0};
  std::atomic<double> agreement_{0.0}, mean_kl_{0.0};
  std::atomic<bool> failed_{false};
  mutable std::mutex error_mu_;
  Status fatal_;            // guarded by error_mu_
  std::string last_error_;  // guarded by error_mu_
};

}  // namespace apprentice
