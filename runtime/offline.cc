#include "runtime/offline.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>
#include <optional>
#include <unordered_map>
#include <utility>

#include "core/agreement.h"
#include "core/clock.h"
#include "core/policy.h"
#include "core/rng.h"
#include "core/seeds.h"
#include "env/registry.h"
#include "runtime/evaluation.h"
#include "runtime/run_store.h"

namespace apprentice {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Training records the progress callback scores the current weights on.
constexpr size_t kProgressSample = 2000;

std::string Where(const DecisionRecord& r) {
  return "episode " + std::to_string(r.episode) + ", step " + std::to_string(r.step);
}

bool AllFinite(std::span<const float> v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

std::string HeadText(HeadKind head, int64_t actions) {
  return head == HeadKind::kCategorical
             ? "a categorical head over " + std::to_string(actions) + " actions"
             : "a Gaussian head with " + std::to_string(actions) + " components";
}

std::string LabelText(const PolicyOutput& p) {
  return p.kind == PolicyKind::kCategorical
             ? "categorical with " + std::to_string(p.logits.size()) + " logits"
             : "Gaussian with " + std::to_string(p.mean.size()) + " components";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Inspect
// ---------------------------------------------------------------------------------------------

double LogInspection::min_complete_return() const {
  double v = kNaN;
  for (const auto& e : summary.episodes) {
    if (e.complete && !(v <= e.return_sum)) v = e.return_sum;
  }
  return v;
}

double LogInspection::max_complete_return() const {
  double v = kNaN;
  for (const auto& e : summary.episodes) {
    if (e.complete && !(v >= e.return_sum)) v = e.return_sum;
  }
  return v;
}

Json LogInspection::ToJson() const {
  Json::Array segments;
  for (const EpisodeLogSegment& s : summary.segments) segments.push_back(SegmentJson(s));
  Json::Array episodes;
  for (size_t i = 0; i < summary.episodes.size(); ++i) {
    const EpisodeLogSummary::Episode& e = summary.episodes[i];
    episodes.push_back(Json{{"id", e.id},
                            {"steps", e.steps},
                            {"labelled", episode_labelled[i]},
                            {"return", e.return_sum},
                            {"complete", e.complete}});
  }
  const int64_t complete = summary.complete_episodes();
  const auto n_episodes = static_cast<int64_t>(summary.episodes.size());
  return Json{{"path", path},
              {"records", summary.records},
              {"labelled", summary.labelled},
              {"acted_by_executor", summary.acted_by_executor},
              {"acted_by_planner", summary.acted_by_planner},
              {"behaviour_stochastic", summary.behaviour_stochastic},
              {"behaviour_deterministic", summary.behaviour_deterministic},
              {"executor_version_min", has_executor_versions ? Json(executor_version_min) : Json()},
              {"executor_version_max", has_executor_versions ? Json(executor_version_max) : Json()},
              {"episodes", n_episodes},
              {"complete_episodes", complete},
              {"incomplete_episodes", n_episodes - complete},
              {"mean_complete_return", complete > 0 ? summary.mean_complete_return() : kNaN},
              {"min_complete_return", min_complete_return()},
              {"max_complete_return", max_complete_return()},
              {"segments", std::move(segments)},
              {"episode_list", std::move(episodes)},
              {"damage", DamageJson(summary.damage)}};
}

Result<LogInspection> InspectEpisodeLog(const std::string& path) {
  const std::string logs = ResolveLogPath(path);
  Result<EpisodeLogReader> reader = EpisodeLogReader::Open(logs);
  if (!reader.ok()) return reader.status();
  LogInspection out;
  out.path = logs;
  EpisodeLogSummary& summary = out.summary;
  std::unordered_map<int64_t, size_t> episode_index;
  DecisionRecord r;
  for (;;) {
    Result<bool> more = reader->Next(r);
    if (!more.ok()) return more.status();
    if (!*more) break;
    ++summary.records;
    if (r.has_label) ++summary.labelled;
    ++(r.acted_by == Actor::kPlanner ? summary.acted_by_planner : summary.acted_by_executor);
    if (r.behaviour == Behaviour::kStochastic) ++summary.behaviour_stochastic;
    if (r.behaviour == Behaviour::kDeterministic) ++summary.behaviour_deterministic;
    if (!out.has_executor_versions) {
      out.executor_version_min = out.executor_version_max = r.executor_version;
      out.has_executor_versions = true;
    }
    out.executor_version_min = std::min(out.executor_version_min, r.executor_version);
    out.executor_version_max = std::max(out.executor_version_max, r.executor_version);
    const auto [it, inserted] = episode_index.try_emplace(r.episode, summary.episodes.size());
    if (inserted) {
      summary.episodes.push_back({r.episode, 0, 0.0, false});
      out.episode_labelled.push_back(0);
    }
    EpisodeLogSummary::Episode& episode = summary.episodes[it->second];
    ++episode.steps;
    episode.return_sum += r.reward;
    if (r.terminated || r.truncated) episode.complete = true;
    if (r.has_label) ++out.episode_labelled[it->second];
  }
  summary.segments = reader->segments();
  summary.damage = reader->damage();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Scoring
// ---------------------------------------------------------------------------------------------

double PolicyScore::agreement() const {
  if (decisions == 0) return kNaN;
  return static_cast<double>(agreed) / static_cast<double>(decisions);
}

double PolicyScore::mean_kl() const {
  return decisions == 0 ? kNaN : kl_sum / static_cast<double>(decisions);
}

double PolicyScore::action_rmse() const {
  if (head != HeadKind::kGaussian || components == 0) return kNaN;
  return std::sqrt(squared_error / static_cast<double>(components));
}

void PolicyScore::Add(const PolicyScore& other) {
  decisions += other.decisions;
  agreed += other.agreed;
  kl_sum += other.kl_sum;
  squared_error += other.squared_error;
  components += other.components;
}

Space HeadActionSpace(const MlpSpec& spec) {
  return spec.head == HeadKind::kCategorical ? Space::Discrete(spec.actions)
                                             : Space::Box(-kInf, kInf, {spec.actions});
}

namespace {

// `space` when it is of the head's kind and size, else the head's own unbounded space.
Space ScorerSpace(const MlpSpec& spec, const Space* space) {
  if (space != nullptr) {
    const bool fits = spec.head == HeadKind::kCategorical
                          ? space->is_discrete() && space->n() == spec.actions
                          : !space->is_discrete() && space->flat_size() == spec.actions;
    if (fits) return *space;
  }
  return HeadActionSpace(spec);
}

// The action space a log's first intact header names, if it parses.
std::optional<Space> HeaderActionSpace(const std::vector<EpisodeLogSegment>& segments) {
  for (const EpisodeLogSegment& s : segments) {
    if (!s.header_ok) continue;
    Result<Space> space = Space::Parse(s.metadata.action_space);
    if (space.ok()) return *space;
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

Space LogActionSpace(const std::vector<EpisodeLogSegment>& segments, const MlpSpec& spec) {
  const std::optional<Space> space = HeaderActionSpace(segments);
  return ScorerSpace(spec, space ? &*space : nullptr);
}

PolicyScorer::PolicyScorer(std::shared_ptr<const Snapshot> snapshot, const Space* action_space)
    : action_space_(ScorerSpace(snapshot->spec(), action_space)),
      slot_(std::move(snapshot)),
      executor_(slot_, action_space_) {}

Status PolicyScorer::CheckFits(const DecisionRecord& r) const {
  if (!r.has_label) return Status::Ok();
  const MlpSpec& s = spec();
  if (static_cast<int64_t>(r.observation.size()) != s.input) {
    return Status::InvalidArgument("the policy takes observations of " + std::to_string(s.input) +
                                   " floats, but the log's " + "have " +
                                   std::to_string(r.observation.size()) + " (" + Where(r) + ")");
  }
  const bool categorical = s.head == HeadKind::kCategorical;
  const PolicyOutput& p = r.planner;
  const bool kind_fits =
      categorical ? p.kind == PolicyKind::kCategorical : p.kind == PolicyKind::kGaussian;
  const size_t size = categorical ? p.logits.size() : p.mean.size();
  if (!kind_fits || static_cast<int64_t>(size) != s.actions ||
      (!categorical && p.log_std.size() != p.mean.size())) {
    return Status::InvalidArgument("the policy has " + HeadText(s.head, s.actions) +
                                   ", but the log's planner labels are " + LabelText(p) + " (" +
                                   Where(r) + ")");
  }
  if (Status fits = action_space_.Check(r.planner_action); !fits.ok()) {
    return Status::InvalidArgument("the logged planner action does not fit the policy: " +
                                   fits.message() + " (" + Where(r) + ")");
  }
  if (!r.legal.empty() &&
      (!categorical || static_cast<int64_t>(r.legal.size()) != s.actions ||
       std::none_of(r.legal.begin(), r.legal.end(), [](uint8_t b) { return b != 0; }))) {
    return Status::InvalidArgument("the logged legal-move mask (" +
                                   std::to_string(r.legal.size()) +
                                   " entries) does not fit the policy's " +
                                   HeadText(s.head, s.actions) + " or allows no move (" +
                                   Where(r) + ")");
  }
  return Status::Ok();
}

void PolicyScorer::Score(const DecisionRecord& r, PolicyScore& score) {
  if (!r.has_label) return;
  const MlpSpec& s = spec();
  score.head = s.head;
  const ExecutorDecision d = executor_.Act(r.observation, r.legal);
  ++score.decisions;
  score.agreed += ActionsAgree(action_space_, d.action, r.planner_action);
  score.kl_sum += KlToHeadOutput(r.planner, d.output);
  if (s.head == HeadKind::kCategorical) return;
  const auto target = r.planner_action.values();
  const auto mean = d.action.values();  // the mean, clipped into the action space
  for (size_t i = 0; i < target.size() && i < mean.size(); ++i) {
    const double e = static_cast<double>(mean[i]) - target[i];
    score.squared_error += e * e;
  }
  score.components += s.actions;
}

Result<LogEvaluation> EvaluateOnLog(const std::string& path,
                                    std::shared_ptr<const Snapshot> snapshot) {
  Require(snapshot != nullptr, "EvaluateOnLog needs a snapshot");
  const std::string logs = ResolveLogPath(path);
  Result<EpisodeLogReader> reader = EpisodeLogReader::Open(logs);
  if (!reader.ok()) return reader.status();
  // Built at the first record, when the log's header (and its action space) has been read.
  std::optional<PolicyScorer> scorer;
  LogEvaluation out;
  out.path = logs;
  out.overall.head = snapshot->spec().head;
  std::unordered_map<int64_t, size_t> episode_index;
  DecisionRecord r;
  for (;;) {
    Result<bool> more = reader->Next(r);
    if (!more.ok()) return more.status();
    if (!*more) break;
    ++out.records;
    if (!scorer) {
      const std::optional<Space> space = HeaderActionSpace(reader->segments());
      scorer.emplace(snapshot, space ? &*space : nullptr);
    }
    if (Status fits = scorer->CheckFits(r); !fits.ok()) return fits;
    const auto [it, inserted] = episode_index.try_emplace(r.episode, out.episodes.size());
    if (inserted) {
      EpisodeScore e;
      e.id = r.episode;
      e.score.head = scorer->spec().head;
      out.episodes.push_back(e);
    }
    EpisodeScore& e = out.episodes[it->second];
    ++e.steps;
    e.return_sum += r.reward;
    if (r.terminated || r.truncated) e.complete = true;
    scorer->Score(r, e.score);
  }
  for (const EpisodeScore& e : out.episodes) out.overall.Add(e.score);
  out.segments = reader->segments();
  out.damage = reader->damage();
  return out;
}

Result<std::optional<DecisionRecord>> FirstLabelledRecord(const std::string& path) {
  Result<EpisodeLogReader> reader = EpisodeLogReader::Open(ResolveLogPath(path));
  if (!reader.ok()) return reader.status();
  DecisionRecord r;
  for (;;) {
    Result<bool> more = reader->Next(r);
    if (!more.ok()) return more.status();
    if (!*more) return std::optional<DecisionRecord>();
    if (r.has_label) return std::optional<DecisionRecord>(std::move(r));
  }
}

Result<PolicyScore> ScoreRecords(std::span<const std::shared_ptr<const DecisionRecord>> records,
                                 std::shared_ptr<const Snapshot> snapshot,
                                 const Space* action_space) {
  Require(snapshot != nullptr, "ScoreRecords needs a snapshot");
  PolicyScorer scorer(std::move(snapshot), action_space);
  PolicyScore score;
  score.head = scorer.spec().head;
  for (const auto& r : records) {
    if (Status fits = scorer.CheckFits(*r); !fits.ok()) return fits;
    scorer.Score(*r, score);
  }
  return score;
}

// ---------------------------------------------------------------------------------------------
// Rollouts
// ---------------------------------------------------------------------------------------------

double RolloutResult::mean() const {
  if (returns.empty()) return kNaN;
  return std::accumulate(returns.begin(), returns.end(), 0.0) / static_cast<double>(returns.size());
}

double RolloutResult::discounted_mean() const {
  if (discounted_returns.empty()) return kNaN;
  return std::accumulate(discounted_returns.begin(), discounted_returns.end(), 0.0) /
         static_cast<double>(discounted_returns.size());
}

double RolloutResult::min() const {
  return returns.empty() ? kNaN : *std::min_element(returns.begin(), returns.end());
}

double RolloutResult::max() const {
  return returns.empty() ? kNaN : *std::max_element(returns.begin(), returns.end());
}

Json RolloutResult::ToJson() const {
  Json::Array list;
  for (double r : returns) list.push_back(r);
  return Json{{"env", env},
              {"seed", static_cast<int64_t>(seed)},
              {"episodes", static_cast<int64_t>(returns.size())},
              {"mean_return", mean()},
              {"min_return", min()},
              {"max_return", max()},
              {"discount", discount},
              {"mean_discounted_return", discounted_mean()},
              {"returns", std::move(list)}};
}

Status CheckSnapshotFitsEnv(const MlpSpec& spec, const Env& env) {
  const Space& obs = env.observation_space();
  const Space& act = env.action_space();
  if (obs.flat_size() != spec.input) {
    return Status::InvalidArgument(
        "the policy takes observations of " + std::to_string(spec.input) + " floats, but " +
        env.name() + " gives " + std::to_string(obs.flat_size()) + " (" + obs.ToString() + ")");
  }
  const bool fits = act.is_discrete()
                        ? spec.head == HeadKind::kCategorical && spec.actions == act.n()
                        : spec.head == HeadKind::kGaussian && spec.actions == act.flat_size();
  if (!fits) {
    return Status::InvalidArgument("the policy has " + HeadText(spec.head, spec.actions) +
                                   ", which does not fit " + env.name() + "'s actions " +
                                   act.ToString());
  }
  return Status::Ok();
}

Status RolloutOptions::Validate() const {
  if (!(discount > 0.0 && discount <= 1.0)) {
    return Status::InvalidArgument("rollout discount must be in (0, 1]");
  }
  return policy.Validate();
}

Result<RolloutResult> Rollout(std::shared_ptr<const Snapshot> snapshot, const std::string& env_name,
                              int64_t episodes, uint64_t seed, const OptionValues& env_options,
                              const RolloutOptions& options) {
  Require(snapshot != nullptr, "Rollout needs a snapshot");
  Require(episodes >= 0, "Rollout needs episodes >= 0");
  if (Status s = options.Validate(); !s.ok()) return s;
  Result<std::unique_ptr<Env>> made = MakeEnv(env_name, env_options);
  if (!made.ok()) return made.status();
  Env& env = **made;
  if (Status fits = CheckSnapshotFitsEnv(snapshot->spec(), env); !fits.ok()) return fits;
  if (!env.action_space().is_discrete() && options.policy.epsilon > 0.0) {
    return Status::InvalidArgument("epsilon applies to Discrete actions; " + env.name() +
                                   "'s are " + env.action_space().ToString());
  }
  std::optional<EpisodeLogWriter> log;
  if (!options.log_dir.empty()) {
    std::error_code ec;
    if (std::filesystem::exists(options.log_dir, ec) &&
        !std::filesystem::is_empty(options.log_dir, ec)) {
      return Status::InvalidArgument("rollout log directory " + options.log_dir +
                                     " is not empty: a rollout writes a new log");
    }
    EpisodeLogWriter::Options writer;
    writer.directory = options.log_dir;
    Result<EpisodeLogWriter> opened = EpisodeLogWriter::Open(
        writer, {env.name(), env.observation_space().ToString(), env.action_space().ToString(),
                 "rollout of an executor snapshot (version " +
                     std::to_string(snapshot->version()) + ")"});
    if (!opened.ok()) return opened.status();
    log.emplace(std::move(*opened));
  }
  const int64_t version = snapshot->version();
  CandidatePolicy policy(std::move(snapshot), env.action_space(), options.policy);
  RolloutResult out;
  out.env = env_name;
  out.seed = seed;
  out.discount = options.discount;
  Rng seeds(StreamSeed(seed, SeedStream::kRollout));
  Rng draws(StreamSeed(seed, SeedStream::kExecutorSampling));
  DecisionRecord record;
  Status written = Status::Ok();
  double discounted = 0.0, scale = 1.0;
  for (int64_t e = 0; e < episodes; ++e) {
    record.episode = e;
    record.step = 0;
    discounted = 0.0;
    scale = 1.0;
    out.returns.push_back(*RunEpisode(
        env, seeds.Next(),
        [&](std::span<const float> o, std::span<const uint8_t> legal) {
          double log_prob = 0.0;
          Action a = policy.Choose(o, legal, draws, log_prob);
          if (log) {
            record.observation.assign(o.begin(), o.end());
            record.legal.assign(legal.begin(), legal.end());
            record.executor_action = a;
            record.executor_version = version;
            record.acted_by = Actor::kExecutor;
            record.behaviour = policy.stochastic() ? Behaviour::kStochastic : Behaviour::kDeterministic;
            record.behaviour_log_prob = policy.stochastic() ? static_cast<float>(log_prob) : 0.0f;
          }
          return a;
        },
        nullptr,
        [&](const StepResult& r) {
          discounted += scale * r.reward;
          scale *= options.discount;
          if (!log) return;
          ++record.decision_id;
          record.reward = static_cast<float>(r.reward);
          record.terminated = r.terminated;
          record.truncated = r.truncated;
          if (written.ok()) written = log->Append(record);
          ++record.step;
        }));
    out.discounted_returns.push_back(discounted);
  }
  if (log) {
    const Status closed = log->Close();
    if (!written.ok()) return written;
    if (!closed.ok()) return closed;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Offline distillation
// ---------------------------------------------------------------------------------------------

Result<LabelledLog> ReadLabelledLog(const std::string& path) {
  const std::string logs = ResolveLogPath(path);
  Result<EpisodeLogReader> reader = EpisodeLogReader::Open(logs);
  if (!reader.ok()) return reader.status();
  LabelledLog out;
  out.path = logs;
  const DecisionRecord* first = nullptr;  // the first labelled record: fixes the sizes
  auto bad = [](const DecisionRecord& r, const std::string& what) {
    return Status::InvalidArgument("labelled record (" + Where(r) + ") " + what);
  };
  DecisionRecord r;
  for (;;) {
    Result<bool> more = reader->Next(r);
    if (!more.ok()) return more.status();
    if (!*more) break;
    ++out.records_read;
    if (!r.has_label) continue;
    const PolicyOutput& p = r.planner;
    const bool categorical = p.kind == PolicyKind::kCategorical;
    if (r.observation.empty()) return bad(r, "has an empty observation");
    if (categorical ? p.logits.empty() : (p.mean.empty() || p.log_std.size() != p.mean.size())) {
      return bad(r, "has an empty or malformed planner distribution (" + LabelText(p) + ")");
    }
    if (!AllFinite(r.observation) || !AllFinite(p.logits) || !AllFinite(p.mean) ||
        !AllFinite(p.log_std)) {
      return bad(r, "has a non-finite observation or planner output");
    }
    if (first != nullptr) {
      if (r.observation.size() != first->observation.size()) {
        return bad(r, "has an observation of " + std::to_string(r.observation.size()) +
                          " floats; earlier records have " +
                          std::to_string(first->observation.size()));
      }
      if (p.kind != first->planner.kind || p.logits.size() != first->planner.logits.size() ||
          p.mean.size() != first->planner.mean.size()) {
        return bad(r, "has a planner label " + LabelText(p) + "; earlier records have " +
                          LabelText(first->planner));
      }
    }
    const Space action_space = categorical
                                   ? Space::Discrete(static_cast<int64_t>(p.logits.size()))
                                   : Space::Box(-kInf, kInf, {static_cast<int64_t>(p.mean.size())});
    if (Status fits = action_space.Check(r.planner_action); !fits.ok()) {
      return bad(r, "has a planner action that does not fit its distribution: " + fits.message());
    }
    out.records.push_back(std::make_shared<const DecisionRecord>(r));
    if (first == nullptr) {
      first = out.records.back().get();
      out.observation_space =
          Space::Box(-kInf, kInf, {static_cast<int64_t>(first->observation.size())});
      out.action_space = action_space;
    }
  }
  out.segments = reader->segments();
  out.damage = reader->damage();
  for (const EpisodeLogSegment& s : out.segments) {
    if (s.header_ok) {
      out.metadata = s.metadata;
      break;
    }
  }
  // A Box from the header, when it fits the labels, gives agreement its ranges.
  if (!out.records.empty() && !out.action_space.is_discrete()) {
    if (const std::optional<Space> space = HeaderActionSpace(out.segments);
        space && !space->is_discrete() && space->flat_size() == out.action_space.flat_size()) {
      out.action_space = *space;
    }
  }
  if (out.records.empty()) {
    return Status::InvalidArgument("the log at " + path + " holds no labelled records (" +
                                   std::to_string(out.records_read) +
                                   " records read): nothing to learn from");
  }
  return out;
}

EpisodeSplit SplitByEpisode(std::span<const std::shared_ptr<const DecisionRecord>> records,
                            double holdout, uint64_t seed) {
  Require(holdout >= 0.0 && holdout < 1.0, "SplitByEpisode: holdout must be in [0, 1)");
  std::vector<int64_t> ids;
  for (const auto& r : records) ids.push_back(r->episode);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  const auto n = static_cast<int64_t>(ids.size());
  auto k = static_cast<int64_t>(std::llround(holdout * static_cast<double>(n)));
  if (holdout > 0.0 && k == 0) k = 1;
  k = std::clamp<int64_t>(k, 0, std::max<int64_t>(n - 1, 0));

  std::vector<int64_t> order = ids;  // Fisher-Yates with our own generator: same on every
  Rng rng(StreamSeed(seed, SeedStream::kHoldoutSplit));       // platform, unlike std::shuffle
  for (int64_t i = n - 1; i > 0; --i) {
    std::swap(order[i], order[rng.Below(static_cast<uint64_t>(i) + 1)]);
  }
  EpisodeSplit split;
  split.holdout_episodes.assign(order.begin(), order.begin() + k);
  split.train_episodes.assign(order.begin() + k, order.end());
  std::sort(split.holdout_episodes.begin(), split.holdout_episodes.end());
  std::sort(split.train_episodes.begin(), split.train_episodes.end());
  for (const auto& r : records) {
    const bool held = std::binary_search(split.holdout_episodes.begin(),
                                         split.holdout_episodes.end(), r->episode);
    (held ? split.holdout : split.train).push_back(r);
  }
  return split;
}

Status OfflineDistillOptions::Validate() const {
  if (Status s = distiller.Validate(); !s.ok()) return s;
  if (!(holdout >= 0.0 && holdout < 1.0)) {
    return Status::InvalidArgument("holdout must be in [0, 1)");
  }
  if (epochs < 1 && updates < 1) {
    return Status::InvalidArgument("give at least one epoch or one update");
  }
  if (updates < 0) return Status::InvalidArgument("updates must be >= 0");
  if (progress_interval_ns < 0) return Status::InvalidArgument("progress interval must be >= 0");
  return Status::Ok();
}

Result<OfflineDistillResult> DistillOffline(const LabelledLog& log,
                                            const OfflineDistillOptions& options,
                                            const OfflineDistillCallback& progress,
                                            const StopFlag* stop) {
  if (Status s = options.Validate(); !s.ok()) return s;
  const Stopwatch clock;
  OfflineDistillResult out;
  out.split = SplitByEpisode(log.records, options.holdout, options.seed);
  const EpisodeSplit& split = out.split;
  if (options.holdout > 0.0 && split.holdout_episodes.empty()) {
    return Status::InvalidArgument(
        "the log holds labelled records of " + std::to_string(split.train_episodes.size()) +
        " episode(s); holding out a fraction of episodes needs at least 2 (or hold out none)");
  }
  if (split.train.empty()) return Status::InvalidArgument("no labelled records to train on");

  Distiller::Options distiller_options = options.distiller;
  distiller_options.seed = options.seed;
  // Snapshots are made here when needed, not every publish period.
  distiller_options.publish_every = std::numeric_limits<int64_t>::max();
  Distiller distiller(distiller_options, log.observation_space, log.action_space);

  const auto n = static_cast<int64_t>(split.train.size());
  const int64_t batch_size = std::min(distiller_options.batch_size, n);
  out.updates_per_epoch = (n + batch_size - 1) / batch_size;
  const int64_t total =
      options.updates > 0 ? options.updates : options.epochs * out.updates_per_epoch;

  // A fixed, evenly spread sample of training records for progress reports.
  std::vector<std::shared_ptr<const DecisionRecord>> sample;
  const auto sample_size =
      static_cast<int64_t>(std::min<size_t>(kProgressSample, split.train.size()));
  for (int64_t i = 0; i < sample_size; ++i) sample.push_back(split.train[i * n / sample_size]);

  OfflineDistillProgress prog;
  prog.total_updates = total;
  int64_t last_report_ns = NowNs();
  int64_t reported_update = -1;
  auto report = [&] {
    reported_update = prog.update;
    const PolicyScore score =
        ScoreRecords(sample, distiller.MakeSnapshot(1), &log.action_space).ValueOrThrow();
    prog.train_agreement = score.agreement();
    prog.elapsed_s = clock.ElapsedSeconds();
    progress(prog);
    last_report_ns = NowNs();
  };

  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  Rng rng(StreamSeed(options.seed, SeedStream::kOfflineBatches));
  std::vector<std::shared_ptr<const DecisionRecord>> batch;
  int64_t position = 0;
  for (int64_t u = 0; u < total; ++u) {
    if (stop != nullptr && stop->requested()) {
      out.interrupted = true;
      break;
    }
    if (position == 0) {
      for (int64_t i = n - 1; i > 0; --i) {
        std::swap(order[i], order[rng.Below(static_cast<uint64_t>(i) + 1)]);
      }
    }
    batch.clear();
    const int64_t end = std::min(position + batch_size, n);
    for (int64_t i = position; i < end; ++i) batch.push_back(split.train[order[i]]);
    position = end == n ? 0 : end;
    out.final_loss = distiller.Train(batch).loss;
    prog.update = u + 1;
    prog.loss = out.final_loss;
    if (progress && NowNs() - last_report_ns >= options.progress_interval_ns) report();
  }
  out.updates = distiller.updates();
  if (progress && prog.update != reported_update) report();

  out.snapshot = distiller.MakeSnapshot(/*version=*/1);
  out.train = ScoreRecords(split.train, out.snapshot, &log.action_space).ValueOrThrow();
  out.holdout = ScoreRecords(split.holdout, out.snapshot, &log.action_space).ValueOrThrow();
  out.holdout.head = out.snapshot->spec().head;
  out.seconds = clock.ElapsedSeconds();
  return out;
}

}  // namespace apprentice
