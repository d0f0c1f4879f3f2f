#include "apps/fraud_loop.h"

#include <algorithm>
#include <deque>
#include <filesystem>
#include <memory>
#include <thread>
#include <unordered_map>

#include <zmq.hpp>

#include "agent/agent.h"
#include "apps/table.h"
#include "core/atomic_file.h"
#include "core/clock.h"
#include "core/latency_histogram.h"
#include "executor/snapshot_file.h"
#include "fraud/features.h"
#include "fraud/metrics.h"
#include "learner/local_learner.h"
#include "planner/registry.h"
#include "service/protocol.h"
#include "service/service.h"

namespace apprentice {
namespace {

constexpr int64_t kDaySeconds = 86'400;
const Space kFeatures = Space::Box(-INFINITY, INFINITY, {kFraudFeatures});
const Space kDecision = Space::Discrete(2);  // 0 approve, 1 decline

// The teacher's probability of fraud for every payment of [begin, end), in batches: how the
// teacher alone would have scored them (offline: it is too slow to serve).
Result<std::vector<ScoredPayment>> ScoreWithTeacher(const std::string& teacher,
                                                    const FraudDataset& d, size_t begin,
                                                    size_t end) {
  Result<std::unique_ptr<Planner>> planner =
      MakePlanner("torchscript", {{"model", teacher}, {"batch", "1024"}});
  if (!planner.ok()) return planner.status();
  std::vector<ScoredPayment> out;
  out.reserve(end - begin);
  std::vector<PlanRequest> batch;
  for (size_t i = begin; i < end; i += 1024) {
    batch.clear();
    for (size_t j = i; j < std::min(end, i + 1024); ++j) {
      PlanRequest r;
      r.observation = d.features[j];
      batch.push_back(r);
    }
    for (Result<PlanDecision>& decision : (*planner)->PlanBatch(batch)) {
      if (!decision.ok()) return decision.status();
      const std::vector<float> probs = decision->distribution.Probabilities();
      out.push_back({probs.size() == 2 ? probs[1] : 0.0f, decision->action.index() == 1});
    }
  }
  return out;
}

}  // namespace

Status FraudLoopOptions::Validate() const {
  if (data.empty()) return Status::InvalidArgument("give the dataset (--data FILE)");
  if (training != "distill" && training != "truth" && training != "teacher") {
    return Status::InvalidArgument("training must be distill, truth or teacher");
  }
  if (training != "truth" && teacher.empty()) {
    return Status::InvalidArgument("give the teacher (--teacher FILE) or --training truth");
  }
  if (serve_from_day < 0 || test_days < 1) {
    return Status::InvalidArgument("the first served day must be >= 0 and the test days >= 1");
  }
  if (in_flight < 1 || in_flight > 4096) return Status::InvalidArgument("in flight: [1, 4096]");
  if (teacher_threads < 1 || teacher_threads > 64) {
    return Status::InvalidArgument("teacher threads: [1, 64]");
  }
  if (Status s = labels.Validate(); !s.ok()) return s;
  return distiller.Validate();
}

Result<FraudLoopResult> RunFraudLoop(const FraudLoopOptions& o,
                                     const std::function<void(const std::string&)>& progress) {
  if (Status s = o.Validate(); !s.ok()) return s;
  Result<FraudDataset> read = ReadFraudDataset(o.data);
  if (!read.ok()) return read.status();
  const FraudDataset& d = *read;
  const auto first = static_cast<size_t>(
      std::lower_bound(d.transactions.begin(), d.transactions.end(), o.serve_from_day,
                       [](const Transaction& t, int64_t day) { return t.day < day; }) -
      d.transactions.begin());
  const int64_t last_day = d.transactions.empty() ? 0 : d.transactions.back().day;
  const int64_t test_from_day = last_day + 1 - o.test_days;
  if (first >= d.transactions.size() || test_from_day <= o.serve_from_day) {
    return Status::InvalidArgument(
        "the dataset ends on day " + std::to_string(last_day) + ": it must hold days after the "
        "first served day (" + std::to_string(o.serve_from_day) + ") and before the " +
        std::to_string(o.test_days) + " test days");
  }
  const bool teacher = o.training != "truth";
  const bool truth = o.training != "teacher";
  // Feature distillation asks the teacher for its features() (a module without it is refused).
  const std::string features = o.distiller.feature_weight > 0.0 ? "true" : "false";
  if (!teacher && o.distiller.feature_weight > 0.0) {
    return Status::InvalidArgument("--feature-weight needs the teacher (--training distill or "
                                   "teacher)");
  }
  if (teacher) {
    Result<std::unique_ptr<Planner>> probe =
        MakePlanner("torchscript", {{"model", o.teacher}, {"features", features}});
    if (!probe.ok()) return probe.status();
    if (Status s = (*probe)->CanTeachSpaces(kFeatures, kDecision); !s.ok()) return s;
  }

  // The service: executor, teacher (within its budget), distiller.
  LocalLearner::Options lo;
  lo.learning.distiller = o.distiller;
  if (o.training == "teacher") lo.learning.distiller.alpha = 0.0;  // the teacher's labels alone
  lo.learning.min_replay = o.min_replay;
  lo.learning.updates_per_label = o.updates_per_label;
  lo.learning.seed = o.seed;
  lo.env_name = "fraud";
  lo.note = "apprentice fraud run, training " + o.training;
  if (!o.run_dir.empty()) lo.snapshot_path = o.run_dir + "/executor.snap";
  LocalLearner learner(lo, kFeatures, kDecision);
  AgentOptions ao;
  ao.seed = o.seed;
  ao.env_name = "fraud";
  ao.labels = o.labels;
  ao.planner_threads = o.teacher_threads;
  ao.planner_queue = 1 << 16;
  // A week of stream is seconds of replay: decisions wait in memory for their chargebacks.
  ao.outcome_wait_ms = 3'600'000;
  ao.max_pending = 1 << 21;
  ao.inbox = 1 << 16;
  AgentSeams seams;
  seams.learner = &learner;
  if (teacher) {
    const std::string model = o.teacher;
    const double delay = o.teacher_delay_ms;
    seams.planners = [model, delay, features] {
      return MakePlanner("torchscript", {{"model", model}, {"batch", "64"}, {"features", features}},
                         delay);
    };
  }
  Agent agent(ao, kFeatures, kDecision, seams);
  agent.Start();
  DecisionService::Options so;
  so.bind = "tcp://127.0.0.1:*";
  DecisionService service(so, agent);
  try {
    service.Start();
  } catch (const InvalidArgument& e) {
    (void)agent.Stop();
    return Status::Unavailable(e.what());
  }

  // The payment system: one DEALER connection, `in_flight` payments outstanding.
  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::rcvtimeo, 30'000);
  socket.connect(service.endpoint());
  const size_t n = d.transactions.size() - first;
  std::vector<ScoredPayment> decided(n);
  LatencyHistogram round_trip, service_side;
  struct Due {
    int64_t at_s;
    uint64_t id;
    uint8_t fraud;
  };
  std::deque<Due> chargebacks;  // in payment order: due times increase
  std::vector<int64_t> sent_ns(n, 0);
  size_t next = 0, answered = 0;
  int64_t feedback_sent = 0, feedback_errors = 0, feedback_retries = 0;
  std::unordered_map<uint64_t, uint8_t> outstanding_labels;  // chargebacks sent, not yet accepted
  std::vector<uint64_t> retry;                               // refused for now: send again
  int64_t day = -1;
  const Stopwatch clock;
  Status failure;
  auto send = [&](const Json& message) {
    const std::string bytes = JsonToMsgpack(message);
    socket.send(zmq::buffer(bytes), zmq::send_flags::none);
  };
  auto receive = [&]() -> bool {
    zmq::message_t m;
    if (!socket.recv(m)) {
      failure = Status::Unavailable("the service did not answer within 30 s");
      return false;
    }
    Result<Json> reply = MsgpackToJson({static_cast<const uint8_t*>(m.data()), m.size()});
    if (!reply.ok()) {
      failure = Status::Internal("an undecodable reply: " + reply.status().message());
      return false;
    }
    const Json* type = reply->Find("type");
    const Json* req = reply->Find("req");
    if (type != nullptr && type->AsString("") == "feedback") {
      if (const Json* id = reply->Find("id"); id != nullptr) {
        outstanding_labels.erase(static_cast<uint64_t>(id->AsInt()));
      }
      return true;
    }
    if (type == nullptr || type->AsString("") != "act" || req == nullptr) {
      if (type != nullptr && type->AsString("") == "error" && req != nullptr &&
          req->AsString("").rfind("f", 0) == 0) {
        const Json* code = reply->Find("code");
        if (code != nullptr && code->AsString("") == "unavailable") {
          // The service's queues are full: the chargeback is sent again a little later, as a
          // payment system retries.
          const uint64_t id = std::stoull(req->AsString("").substr(1));
          retry.push_back(id);
          ++feedback_retries;
        } else {
          ++feedback_errors;  // refused for good: counted, the stream goes on
        }
        return true;
      }
      failure = Status::Internal("an unexpected reply: " + reply->Dump(-1));
      return false;
    }
    const auto k = static_cast<size_t>(req->AsInt());
    const Transaction& tx = d.transactions[first + k];
    const Json::Array& probs = reply->Find("probs")->AsArray();
    decided[k].score = static_cast<float>(probs[1].AsNumber());
    decided[k].declined = reply->Find("action")->AsInt() == 1;
    round_trip.Record(NowNs() - sent_ns[k]);
    service_side.Record(static_cast<int64_t>(reply->Find("latency_us")->AsNumber() * 1e3));
    if (truth) {
      chargebacks.push_back({tx.time_s + d.delay_days * kDaySeconds,
                             static_cast<uint64_t>(reply->Find("id")->AsInt()), tx.fraud});
    }
    ++answered;
    return true;
  };
  std::vector<Json> weeks;
  size_t week_begin = 0;
  auto close_week = [&](size_t end) {
    if (end <= week_begin) return;
    std::vector<Transaction> t(d.transactions.begin() + static_cast<std::ptrdiff_t>(first + week_begin),
                               d.transactions.begin() + static_cast<std::ptrdiff_t>(first + end));
    std::vector<ScoredPayment> s(decided.begin() + static_cast<std::ptrdiff_t>(week_begin),
                                 decided.begin() + static_cast<std::ptrdiff_t>(end));
    const AgentMetrics m = agent.Metrics();
    Json week = Json{{"first_day", static_cast<int64_t>(t.front().day)},
                     {"payments", static_cast<int64_t>(t.size())},
                     {"average_precision", AveragePrecision(t, s)},
                     {"labels", m.labels},
                     {"ground_truth", m.ground_truth},
                     {"executor_version", m.executor_version}};
    if (progress) {
      progress(Format("fraud run: days %d-%d, %zu payments, executor AP %.3f, %lld teacher "
                      "labels, %lld chargebacks, executor v%lld, %.0f s",
                      t.front().day, t.back().day, t.size(),
                      week.Find("average_precision")->AsNumber(),
                      static_cast<long long>(m.labels), static_cast<long long>(m.ground_truth),
                      static_cast<long long>(m.executor_version), clock.ElapsedSeconds()));
    }
    weeks.push_back(std::move(week));
    week_begin = end;
  };
  while (failure.ok() && answered < n) {
    // Chargebacks due by the next payment's time go first.
    const int64_t now = next < n ? d.transactions[first + next].time_s : INT64_MAX;
    auto send_chargeback = [&](uint64_t id, uint8_t fraud) {
      send(Json{{"v", 1}, {"type", "feedback"}, {"req", "f" + std::to_string(id)},
                {"id", static_cast<int64_t>(id)}, {"label", static_cast<int64_t>(fraud)}});
      return receive();
    };
    if (!retry.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      std::vector<uint64_t> again;
      again.swap(retry);
      for (uint64_t id : again) {
        if (!send_chargeback(id, outstanding_labels.at(id))) break;
      }
    }
    while (!chargebacks.empty() && chargebacks.front().at_s <= now && failure.ok()) {
      const Due c = chargebacks.front();
      chargebacks.pop_front();
      outstanding_labels[c.id] = c.fraud;
      ++feedback_sent;
      if (!send_chargeback(c.id, c.fraud)) break;
    }
    if (next < n && d.transactions[first + next].day != day && next == answered) {
      // A new stream day: the teacher finishes the day before first (its real-time budget).
      day = d.transactions[first + next].day;
      if ((day - o.serve_from_day) % 7 == 0) close_week(next);
      const int64_t wait_until = NowNs() + 120'000'000'000;
      while (agent.Metrics().queue_depth > 0 && NowNs() < wait_until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    const bool can_send = next < n && next - answered < static_cast<size_t>(o.in_flight) &&
                          (d.transactions[first + next].day == day || next == answered);
    if (can_send) {
      const FraudFeatures& f = d.features[first + next];
      Json::Array obs;
      for (float v : f) obs.push_back(Json(static_cast<double>(v)));
      sent_ns[next] = NowNs();
      send(Json{{"v", 1}, {"type", "act"}, {"req", static_cast<int64_t>(next)},
                {"obs", Json(std::move(obs))}});
      ++next;
      continue;
    }
    if (!receive()) break;
  }
  close_week(answered);
  service.Stop();
  const Status stopped = agent.Stop();
  if (!failure.ok()) return failure;
  if (!stopped.ok()) return stopped;

  // The final test window: the executor's live decisions, and the teacher alone, offline.
  const size_t test_begin = static_cast<size_t>(
      std::lower_bound(d.transactions.begin() + static_cast<std::ptrdiff_t>(first),
                       d.transactions.end(), test_from_day,
                       [](const Transaction& t, int64_t v) { return t.day < v; }) -
      d.transactions.begin());
  std::vector<Transaction> test(d.transactions.begin() + static_cast<std::ptrdiff_t>(test_begin),
                                d.transactions.end());
  std::vector<ScoredPayment> executor_scores(
      decided.begin() + static_cast<std::ptrdiff_t>(test_begin - first), decided.end());
  const AgentMetrics m = agent.Metrics();
  Json summary = Json{{"data", o.data},
                      {"training", o.training},
                      {"label_policy", std::string(LabelPolicyName(o.labels.policy))},
                      {"label_fraction", o.labels.fraction},
                      {"served_payments", static_cast<int64_t>(n)},
                      {"test_days", Json::Array{Json(test_from_day), Json(last_day)}},
                      {"executor", FraudMetricsJson(test, executor_scores, o.decline_cost)}};
  if (teacher) {
    Result<std::vector<ScoredPayment>> teacher_scores =
        ScoreWithTeacher(o.teacher, d, test_begin, d.transactions.size());
    if (!teacher_scores.ok()) return teacher_scores.status();
    summary.Set("teacher", FraudMetricsJson(test, *teacher_scores, o.decline_cost));
  }
  const double labelled = static_cast<double>(m.labels) / static_cast<double>(n);
  summary.Set("teacher_labels", m.labels);
  summary.Set("teacher_labelled_share", labelled);
  summary.Set("chargebacks_sent", feedback_sent);
  summary.Set("chargebacks_refused", feedback_errors);
  summary.Set("chargebacks_retried", feedback_retries);
  summary.Set("teacher_requests", m.planner_requests);
  summary.Set("teacher_unselected", m.unselected);
  summary.Set("ground_truth_joined", m.ground_truth);
  summary.Set("executor_version", m.executor_version);
  summary.Set("train_steps", m.train_steps);
  summary.Set("latency_us",
              Json{{"executor_service_p50", service_side.QuantileUs(0.5)},
                   {"executor_service_p99", service_side.QuantileUs(0.99)},
                   {"round_trip_p50", round_trip.QuantileUs(0.5)},
                   {"round_trip_p99", round_trip.QuantileUs(0.99)},
                   {"teacher_p50", m.planner.QuantileUs(0.5)},
                   {"teacher_p99", m.planner.QuantileUs(0.99)}});
  summary.Set("weeks", Json(Json::Array(weeks.begin(), weeks.end())));
  summary.Set("seconds", clock.ElapsedSeconds());
  if (!o.run_dir.empty()) {
    if (Status s = WriteFileAtomically(o.run_dir + "/summary.json", summary.Dump(2) + "\n");
        !s.ok()) {
      return s;
    }
  }
  return FraudLoopResult{std::move(summary)};
}

}  // namespace apprentice
