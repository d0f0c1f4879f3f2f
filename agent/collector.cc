#include "agent/collector.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <cmath>
#include <vector>

#include "agent/threads.h"
#include "core/clock.h"

namespace apprentice {
namespace asio = boost::asio;

namespace {
constexpr int64_t kPollNs = 2'000'000;
}  // namespace

Status Collector::Options::Validate() const {
  if (inbox < 2 || inbox > 10'000'000) {
    return Status::InvalidArgument("the collector inbox must hold [2, 10000000] entries");
  }
  if (label_wait_ms < 0 || label_wait_ms > kMaxWaitMs) {
    return Status::InvalidArgument("the label wait must be in [0 ms, a year]");
  }
  if (outcome_wait_ms < 0 || outcome_wait_ms > kMaxWaitMs) {
    return Status::InvalidArgument("the outcome wait must be in [0 ms, a year]");
  }
  if (metrics_interval_ms > kMaxWaitMs) {
    return Status::InvalidArgument("the metrics interval must be at most a year");
  }
  if (agreement_window < 1) return Status::InvalidArgument("the agreement window must be >= 1");
  if (max_pending < 1 || max_pending > 100'000'000) {
    return Status::InvalidArgument("the pending decisions must be in [1, 100000000]");
  }
  if (metrics_interval_ms < 1) return Status::InvalidArgument("the metrics interval must be >= 1 ms");
  return Status::Ok();
}

// A decision waiting for its outcome and, when one was requested, its label.
struct Collector::Pending {
  DecisionRecord record;
  bool label_expected = false;
  bool has_outcome = false;
  int64_t arrived_ns = 0;
};

struct Collector::Io {
  asio::io_context context;
  asio::executor_work_guard<asio::io_context::executor_type> work{asio::make_work_guard(context)};
  asio::steady_timer poll{context}, metrics{context};
  std::thread thread;
};

Collector::Collector(Options options, Space action_space, Learner* learner,
                     std::function<std::string()> metrics_line)
    : options_(std::move(options)),
      action_space_(std::move(action_space)),
      learner_(learner),
      metrics_line_(std::move(metrics_line)),
      inbox_(options_.inbox, Overflow::kDropNewest,
             [&](CollectorItem& item) {
               const auto obs = static_cast<size_t>(options_.observation_size);
               const auto out = static_cast<size_t>(options_.output_size);
               item.record.observation.reserve(obs);
               item.record.executor.logits.reserve(out);
               item.record.executor.mean.reserve(out);
               item.record.executor.log_std.reserve(out);
             }),
      io_(std::make_unique<Io>()),
      window_(options_.agreement_window) {
  RequireOk(options_.Validate());
  if (!options_.log_dir.empty()) {
    EpisodeLogWriter::Options log_options;
    log_options.directory = options_.log_dir;
    Result<EpisodeLogWriter> log = EpisodeLogWriter::Open(log_options, options_.log_metadata);
    if (!log.ok()) throw InvalidArgument(log.status().message());
    log_.emplace(std::move(log).value());
  }
  if (!options_.metrics_path.empty()) {
    metrics_file_.open(options_.metrics_path, std::ios::out | std::ios::app);
    Require(metrics_file_.is_open(), "cannot write metrics to " + options_.metrics_path);
  }
}

Collector::~Collector() { (void)Stop(); }

void Collector::Start() {
  Poll();
  MetricsTick();
  io_->thread = std::thread([this, nice = options_.nice] {
    SetThreadNice(nice);
    io_->context.run();
  });
}

void Collector::OnLabel(Label label) {
  asio::post(io_->context, [this, l = std::move(label)]() mutable { HandleLabel(l); });
}

Status Collector::Stop() {
  std::call_once(stop_once_, [this] {
    if (!io_->thread.joinable()) {  // never started: nothing was collected
      stopping_ = true;
      if (log_) {
        if (Status s = log_->Close(); !s.ok()) FailLog(s);
        logged_.store(log_->records_written());
      }
      stop_status_ = error();
      return;
    }
    asio::post(io_->context, [this] {
      Drain();
      Expire(NowNs(), /*all=*/true);
      // Records still expecting a label are logged without it: Stop() cancelled their requests.
      for (auto& [id, pending] : pending_) {
        if (!pending->has_outcome) missing_outcomes_.fetch_add(1, std::memory_order_relaxed);
        Finish(pending->record);
      }
      pending_.clear();
      pending_order_.clear();
      if (log_) {
        if (!log_failed_) {
          if (Status s = log_->Close(); !s.ok()) FailLog(s);
        }
        logged_.store(log_->records_written(), std::memory_order_relaxed);
      }
      stopping_ = true;
      io_->poll.cancel();
      io_->metrics.cancel();
      io_->work.reset();
    });
    io_->thread.join();
    stop_status_ = error();
  });
  return stop_status_;
}

void Collector::WriteFinalMetricsLine() {
  Require(!io_->thread.joinable(), "Collector::WriteFinalMetricsLine: Stop() first");
  WriteMetricsLine();  // the thread has ended: this thread owns the file now
  if (metrics_file_.is_open()) metrics_file_.close();
}

Status Collector::error() const {
  std::lock_guard lock(error_mu_);
  return fatal_;
}

std::string Collector::last_error() const {
  std::lock_guard lock(error_mu_);
  return last_error_;
}

void Collector::Fail(const std::string& what, const Status& status) {
  std::lock_guard lock(error_mu_);
  last_error_ = what + ": " + status.message();
  if (fatal_.ok()) fatal_ = Status(status.code(), last_error_);
  failed_.store(true, std::memory_order_release);
}

void Collector::Poll() {
  if (stopping_) return;  // a tick that completed before the cancel must not re-arm
  Drain();
  Expire(NowNs(), /*all=*/false);
  io_->poll.expires_after(std::chrono::nanoseconds(kPollNs));
  io_->poll.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) Poll();
  });
}

void Collector::MetricsTick() {
  if (stopping_) return;
  if (log_ && !log_failed_) {
    if (Status s = log_->Flush(); !s.ok()) FailLog(s);
    logged_.store(log_->records_written(), std::memory_order_relaxed);
  }
  WriteMetricsLine();
  io_->metrics.expires_after(std::chrono::milliseconds(options_.metrics_interval_ms));
  io_->metrics.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) MetricsTick();
  });
}

void Collector::WriteMetricsLine() {
  if (!metrics_file_.is_open() || !metrics_line_) return;
  metrics_file_ << metrics_line_() << '\n';
  metrics_file_.flush();
  if (!metrics_file_) {
    Fail("metrics " + options_.metrics_path, Status::Unavailable("write failed"));
    metrics_file_.close();
  }
}

void Collector::Drain() {
  while (inbox_.Pop([&](CollectorItem& item) {
    scratch_.kind = item.kind;
    scratch_.id = item.id;
    scratch_.outcome = item.outcome;
    if (item.kind == CollectorItem::Kind::kOutcome) return;
    scratch_.has_outcome = item.has_outcome;
    scratch_.label_expected = item.label_expected;
    scratch_.dropped_request = item.dropped_request;
    scratch_.record = item.record;
  })) {
    if (scratch_.kind == CollectorItem::Kind::kOutcome) {
      OnOutcome(scratch_.id, scratch_.outcome);
    } else {
      OnDecision(scratch_);
    }
  }
}

void Collector::OnDecision(CollectorItem& item) {
  decisions_.fetch_add(1, std::memory_order_relaxed);
  if (item.dropped_request != 0) {
    auto it = pending_.find(item.dropped_request);
    if (it != pending_.end()) {
      it->second->label_expected = false;
      MaybeFinish(item.dropped_request);
    } else {
      resolved_.Insert(item.dropped_request);  // its decision comes later (another caller's)
    }
  }
  const uint64_t id = item.id;
  auto pending = std::make_unique<Pending>();
  pending->record = std::move(item.record);
  item.record = DecisionRecord();
  pending->label_expected = item.label_expected && !resolved_.Take(id);
  pending->has_outcome = item.has_outcome;
  if (item.has_outcome) ApplyOutcome(item.outcome, pending->record);
  pending->arrived_ns = NowNs();
  pending_order_.emplace_back(pending->arrived_ns, id);
  pending_.emplace(id, std::move(pending));
  // Memory stays bounded however late outcomes come: past max_pending, the oldest decision is
  // logged now without what it waits for (a late outcome then joins it through find_decision).
  while (static_cast<int64_t>(pending_.size()) > options_.max_pending) {
    const auto [arrived_ns, oldest] = pending_order_.front();
    pending_order_.pop_front();
    auto it = pending_.find(oldest);
    if (it != pending_.end() && it->second->arrived_ns == arrived_ns && oldest != id) {
      GiveUpWaiting(oldest);
    }
  }
  if (auto early = early_labels_.find(id); early != early_labels_.end()) {
    Label label = std::move(early->second.label);
    early_labels_.erase(early);
    MergeLabel(*pending_.at(id), label);
  }
  if (auto early = early_outcomes_.find(id); early != early_outcomes_.end()) {
    const Outcome outcome = early->second.outcome;
    early_outcomes_.erase(early);
    OnOutcome(id, outcome);
  }
  MaybeFinish(id);
}

void Collector::OnOutcome(uint64_t id, const Outcome& outcome) {
  auto it = pending_.find(id);
  if (it == pending_.end()) {
    const int64_t now = NowNs();
    early_outcomes_[id] = {outcome, now};
    early_outcome_order_.emplace_back(now, id);
    // Too many waiting: the oldest are dropped now (counted as orphans).
    while (early_outcomes_.size() > static_cast<size_t>(options_.inbox)) {
      ExpireEarlyOutcomes(early_outcome_order_.front().first, /*all=*/false);
    }
    return;
  }
  DecisionRecord& record = it->second->record;
  ApplyOutcome(outcome, record);
  it->second->has_outcome = true;
  if (outcome.has_truth) {
    truths_.fetch_add(1, std::memory_order_relaxed);
    // Its planner label has taught already: the learner takes this corrected version in place.
    if (record.has_label && learner_ != nullptr) {
      learner_->Add(std::make_shared<const DecisionRecord>(record));
    }
  }
  MaybeFinish(id);
}

void Collector::HandleLabel(Label& label) {
  if (label.status.ok()) {
    planner_latency_.Record(label.decision.latency_ns);
  } else {
    std::lock_guard lock(error_mu_);
    last_error_ = "planner: " + label.status.message();
  }
  const uint64_t id = label.decision_id;
  if (label.status.ok() && taught_.Contains(id)) {  // delivered twice: taught once already
    duplicate_labels_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto it = pending_.find(id);
  if (it == pending_.end()) {
    const int64_t now = NowNs();
    if (!early_labels_.emplace(id, EarlyLabel{std::move(label), now}).second) {
      duplicate_labels_.fetch_add(1, std::memory_order_relaxed);  // one waits already
      return;
    }
    early_label_order_.emplace_back(now, id);
    // Too many waiting: the oldest teach alone now.
    while (early_labels_.size() > static_cast<size_t>(options_.inbox)) {
      ExpireEarlyLabels(early_label_order_.front().first, /*all=*/false);
    }
    return;
  }
  MergeLabel(*it->second, label);
  MaybeFinish(id);
}

void Collector::MergeLabel(Pending& pending, Label& label) {
  pending.label_expected = false;
  if (!label.status.ok()) return;
  if (pending.record.has_label) {  // a second label for one decision teaches once
    duplicate_labels_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  ApplyPlanDecision(std::move(label.decision), pending.record);
  Forward(pending.record);
}

void Collector::Forward(const DecisionRecord& record, bool agreement) {
  if (agreement) {  // needs the executor's output, which only the decision carries
    const bool agreed = PushAgreement(action_space_, record, window_);
    if (options_.disagreement != nullptr && !record.executor.empty()) {
      options_.disagreement->Record(record.executor_action,
                                    OutputConfidence(action_space_, record.executor), !agreed);
    }
    agreement_.store(window_.rate(), std::memory_order_relaxed);
    mean_kl_.store(window_.mean_kl(), std::memory_order_relaxed);
    agreement_samples_.store(window_.count(), std::memory_order_relaxed);
  }
  if (learner_ != nullptr) learner_->Add(std::make_shared<const DecisionRecord>(record));
  taught_.Insert(record.decision_id);
  labels_.fetch_add(1, std::memory_order_release);
}

void Collector::RecentIds::Insert(uint64_t id) {
  auto [it, inserted] = live_.try_emplace(id, 0);
  if (!inserted) return;
  it->second = ++generation_;
  order_.emplace_back(id, generation_);
  while (order_.size() > capacity_) {
    const auto [old, generation] = order_.front();
    order_.pop_front();
    // An id taken and inserted again has a newer generation: that entry stays.
    if (auto f = live_.find(old); f != live_.end() && f->second == generation) live_.erase(f);
  }
}

void Collector::MaybeFinish(uint64_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  const Pending& p = *it->second;
  if (!p.has_outcome || p.label_expected) return;
  // Ground truth and no planner label (the teacher skipped or failed it): it teaches the
  // hard-label term alone.
  if (p.record.has_truth && !p.record.has_label && learner_ != nullptr) {
    learner_->Add(std::make_shared<const DecisionRecord>(p.record));
  }
  Finish(it->second->record);
  pending_.erase(it);
}

void Collector::Finish(DecisionRecord& record) {
  if (!log_ || log_failed_) return;
  if (Status s = log_->Append(record); !s.ok()) {
    if (s.code() == StatusCode::kInvalidArgument) {  // one oversized record: skipped, counted
      std::lock_guard lock(error_mu_);
      last_error_ = "episode log: " + s.message();
      return;
    }
    FailLog(s);
  }
}

void Collector::FailLog(const Status& status) {
  log_failed_ = true;
  Fail("episode log", status);
}

// Labels whose decision never came, outcomes of unknown decisions, and decisions whose outcome
// never came, once they have waited long enough (or `all`, at Stop()).
void Collector::Expire(int64_t now_ns, bool all) {
  ExpireEarlyLabels(
      now_ns - std::max(options_.label_wait_ms, options_.outcome_wait_ms) * 1'000'000, all);
  ExpireEarlyOutcomes(now_ns - options_.label_wait_ms * 1'000'000, all);
  if (all) return;  // Stop() finishes every pending decision itself
  // Decisions still waiting for their outcome, oldest first (arrival order); entries of
  // decisions finished since are skipped.
  const int64_t outcome_cutoff = now_ns - options_.outcome_wait_ms * 1'000'000;
  while (!pending_order_.empty() && pending_order_.front().first <= outcome_cutoff) {
    const auto [arrived_ns, id] = pending_order_.front();
    pending_order_.pop_front();
    auto it = pending_.find(id);
    if (it != pending_.end() && it->second->arrived_ns == arrived_ns) GiveUpWaiting(id);
  }
  // Entries of decisions that finished early pile up behind older ones: drop them now and then.
  if (pending_order_.size() > 2 * pending_.size() + 1024) {
    std::erase_if(pending_order_, [&](const std::pair<int64_t, uint64_t>& entry) {
      auto it = pending_.find(entry.second);
      return it == pending_.end() || it->second->arrived_ns != entry.first;
    });
  }
}

void Collector::GiveUpWaiting(uint64_t id) {
  Pending& pending = *pending_.at(id);
  if (!pending.has_outcome) {
    pending.has_outcome = true;  // logged without one
    missing_outcomes_.fetch_add(1, std::memory_order_relaxed);
  }
  if (pending.label_expected) {
    pending.label_expected = false;  // logged without it (a late label teaches alone)
    missing_labels_.fetch_add(1, std::memory_order_relaxed);
  }
  MaybeFinish(id);
}

// Labels that arrived at or before `cutoff_ns` (every one with `all`) and still wait for their
// decision: each teaches alone (not logged: no decision), and its id is resolved.
void Collector::ExpireEarlyLabels(int64_t cutoff_ns, bool all) {
  while (!early_label_order_.empty() && (all || early_label_order_.front().first <= cutoff_ns)) {
    const auto [arrived_ns, id] = early_label_order_.front();
    early_label_order_.pop_front();
    auto it = early_labels_.find(id);
    if (it == early_labels_.end() || it->second.arrived_ns != arrived_ns) continue;  // joined
    Label& label = it->second.label;
    if (label.status.ok()) {
      DecisionRecord record;
      record.decision_id = id;
      record.episode = label.episode;
      record.step = label.step;
      record.observation = std::move(label.observation);
      record.executor_action = label.executor_action;
      ApplyPlanDecision(std::move(label.decision), record);
      Forward(record, /*agreement=*/false);
      orphan_labels_.fetch_add(1, std::memory_order_relaxed);
    }
    resolved_.Insert(id);
    early_labels_.erase(it);
  }
}

bool Collector::JoinLate(uint64_t id, const Outcome& outcome) {
  if (!options_.find_decision) return false;
  Result<std::optional<DecisionRecord>> found = options_.find_decision(id);
  if (!found.ok()) {
    std::lock_guard lock(error_mu_);
    last_error_ = "late outcome: " + found.status().message();
    return false;
  }
  if (!found->has_value()) return false;
  DecisionRecord& record = **found;
  ApplyOutcome(outcome, record);
  late_joins_.fetch_add(1, std::memory_order_relaxed);
  if (outcome.has_truth) {
    truths_.fetch_add(1, std::memory_order_relaxed);
    // Its planner label, if the learner still holds it, stays: the learner adds the truth to it.
    if (learner_ != nullptr) learner_->Add(std::make_shared<const DecisionRecord>(std::move(record)));
  }
  return true;
}

void Collector::ExpireEarlyOutcomes(int64_t cutoff_ns, bool all) {
  while (!early_outcome_order_.empty() &&
         (all || early_outcome_order_.front().first <= cutoff_ns)) {
    const auto [arrived_ns, id] = early_outcome_order_.front();
    early_outcome_order_.pop_front();
    auto it = early_outcomes_.find(id);
    if (it == early_outcomes_.end() || it->second.arrived_ns != arrived_ns) continue;  // joined
    if (!JoinLate(id, it->second.outcome)) orphan_outcomes_.fetch_add(1, std::memory_order_relaxed);
    early_outcomes_.erase(it);
  }
}

}  // namespace apprentice
