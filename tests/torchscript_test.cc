// The TorchScript teacher on real modules made by PyTorch (tests/make_torchscript_teacher.py, run
// by CTest before this test; APPRENTICE_TORCHSCRIPT_DIR names where the files are): outputs equal
// to what PyTorch computed, batches equal to one by one, Gaussian modules, models that do not fit
// refused at start, and batched planning through the planner pool.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "agent/plan_queue.h"
#include "agent/planner_pool.h"
#include "agent/records.h"
#include "planner/registry.h"
#include "planner/torchscript/torchscript_planner.h"
#include "tests/temp_files.h"
#include "tests/wait_until.h"

namespace apprentice {
namespace {

const Space kObs6 = Space::Box(-1.0f, 1.0f, {6});

std::string Model(const std::string& name) {
  const char* dir = std::getenv("APPRENTICE_TORCHSCRIPT_DIR");
  if (dir == nullptr) {
    ADD_FAILURE() << "APPRENTICE_TORCHSCRIPT_DIR is not set (CTest sets it; run "
                     "tests/make_torchscript_teacher.py DIR and set it to DIR)";
    return name;
  }
  return std::string(dir) + "/" + name;
}

TorchScriptPlanner Make(const std::string& name, const std::string& output = "auto") {
  TorchScriptPlanner::Options o;
  o.model = Model(name);
  o.output = output;
  return TorchScriptPlanner(o);
}

// reference.txt: per line 6 inputs, then the 2 logits PyTorch computed for them with rule.pt.
std::vector<std::vector<float>> Reference() {
  std::ifstream in(Model("reference.txt"));
  std::vector<std::vector<float>> rows;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::vector<float> row;
    float v;
    while (fields >> v) row.push_back(v);
    EXPECT_EQ(row.size(), 8u) << line;
    rows.push_back(row);
  }
  EXPECT_EQ(rows.size(), 16u);
  return rows;
}

TEST(TorchScriptPlanner, ScriptedAndTracedModulesComputeWhatPyTorchComputed) {
  const auto reference = Reference();
  for (const char* file : {"rule.pt", "rule_traced.pt"}) {
    SCOPED_TRACE(file);
    TorchScriptPlanner planner = Make(file);
    EXPECT_EQ(planner.output(), "logits");
    EXPECT_FALSE(planner.needs_env());
    ASSERT_TRUE(planner.CanTeachSpaces(kObs6, Space::Discrete(2)).ok());
    for (const auto& row : reference) {
      PlanRequest request;
      request.observation = std::span<const float>(row.data(), 6);
      Result<PlanDecision> d = planner.Plan(request);
      ASSERT_TRUE(d.ok()) << d.status().message();
      ASSERT_EQ(d->distribution.logits.size(), 2u);
      EXPECT_NEAR(d->distribution.logits[0], row[6], 1e-5);
      EXPECT_NEAR(d->distribution.logits[1], row[7], 1e-5);
      EXPECT_EQ(d->action.index(), row[7] > row[6] ? 1 : 0);
    }
  }
}

TEST(TorchScriptPlanner, ABatchAnswersWhatOneByOneAnswers) {
  const auto reference = Reference();
  TorchScriptPlanner planner = Make("rule.pt");
  std::vector<PlanRequest> requests(reference.size());
  for (size_t i = 0; i < reference.size(); ++i) {
    requests[i].observation = std::span<const float>(reference[i].data(), 6);
  }
  const std::vector<Result<PlanDecision>> batch = planner.PlanBatch(requests);
  ASSERT_EQ(batch.size(), requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(batch[i].ok());
    const Result<PlanDecision> one = planner.Plan(requests[i]);
    ASSERT_TRUE(one.ok());
    EXPECT_EQ(batch[i]->action, one->action);
    for (size_t k = 0; k < 2; ++k) {
      EXPECT_NEAR(batch[i]->distribution.logits[k], one->distribution.logits[k], 1e-6);
    }
  }
  // Observations of different sizes in one batch: every request gets the error, nothing throws.
  const float short_obs[3] = {0, 0, 0};
  requests[1].observation = short_obs;
  for (const auto& r : planner.PlanBatch(requests)) EXPECT_FALSE(r.ok());
}

TEST(TorchScriptPlanner, AGaussianModuleDeclaresItsOutputAndTeachesABox) {
  TorchScriptPlanner planner = Make("gaussian.pt");
  EXPECT_EQ(planner.output(), "gaussian");
  const Space box = Space::Box(-5.0f, 5.0f, {2});
  ASSERT_TRUE(planner.CanTeachSpaces(kObs6, box).ok());
  EXPECT_FALSE(planner.CanTeachSpaces(kObs6, Space::Discrete(2)).ok());
  const float obs[6] = {0.5f, -0.25f, 0.8f, 0, 0, 0};
  PlanRequest request;
  request.observation = obs;
  Result<PlanDecision> d = planner.Plan(request);
  ASSERT_TRUE(d.ok()) << d.status().message();
  ASSERT_EQ(d->distribution.mean.size(), 2u);
  EXPECT_NEAR(d->distribution.mean[0], 0.75f, 1e-6);
  EXPECT_NEAR(d->distribution.mean[1], 0.4f, 1e-6);
  EXPECT_NEAR(d->distribution.log_std[0], -1.0f, 1e-6);
  EXPECT_NEAR(d->action.values()[0], 0.75f, 1e-6);
  // The option overrides the module's declaration; a module declaring something else is refused.
  EXPECT_EQ(Make("gaussian.pt", "logits").output(), "logits");
}

TEST(TorchScriptPlanner, WithFeaturesEachDecisionCarriesTheModulesHiddenLayer) {
  TorchScriptPlanner::Options o;
  o.model = Model("featured.pt");
  o.features = true;
  TorchScriptPlanner planner(o);
  const float a[6] = {0.5f, -0.25f, 0.8f, 0, 0, 0}, b[6] = {1.0f, 2.0f, -3.0f, 0, 0, 0};
  std::vector<PlanRequest> requests(2);
  requests[0].observation = a;
  requests[1].observation = b;
  const auto decisions = planner.PlanBatch(requests);
  ASSERT_TRUE(decisions[0].ok() && decisions[1].ok());
  EXPECT_EQ(decisions[0]->features, (std::vector<float>{1.0f, -0.5f, 1.6f}));
  EXPECT_EQ(decisions[1]->features, (std::vector<float>{2.0f, 4.0f, -6.0f}));
  // And into the record the replay keeps.
  DecisionRecord record;
  PlanDecision copy = *decisions[0];
  ApplyPlanDecision(std::move(copy), record);
  EXPECT_EQ(record.teacher_features, (std::vector<float>{1.0f, -0.5f, 1.6f}));
  // Without the option, no features; a module without features() is refused when asked.
  EXPECT_TRUE(Make("featured.pt").Plan(requests[0])->features.empty());
  o.model = Model("rule.pt");
  try {
    TorchScriptPlanner refused(o);
    ADD_FAILURE() << "a module without features() was taken";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("has no features() method"), std::string::npos)
        << e.what();
  }
}

TEST(TorchScriptPlanner, ModelsThatDoNotFitAreRefusedAtStartWithTheSizes) {
  const Status wide = Make("wide.pt").CanTeachSpaces(kObs6, Space::Discrete(2));
  ASSERT_FALSE(wide.ok());
  EXPECT_NE(wide.message().find("observations of 6 values"), std::string::npos) << wide.message();
  EXPECT_NE(wide.message().find("RuntimeError: mat1 and mat2 shapes"), std::string::npos)
      << wide.message();
  const Status three = Make("three.pt").CanTeachSpaces(kObs6, Space::Discrete(2));
  ASSERT_FALSE(three.ok());
  EXPECT_NE(three.message().find("[2, 3]"), std::string::npos) << three.message();
  EXPECT_NE(three.message().find("needs [2, 2]"), std::string::npos) << three.message();
  const Status box = Make("rule.pt").CanTeachSpaces(kObs6, Space::Box(-1.0f, 1.0f, {2}));
  ASSERT_FALSE(box.ok());
  EXPECT_NE(box.message().find("Discrete"), std::string::npos) << box.message();
}

TEST(TorchScriptPlanner, MissingOrDamagedFilesAreRefusedWithTheReason) {
  TempDir dir;
  TorchScriptPlanner::Options o;
  EXPECT_THROW(TorchScriptPlanner{o}, InvalidArgument);  // no model given
  o.model = dir.str() + "/missing.pt";
  try {
    TorchScriptPlanner planner(o);
    ADD_FAILURE() << "a missing file loaded";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("cannot load"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("missing.pt"), std::string::npos) << e.what();
  }
  // The first half of a real module: a damaged archive.
  std::ifstream in(Model("rule.pt"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 100u);
  o.model = dir.str() + "/half.pt";
  std::ofstream(o.model, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  EXPECT_THROW(TorchScriptPlanner{o}, InvalidArgument);
  o.model = dir.str() + "/text.pt";
  std::ofstream(o.model) << "not a TorchScript archive\n";
  EXPECT_THROW(TorchScriptPlanner{o}, InvalidArgument);
}

TEST(TorchScriptPlanner, IsRegisteredAndMadeFromOptions) {
  Result<std::unique_ptr<Planner>> made =
      MakePlanner("torchscript", {{"model", Model("rule.pt")}, {"batch", "8"}});
  ASSERT_TRUE(made.ok()) << made.status().message();
  EXPECT_EQ((*made)->name(), "torchscript");
  EXPECT_EQ((*made)->max_batch(), 8);
  EXPECT_FALSE(MakePlanner("torchscript", {{"model", Model("rule.pt")}, {"output", "nope"}}).ok());
  EXPECT_FALSE(MakePlanner("torchscript", {{"model", Model("rule.pt")}, {"batch", "0"}}).ok());
}

// Forwards to a TorchScriptPlanner and records the largest batch it was handed.
class BatchCounter final : public Planner {
 public:
  BatchCounter(std::unique_ptr<Planner> inner, std::atomic<size_t>* largest)
      : inner_(std::move(inner)), largest_(largest) {}
  std::string name() const override { return inner_->name(); }
  bool needs_env() const override { return false; }
  Status Supports(const Space& a) const override { return inner_->Supports(a); }
  int64_t max_batch() const override { return inner_->max_batch(); }
  Result<PlanDecision> Plan(const PlanRequest& r) override { return inner_->Plan(r); }
  std::vector<Result<PlanDecision>> PlanBatch(std::span<const PlanRequest> r) override {
    size_t seen = largest_->load();
    while (r.size() > seen && !largest_->compare_exchange_weak(seen, r.size())) {
    }
    return inner_->PlanBatch(r);
  }

 private:
  std::unique_ptr<Planner> inner_;
  std::atomic<size_t>* largest_;
};

class Labels final : public LabelSink {
 public:
  void OnLabel(Label label) override {
    std::lock_guard lock(mu);
    labels.push_back(std::move(label));
  }
  size_t size() {
    std::lock_guard lock(mu);
    return labels.size();
  }
  std::mutex mu;
  std::vector<Label> labels;
};

// Requests waiting in the queue are planned together, up to the planner's batch size, and every
// one gets its own answer.
TEST(TorchScriptPlanner, ThePlannerPoolHandsItTheWaitingRequestsInBatches) {
  const auto reference = Reference();
  auto queue = std::make_shared<LocalPlanQueue>(256, Overflow::kDropOldest, 6, nullptr);
  constexpr int kRequests = 160;
  for (int i = 0; i < kRequests; ++i) {
    PlanRequestView v;
    v.decision_id = static_cast<uint64_t>(i + 1);
    v.observation = std::span<const float>(reference[static_cast<size_t>(i) % 16].data(), 6);
    ASSERT_TRUE(queue->Push(v).queued);
  }
  std::atomic<size_t> largest{0};
  PlannerPool pool({}, queue, [&]() -> Result<std::unique_ptr<Planner>> {
    Result<std::unique_ptr<Planner>> inner =
        MakePlanner("torchscript", {{"model", Model("rule.pt")}, {"batch", "32"}});
    if (!inner.ok()) return inner.status();
    return std::unique_ptr<Planner>(std::make_unique<BatchCounter>(std::move(*inner), &largest));
  }, 6, nullptr);
  Labels sink;
  pool.Start(&sink);
  ASSERT_TRUE(WaitUntil([&] { return sink.size() == kRequests; }));
  pool.Stop();
  EXPECT_EQ(largest.load(), 32u);
  EXPECT_EQ(pool.errors(), 0);
  for (const Label& label : sink.labels) {
    ASSERT_TRUE(label.status.ok()) << label.status.message();
    const auto& row = reference[(label.decision_id - 1) % 16];
    EXPECT_EQ(label.decision.action.index(), row[7] > row[6] ? 1 : 0);
    EXPECT_NEAR(label.decision.distribution.logits[1], row[7], 1e-5);
  }
}

}  // namespace
}  // namespace apprentice
