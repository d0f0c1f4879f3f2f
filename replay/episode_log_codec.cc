// The one translation unit that includes the generated FlatBuffers header (see
// episode_log_codec.h).
#include "replay/episode_log_codec.h"

#include <cstring>
#include <string>

#include "replay/episode_log_generated.h"

namespace apprentice {
namespace episode_log_internal {
namespace {

namespace fb = ::apprentice::log;

static_assert(static_cast<uint32_t>(fb::FormatVersion::Current) == kEpisodeLogFormatVersion,
              "episode_log.fbs FormatVersion.Current and kEpisodeLogFormatVersion must agree");
static_assert(static_cast<int>(fb::Actor::Executor) == static_cast<int>(Actor::kExecutor) &&
              static_cast<int>(fb::Actor::Planner) == static_cast<int>(Actor::kPlanner));
static_assert(static_cast<int>(fb::PolicyKind::Categorical) ==
                  static_cast<int>(PolicyKind::kCategorical) &&
              static_cast<int>(fb::PolicyKind::Gaussian) ==
                  static_cast<int>(PolicyKind::kGaussian));

// FlatBuffers' default bounds (depth 64, a million tables), with alignment checked: the frame
// length already bounds the work, and tighter limits would refuse records from a newer writer
// that adds nested tables compatibly.
flatbuffers::Verifier::Options VerifierOptions() {
  flatbuffers::Verifier::Options options;
  options.check_alignment = true;
  return options;
}

// An empty vector is written as an absent field.
flatbuffers::Offset<flatbuffers::Vector<float>> FloatsOrNone(flatbuffers::FlatBufferBuilder& fbb,
                                                             std::span<const float> values) {
  if (values.empty()) return 0;
  return fbb.CreateVector(values.data(), values.size());
}

flatbuffers::Offset<fb::Action> EncodeAction(flatbuffers::FlatBufferBuilder& fbb,
                                             const Action& action) {
  if (action == Action()) return 0;  // Discrete(0): absent reads back as the default
  if (action.is_discrete()) {
    fb::ActionBuilder b(fbb);
    b.add_index(action.index());
    return b.Finish();
  }
  const auto values = FloatsOrNone(fbb, action.values());
  fb::ActionBuilder b(fbb);
  b.add_kind(fb::ActionKind::Continuous);
  b.add_values(values);
  return b.Finish();
}

flatbuffers::Offset<fb::Policy> EncodePolicy(flatbuffers::FlatBufferBuilder& fbb,
                                             const PolicyOutput& policy) {
  if (policy.kind == PolicyKind::kCategorical && policy.logits.empty() && policy.mean.empty() &&
      policy.log_std.empty()) {
    return 0;  // no label yet: absent reads back as the default
  }
  const auto logits = FloatsOrNone(fbb, policy.logits);
  const auto mean = FloatsOrNone(fbb, policy.mean);
  const auto log_std = FloatsOrNone(fbb, policy.log_std);
  fb::PolicyBuilder b(fbb);
  b.add_kind(static_cast<fb::PolicyKind>(policy.kind));
  b.add_logits(logits);
  b.add_mean(mean);
  b.add_log_std(log_std);
  return b.Finish();
}

void CopyFloats(const flatbuffers::Vector<float>* from, std::vector<float>& to) {
  if (from == nullptr) {
    to.clear();
    return;
  }
  to.assign(from->begin(), from->end());
}

Status DecodeAction(const fb::Action* from, const char* field, Action& to) {
  if (from == nullptr) {
    to = Action();
    return Status::Ok();
  }
  switch (from->kind()) {
    case fb::ActionKind::Discrete:
      to = Action::Discrete(from->index());
      return Status::Ok();
    case fb::ActionKind::Continuous: {
      const auto* values = from->values();
      const size_t n = values == nullptr ? 0 : values->size();
      if (n > static_cast<size_t>(kMaxActionDims)) {
        return Status::DataLoss(std::string(field) + " has " + std::to_string(n) +
                                " components; at most " + std::to_string(kMaxActionDims) +
                                " are supported");
      }
      float buffer[kMaxActionDims];
      for (size_t i = 0; i < n; ++i) {
        buffer[i] = values->Get(static_cast<flatbuffers::uoffset_t>(i));
      }
      to = Action::Continuous(std::span<const float>(buffer, n));
      return Status::Ok();
    }
  }
  return Status::DataLoss(std::string(field) + " has unknown action kind " +
                          std::to_string(static_cast<int>(from->kind())));
}

// An absent policy reads as an empty categorical one.
Status DecodePolicy(const fb::Policy* from, const char* field, PolicyOutput& to) {
  const fb::PolicyKind kind = from == nullptr ? fb::PolicyKind::Categorical : from->kind();
  if (kind != fb::PolicyKind::Categorical && kind != fb::PolicyKind::Gaussian) {
    return Status::DataLoss(std::string(field) + " has unknown policy kind " +
                            std::to_string(static_cast<int>(kind)));
  }
  to.kind = static_cast<PolicyKind>(kind);
  CopyFloats(from == nullptr ? nullptr : from->logits(), to.logits);
  CopyFloats(from == nullptr ? nullptr : from->mean(), to.mean);
  CopyFloats(from == nullptr ? nullptr : from->log_std(), to.log_std);
  return Status::Ok();
}

}  // namespace

struct RecordEncoder::Impl {
  flatbuffers::FlatBufferBuilder fbb{/*initial_size=*/1024};
};

RecordEncoder::RecordEncoder() : impl_(std::make_unique<Impl>()) {}
RecordEncoder::~RecordEncoder() = default;

std::span<const uint8_t> RecordEncoder::Encode(const DecisionRecord& r) {
  flatbuffers::FlatBufferBuilder& fbb = impl_->fbb;
  fbb.Clear();
  const auto observation = FloatsOrNone(fbb, r.observation);
  const auto planner = EncodePolicy(fbb, r.planner);
  const auto planner_action = EncodeAction(fbb, r.planner_action);
  const auto executor_action = EncodeAction(fbb, r.executor_action);
  const auto executor = EncodePolicy(fbb, r.executor);
  flatbuffers::Offset<fb::Action> truth;
  if (r.has_truth) truth = EncodeAction(fbb, r.truth);
  flatbuffers::Offset<flatbuffers::Vector<uint8_t>> legal;
  if (!r.legal.empty()) legal = fbb.CreateVector(r.legal.data(), r.legal.size());
  fb::RecordBuilder b(fbb);
  b.add_episode(r.episode);
  b.add_step(r.step);
  b.add_observation(observation);
  b.add_has_label(r.has_label);
  b.add_planner(planner);
  b.add_planner_action(planner_action);
  b.add_planner_value(r.planner_value);
  b.add_planner_latency_ns(r.planner_latency_ns);
  b.add_executor_action(executor_action);
  b.add_executor_version(r.executor_version);
  b.add_executor_latency_ns(r.executor_latency_ns);
  b.add_acted_by(static_cast<fb::Actor>(r.acted_by));
  b.add_reward(r.reward);
  b.add_terminated(r.terminated);
  b.add_truncated(r.truncated);
  b.add_decision_id(r.decision_id);
  b.add_executor(executor);
  b.add_has_truth(r.has_truth);
  if (r.has_truth) b.add_truth(truth);
  if (!r.legal.empty()) b.add_legal(legal);
  b.add_behaviour(static_cast<fb::Behaviour>(r.behaviour));
  b.add_behaviour_log_prob(r.behaviour_log_prob);
  fbb.Finish(b.Finish(), kRecordIdentifier);
  return {fbb.GetBufferPointer(), fbb.GetSize()};
}

bool HasRecordIdentifier(std::span<const uint8_t> bytes) {
  return bytes.size() >= static_cast<size_t>(kMinRecordBytes) &&
         std::memcmp(bytes.data() + sizeof(flatbuffers::uoffset_t), kRecordIdentifier, 4) == 0;
}

Status DecodeRecord(std::span<const uint8_t> bytes, DecisionRecord& out) {
  if (!HasRecordIdentifier(bytes)) {
    return Status::DataLoss("not a Record buffer (file identifier is not \"ALOG\")");
  }
  flatbuffers::Verifier verifier(bytes.data(), bytes.size(), VerifierOptions());
  if (!fb::VerifyRecordBuffer(verifier)) {
    return Status::DataLoss("Record buffer fails FlatBuffers verification");
  }
  const fb::Record* r = fb::GetRecord(bytes.data());

  const fb::Actor acted_by = r->acted_by();
  if (acted_by != fb::Actor::Executor && acted_by != fb::Actor::Planner) {
    return Status::DataLoss("unknown actor " + std::to_string(static_cast<int>(acted_by)));
  }
  const fb::Behaviour behaviour = r->behaviour();
  if (behaviour != fb::Behaviour::Unknown && behaviour != fb::Behaviour::Deterministic &&
      behaviour != fb::Behaviour::Stochastic) {
    return Status::DataLoss("unknown behaviour kind " +
                            std::to_string(static_cast<int>(behaviour)));
  }
  if (Status s = DecodePolicy(r->planner(), "planner", out.planner); !s.ok()) return s;
  if (Status s = DecodePolicy(r->executor(), "executor", out.executor); !s.ok()) return s;
  if (Status s = DecodeAction(r->planner_action(), "planner_action", out.planner_action); !s.ok()) {
    return s;
  }
  if (Status s = DecodeAction(r->executor_action(), "executor_action", out.executor_action);
      !s.ok()) {
    return s;
  }

  out.episode = r->episode();
  out.step = r->step();
  CopyFloats(r->observation(), out.observation);
  out.has_label = r->has_label();
  out.planner_value = r->planner_value();
  out.planner_latency_ns = r->planner_latency_ns();
  out.executor_version = r->executor_version();
  out.executor_latency_ns = r->executor_latency_ns();
  out.acted_by = static_cast<Actor>(acted_by);
  out.behaviour = static_cast<Behaviour>(behaviour);
  out.behaviour_log_prob = r->behaviour_log_prob();
  out.reward = r->reward();
  out.terminated = r->terminated();
  out.truncated = r->truncated();
  out.decision_id = r->decision_id();
  if (r->legal() != nullptr) {
    out.legal.assign(r->legal()->begin(), r->legal()->end());
  } else {
    out.legal.clear();
  }
  out.has_truth = r->has_truth();
  out.truth = Action();  // an absent table is the default action, Discrete(0)
  if (out.has_truth) {
    if (Status s = DecodeAction(r->truth(), "truth", out.truth); !s.ok()) return s;
  }
  return Status::Ok();
}

std::vector<uint8_t> EncodeMetadata(const EpisodeLogMetadata& metadata) {
  flatbuffers::FlatBufferBuilder fbb(/*initial_size=*/256);
  const auto env = fbb.CreateString(metadata.env);
  const auto observation_space = fbb.CreateString(metadata.observation_space);
  const auto action_space = fbb.CreateString(metadata.action_space);
  const auto run = fbb.CreateString(metadata.run);
  fb::SegmentMetadataBuilder b(fbb);
  b.add_env(env);
  b.add_observation_space(observation_space);
  b.add_action_space(action_space);
  b.add_run(run);
  b.add_record_revision(metadata.record_revision);
  fbb.Finish(b.Finish(), kMetadataIdentifier);
  return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
}

Status DecodeMetadata(std::span<const uint8_t> bytes, EpisodeLogMetadata& out) {
  if (bytes.size() < static_cast<size_t>(kMinRecordBytes) ||
      !flatbuffers::BufferHasIdentifier(bytes.data(), kMetadataIdentifier)) {
    return Status::DataLoss("not a SegmentMetadata buffer (file identifier is not \"ALMD\")");
  }
  flatbuffers::Verifier verifier(bytes.data(), bytes.size(), VerifierOptions());
  if (!verifier.VerifyBuffer<fb::SegmentMetadata>(kMetadataIdentifier)) {
    return Status::DataLoss("SegmentMetadata buffer fails FlatBuffers verification");
  }
  const auto* m = flatbuffers::GetRoot<fb::SegmentMetadata>(bytes.data());
  auto str = [](const flatbuffers::String* s) { return s == nullptr ? std::string() : s->str(); };
  out.env = str(m->env());
  out.observation_space = str(m->observation_space());
  out.action_space = str(m->action_space());
  out.run = str(m->run());
  out.record_revision = m->record_revision() == 0 ? 1 : m->record_revision();
  return Status::Ok();
}

}  // namespace episode_log_internal
}  // namespace apprentice
