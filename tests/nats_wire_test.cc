// The NATS messages of plan requests and labels (nats/wire.h): round trips of every field, and
// garbage refused with a message naming what was wrong, never a crash (also under AddressSanitizer
// + UBSan: label "damage"). tests/nats_test.sh runs the transport against a real nats-server.
#include "nats/wire.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/rng.h"
#include "replay/episode_log.h"

namespace apprentice {
namespace {

TEST(NatsWire, RequestsRoundTrip) {
  WireRequest r;
  r.decision_id = 42;
  r.episode = 3;
  r.step = -1;
  r.observation = {0.5f, -1.25f, 3.0f};
  r.seed = 0xfeedfacecafebeefULL;
  r.budget_ms = 20;
  r.executor_action = Action::Discrete(1);
  r.urgent = true;
  r.env = "cartpole max_episode_steps=500";
  r.state = std::string("cartpole\0\x01rest", 15);
  const Result<WireRequest> back = DecodeRequest(EncodeRequest(r));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->decision_id, 42u);
  EXPECT_EQ(back->episode, 3);
  EXPECT_EQ(back->step, -1);
  EXPECT_EQ(back->observation, r.observation);
  EXPECT_EQ(back->seed, r.seed);
  EXPECT_EQ(back->budget_ms, 20);
  EXPECT_EQ(back->executor_action, r.executor_action);
  EXPECT_TRUE(back->urgent);
  EXPECT_EQ(back->env, r.env);
  EXPECT_EQ(back->state, r.state);
  // Without a state, and with a Box action.
  r.state.clear();
  const float a[2] = {0.25f, -2.0f};
  r.executor_action = Action::Continuous(a);
  const Result<WireRequest> box = DecodeRequest(EncodeRequest(r));
  ASSERT_TRUE(box.ok());
  EXPECT_TRUE(box->state.empty());
  EXPECT_EQ(box->executor_action, r.executor_action);
}

TEST(NatsWire, LabelsRoundTrip) {
  Label l;
  l.decision_id = 7;
  l.episode = 1;
  l.step = 2;
  l.observation = {1.0f, 2.0f};
  l.executor_action = Action::Discrete(0);
  const float probs[3] = {0.2f, 0.5f, 0.3f};
  l.decision.distribution = PolicyOutput::FromProbabilities(probs);
  l.decision.action = Action::Discrete(1);
  l.decision.value = 12.5;
  l.decision.latency_ns = 1234;
  l.decision.features = {0.1f};
  std::string worker;
  const Result<Label> back = DecodeLabel(EncodeLabel(l, "w-1"), &worker);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(worker, "w-1");
  EXPECT_TRUE(back->status.ok());
  EXPECT_EQ(back->decision_id, 7u);
  EXPECT_EQ(back->decision.distribution.logits, l.decision.distribution.logits);
  EXPECT_EQ(back->decision.action, l.decision.action);
  EXPECT_EQ(back->decision.value, 12.5);
  EXPECT_EQ(back->decision.latency_ns, 1234);
  EXPECT_EQ(back->decision.features, l.decision.features);
  // A Gaussian.
  const float mean[1] = {0.5f}, log_std[1] = {-1.0f};
  l.decision.distribution = PolicyOutput::Gaussian(mean, log_std);
  l.decision.action = Action::Continuous(mean);
  const Result<Label> g = DecodeLabel(EncodeLabel(l, "w"));
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g->decision.distribution.kind, PolicyKind::kGaussian);
  EXPECT_EQ(g->decision.distribution.mean, l.decision.distribution.mean);
  EXPECT_EQ(g->decision.distribution.log_std, l.decision.distribution.log_std);
  // A failed plan travels as such.
  l.status = Status::DeadlineExceeded("too slow");
  const Result<Label> failed = DecodeLabel(EncodeLabel(l, "w"));
  ASSERT_TRUE(failed.ok());
  EXPECT_FALSE(failed->status.ok());
  EXPECT_EQ(failed->status.message(), "too slow");
}

TEST(NatsWire, GarbageIsRefusedByName) {
  EXPECT_NE(DecodeRequest("\xc1").status().message().find("not MessagePack"), std::string::npos);
  EXPECT_NE(DecodeRequest("\x93\x01\x02\x03").status().message().find("not a map"),
            std::string::npos);
  EXPECT_NE(DecodeLabel("\x81\xa1v\x02").status().message().find("\"v\""), std::string::npos);
  WireRequest r;
  r.observation = {1.0f};
  r.executor_action = Action::Discrete(0);
  std::string body = EncodeRequest(r);
  EXPECT_NE(DecodeRequest(body + "x").status().message().find("bytes after"), std::string::npos);
  // Every truncation and every single-byte change: an error or a value, never a crash.
  for (size_t n = 0; n < body.size(); ++n) (void)DecodeRequest(body.substr(0, n));
  Rng rng(5);
  for (int i = 0; i < 2000; ++i) {
    std::string damaged = body;
    damaged[rng.Below(damaged.size())] = static_cast<char>(rng.Below(256));
    (void)DecodeRequest(damaged);
  }
  Label l;
  const float logits[2] = {0.0f, 1.0f};
  l.decision.distribution = PolicyOutput::FromLogits(logits);
  l.decision.action = Action::Discrete(1);
  const std::string label = EncodeLabel(l, "w");
  for (size_t n = 0; n < label.size(); ++n) (void)DecodeLabel(label.substr(0, n));
  for (int i = 0; i < 2000; ++i) {
    std::string damaged = label;
    damaged[rng.Below(damaged.size())] = static_cast<char>(rng.Below(256));
    (void)DecodeLabel(damaged);
  }
}

// Records travel on the record stream as the episode log's Record FlatBuffer, at any alignment.
TEST(NatsWire, RecordMessagesRoundTripAndDamageIsRefused) {
  DecisionRecord r;
  r.decision_id = 42;
  r.episode = 3;
  r.step = 7;
  r.observation = {0.5f, -1.0f, 2.0f, 0.25f};
  const float logits[2] = {0.0f, 1.0f};
  r.planner = PolicyOutput::FromLogits(logits);
  r.has_label = true;
  r.planner_action = Action::Discrete(1);
  r.executor_action = Action::Discrete(0);
  r.reward = 1.0f;
  const std::vector<uint8_t> bytes = EncodeRecordMessage(r);
  std::vector<uint8_t> shifted(bytes.size() + 1);  // decoding must not need an aligned buffer
  std::copy(bytes.begin(), bytes.end(), shifted.begin() + 1);
  DecisionRecord out;
  ASSERT_TRUE(DecodeRecordMessage({shifted.data() + 1, bytes.size()}, out).ok());
  EXPECT_EQ(out.decision_id, 42u);
  EXPECT_EQ(out.step, 7);
  EXPECT_EQ(out.observation, r.observation);
  EXPECT_TRUE(out.has_label);
  EXPECT_EQ(out.planner_action.index(), 1);
  EXPECT_EQ(DecodeRecordMessage({}, out).code(), StatusCode::kDataLoss);
  for (size_t n = 0; n < bytes.size(); ++n) (void)DecodeRecordMessage({bytes.data(), n}, out);
  Rng rng(6);
  for (int i = 0; i < 2000; ++i) {
    std::vector<uint8_t> damaged = bytes;
    damaged[rng.Below(damaged.size())] = static_cast<uint8_t>(rng.Below(256));
    (void)DecodeRecordMessage(damaged, out);
  }
}

}  // namespace
}  // namespace apprentice
