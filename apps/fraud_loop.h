// The fraud-decision loop end to end (`apprentice fraud run`): a stream of payments replayed
// through the decision service as a payment system would send them.
//
//   dataset (fraud/features.h) ── act per payment ──▶ DecisionService (loopback ZeroMQ)
//        │                                             ├─ the executor approves or declines now
//        │                                             ├─ the teacher labels the budgeted share
//        │                                             └─ the distiller trains, new weights served
//        └── feedback {id, label} `delay_days` of stream time after each payment (chargebacks)
//
// The stream runs as fast as the service answers; at each new stream day the driver waits for
// the teacher to finish the requests of the day before, so that the teacher labels what it would
// have labelled in real time. At the end: the executor's live decisions and the teacher's
// offline scores on the final test window, scored with fraud/metrics.h, and a per-week trace.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "agent/label_selection.h"
#include "core/json.h"
#include "core/status.h"
#include "distiller/distiller.h"

namespace apprentice {

struct FraudLoopOptions {
  std::string data;     // a dataset file (apprentice fraud generate)
  std::string teacher;  // a TorchScript teacher: 15 features in, 2 logits out
  // What trains the executor: "distill" (the teacher's soft targets and hard labels, replaced by
  // the ground truth when it comes), "truth" (the delayed ground truth alone, no teacher),
  // "teacher" (the teacher's labels alone, no ground truth).
  std::string training = "distill";
  int64_t serve_from_day = 35;  // the stream is replayed from this day (the teacher knows before)
  int64_t test_days = 14;       // the final window the measures are taken on
  LabelSelection labels{LabelPolicy::kUncertainty, 0.05};
  double teacher_delay_ms = 0.0;  // every teacher decision takes at least this long
  int64_t teacher_threads = 1;
  int64_t in_flight = 16;       // act requests in flight
  double decline_cost = 5.0;    // the cost of declining a genuine payment
  Distiller::Options distiller; // the executor's network and training
  int64_t min_replay = 256;
  double updates_per_label = 4.0;
  uint64_t seed = 1;
  std::string run_dir;          // summary.json and the executor; empty: nothing written
  Status Validate() const;
};

struct FraudLoopResult {
  Json summary;  // everything measured (docs/fraud.md lists the keys)
};

// Runs the loop; `progress` gets a line per stream week. InvalidArgument for options, a dataset
// or a teacher that do not fit (with what is wrong); Unavailable when the service cannot start.
Result<FraudLoopResult> RunFraudLoop(const FraudLoopOptions& options,
                                     const std::function<void(const std::string&)>& progress);

}  // namespace apprentice
