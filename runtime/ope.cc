#include "runtime/ope.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

#include "core/rng.h"
#include "executor/executor.h"
#include "runtime/offline.h"
#include "runtime/run_store.h"

namespace apprentice {
namespace {

struct Values {
  double is = 0.0, wis = 0.0, pdis = 0.0, wpdis = 0.0, dm = 0.0, dr = 0.0;
};

// The estimates over the episodes `pick` selects (indices, repeats allowed); dm and dr are
// NaN (and unused) without a model.
Values Estimate(std::span<const OpeEpisode> episodes, std::span<const size_t> pick,
                const OpeOptions& o) {
  double is_sum = 0.0, w_sum = 0.0, pdis_sum = 0.0, dm_sum = 0.0, dr_sum = 0.0;
  // wpdis: per step t, Σ w r and Σ w over the episodes still running.
  std::vector<double> step_wr, step_w;
  for (const size_t i : pick) {
    const OpeEpisode& e = episodes[i];
    double w = 1.0, g = 0.0, scale = 1.0, pd = 0.0, dr = 0.0;
    if (!e.empty()) dm_sum += e[0].v;
    for (size_t t = 0; t < e.size(); ++t) {
      double rho = std::exp(e[t].log_ratio);
      if (o.clip > 0.0) rho = std::min(rho, o.clip);
      const double previous = w;
      w *= rho;
      g += scale * e[t].reward;
      pd += scale * w * e[t].reward;
      dr += scale * (w * (e[t].reward - e[t].q) + previous * e[t].v);
      if (step_w.size() <= t) {
        step_w.push_back(0.0);
        step_wr.push_back(0.0);
      }
      step_w[t] += w;
      step_wr[t] += w * e[t].reward;
      scale *= o.discount;
    }
    is_sum += w * g;
    w_sum += w;
    pdis_sum += pd;
    dr_sum += dr;
  }
  Values v;
  const auto n = static_cast<double>(pick.size());
  v.is = is_sum / n;
  v.wis = w_sum > 0.0 ? is_sum / w_sum : 0.0;
  v.pdis = pdis_sum / n;
  v.dm = dm_sum / n;
  v.dr = dr_sum / n;
  double scale = 1.0;
  for (size_t t = 0; t < step_w.size(); ++t) {
    if (step_w[t] > 0.0) v.wpdis += scale * step_wr[t] / step_w[t];
    scale *= o.discount;
  }
  return v;
}

std::string Fixed(double v, int digits) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, v);
  return text;
}

std::string Percent(double share) { return Fixed(100.0 * share, 1) + " %"; }

double StandardDeviation(const std::vector<double>& values) {
  double mean = 0.0, sq = 0.0;
  for (const double v : values) mean += v / static_cast<double>(values.size());
  for (const double v : values) sq += (v - mean) * (v - mean);
  return std::sqrt(sq / static_cast<double>(values.size() - 1));
}

// The standard normal's quantile at p in (0, 1) (Acklam's rational approximation, |error| <
// 1.2e-9).
double NormalQuantile(double p) {
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                 -2.759285104469687e+02, 1.383577518672690e+02,
                                 -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                 -1.556989798598866e+02, 6.680131188771972e+01,
                                 -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                 -2.400758277161838e+00, -2.549732539343734e+00,
                                 4.374664141464968e+00, 2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                                 2.445134137142996e+00, 3.754408661907416e+00};
  auto tail = [&](double q) {
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  };
  if (p < 0.02425) return tail(std::sqrt(-2.0 * std::log(p)));
  if (p > 1.0 - 0.02425) return -tail(std::sqrt(-2.0 * std::log(1.0 - p)));
  const double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
}

// Student's t quantile at p with `df` degrees of freedom, from the normal's by the Cornish-Fisher
// expansion (Hill 1970): within 0.3 % of the exact 97.5 % quantile for df >= 4, 3 % low at df = 2.
double StudentQuantile(double p, double df) {
  const double z = NormalQuantile(p), z2 = z * z;
  const double z3 = z2 * z, z5 = z3 * z2, z7 = z5 * z2;
  return z + (z3 + z) / (4.0 * df) + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * df * df) +
         (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * df * df * df);
}

double Quantile(std::vector<double>& values, double q) {
  const auto k = static_cast<size_t>(
      std::clamp(q * static_cast<double>(values.size() - 1), 0.0,
                 static_cast<double>(values.size() - 1)));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  return values[k];
}

}  // namespace

Status OpeOptions::Validate() const {
  if (!(discount > 0.0 && discount <= 1.0)) {
    return Status::InvalidArgument("ope discount must be in (0, 1]");
  }
  if (!(clip >= 0.0) || !std::isfinite(clip)) {
    return Status::InvalidArgument("ope clip must be a finite number >= 0 (0: no clipping)");
  }
  if (bootstrap < 0) return Status::InvalidArgument("ope bootstrap must be >= 0 resamples");
  if (!(confidence > 0.0 && confidence < 1.0)) {
    return Status::InvalidArgument("ope confidence must be in (0, 1)");
  }
  if (!(support_warning >= 0.0 && support_warning <= 1.0) ||
      !(ess_warning >= 0.0 && ess_warning <= 1.0) ||
      !(agreement_warning >= 0.0 && agreement_warning <= 1.0)) {
    return Status::InvalidArgument("ope warning thresholds must be in [0, 1]");
  }
  return Status::Ok();
}

namespace {

// Record indices grouped by episode (by id; each record without one alone), ordered by step.
std::vector<std::vector<size_t>> EpisodeOrder(std::span<const DecisionRecord> records) {
  std::map<int64_t, std::vector<size_t>> by_episode;
  std::vector<std::vector<size_t>> out;
  for (size_t i = 0; i < records.size(); ++i) {
    if (records[i].episode < 0) {
      out.push_back({i});
    } else {
      by_episode[records[i].episode].push_back(i);
    }
  }
  for (auto& [episode, steps] : by_episode) {
    std::stable_sort(steps.begin(), steps.end(),
                     [&](size_t a, size_t b) { return records[a].step < records[b].step; });
    out.push_back(std::move(steps));
  }
  return out;
}

}  // namespace

Result<std::vector<OpeEpisode>> OpeEpisodes(
    std::span<const DecisionRecord> records,
    const std::function<double(const DecisionRecord&)>& candidate_log_prob) {
  int64_t unknown = 0;
  for (const DecisionRecord& r : records) unknown += r.behaviour == Behaviour::kUnknown;
  if (unknown > 0) {
    return Status::InvalidArgument(
        std::to_string(unknown) + " of " + std::to_string(records.size()) +
        " logged decisions carry no behaviour probability (a log of record revision 1, written "
        "before it was recorded, or choices no probability describes); importance-sampling "
        "estimates need it for every decision");
  }
  std::vector<OpeEpisode> out;
  for (const std::vector<size_t>& steps : EpisodeOrder(records)) {
    OpeEpisode e;
    e.reserve(steps.size());
    for (const size_t i : steps) {
      const DecisionRecord& r = records[i];
      const double log_pi = candidate_log_prob(r);
      OpeStep step;
      step.reward = r.reward;
      if (TakenAction(r).is_discrete()) step.candidate_probability = std::exp(log_pi);
      if (r.behaviour == Behaviour::kStochastic) {
        step.log_ratio = log_pi - r.behaviour_log_prob;
      } else if (TakenAction(r).is_discrete()) {
        // μ(a|s) = 1: the candidate's other actions are out of the log's support.
        step.log_ratio = log_pi;
        step.unsupported = std::max(0.0, 1.0 - std::exp(log_pi));
      } else {
        // A deterministic continuous action: a point mass no density ratio describes.
        step.log_ratio = -std::numeric_limits<double>::infinity();
        step.unsupported = 1.0;
      }
      e.push_back(step);
    }
    out.push_back(std::move(e));
  }
  return out;
}

const OpeEstimate* OpeReport::Find(const std::string& estimator) const {
  for (const OpeEstimate& e : estimates) {
    if (e.estimator == estimator) return &e;
  }
  return nullptr;
}

Result<OpeReport> EstimateOffPolicy(std::span<const OpeEpisode> episodes,
                                    const OpeOptions& options) {
  if (Status s = options.Validate(); !s.ok()) return s;
  if (episodes.empty()) return Status::InvalidArgument("no logged episodes to estimate from");
  OpeReport report;
  report.episodes = static_cast<int64_t>(episodes.size());
  std::vector<size_t> all(episodes.size());
  double w_sum = 0.0, w2_sum = 0.0, return_sum = 0.0, unsupported_sum = 0.0, agree_sum = 0.0;
  int64_t zero = 0;
  bool model = true;
  for (size_t i = 0; i < episodes.size(); ++i) {
    all[i] = i;
    report.decisions += static_cast<int64_t>(episodes[i].size());
    double w = 1.0, g = 0.0, scale = 1.0;
    for (const OpeStep& s : episodes[i]) {
      unsupported_sum += s.unsupported;
      agree_sum += s.candidate_probability;
      model = model && std::isfinite(s.q) && std::isfinite(s.v);
      double rho = std::exp(s.log_ratio);
      if (options.clip > 0.0) rho = std::min(rho, options.clip);
      w *= rho;
      g += scale * s.reward;
      scale *= options.discount;
    }
    w_sum += w;
    w2_sum += w * w;
    zero += w == 0.0;
    return_sum += g;
  }
  report.logged_return = return_sum / static_cast<double>(episodes.size());
  report.effective_sample_size = w2_sum > 0.0 ? w_sum * w_sum / w2_sum : 0.0;
  report.zero_weight_share = static_cast<double>(zero) / static_cast<double>(episodes.size());
  report.unsupported_share =
      report.decisions > 0 ? unsupported_sum / static_cast<double>(report.decisions) : 0.0;
  report.logged_action_probability = agree_sum / static_cast<double>(std::max<int64_t>(report.decisions, 1));
  const int kinds = model ? 6 : 4;

  const Values point = Estimate(episodes, all, options);
  std::vector<std::vector<double>> resampled(static_cast<size_t>(kinds));
  Rng rng(options.seed);
  std::vector<size_t> pick(episodes.size());
  for (int64_t b = 0; b < options.bootstrap; ++b) {
    for (size_t& p : pick) p = static_cast<size_t>(rng.Below(episodes.size()));
    const Values v = Estimate(episodes, pick, options);
    resampled[0].push_back(v.is);
    resampled[1].push_back(v.wis);
    resampled[2].push_back(v.pdis);
    resampled[3].push_back(v.wpdis);
    if (model) {
      resampled[4].push_back(v.dm);
      resampled[5].push_back(v.dr);
    }
  }
  const char* names[6] = {"is", "wis", "pdis", "wpdis", "dm", "dr"};
  const double values[6] = {point.is, point.wis, point.pdis, point.wpdis, point.dm, point.dr};
  const double tail = (1.0 - options.confidence) / 2.0;
  for (int k = 0; k < kinds; ++k) {
    OpeEstimate e;
    e.estimator = names[k];
    e.value = values[k];
    e.low = e.high = e.value;
    if (!resampled[k].empty()) {
      e.low = Quantile(resampled[k], tail);
      e.high = Quantile(resampled[k], 1.0 - tail);
    }
    report.estimates.push_back(e);
  }
  if (report.unsupported_share > options.support_warning) {
    report.warnings.push_back(
        "the candidate puts " + Percent(report.unsupported_share) +
        " of its probability (mean over decisions) on actions the logging policy could not take "
        "there (its choice was deterministic): importance weights cannot see what those actions "
        "earn, so is/wis/pdis/wpdis/dr are biased towards the logged actions and dm "
        "extrapolates");
  }
  if (report.logged_action_probability < options.agreement_warning) {
    report.warnings.push_back(
        "the candidate would have taken the logged action with probability " +
        Fixed(report.logged_action_probability, 2) +
        " on average: its own trajectories soon leave the logged states, where only the fitted "
        "Q speaks for it (dm, and dr once the weights vanish) and may extrapolate");
  }
  if (report.effective_sample_size < options.ess_warning * static_cast<double>(report.episodes)) {
    report.warnings.push_back(
        "effective sample size " + Fixed(report.effective_sample_size, 1) + " of " +
        std::to_string(report.episodes) +
        " episodes: the trajectory-wise estimates rest on few episodes (per-decision, dm and dr "
        "less so)");
  }
  return report;
}

// ---------------------------------------------------------------------------------------------
// CandidatePolicy
// ---------------------------------------------------------------------------------------------

Status CandidateOptions::Validate() const {
  if (!(epsilon >= 0.0 && epsilon <= 1.0)) {
    return Status::InvalidArgument("candidate epsilon must be in [0, 1]");
  }
  if (gaussian_draws < 1) return Status::InvalidArgument("candidate gaussian draws must be >= 1");
  return Status::Ok();
}

struct CandidatePolicy::Impl {
  CandidateOptions options;
  Space action_space;
  SnapshotSlot slot;
  Executor executor;

  Impl(std::shared_ptr<const Snapshot> snapshot, const Space& space, CandidateOptions o)
      : options(o), action_space(space), slot(std::move(snapshot)), executor(slot, space) {
    RequireOk(options.Validate());
    Require(action_space.is_discrete() || options.epsilon == 0.0,
            "a candidate with Box actions takes no epsilon");
  }

  // π(a) of a categorical head from its (masked) output.
  double Probability(std::span<const float> out, std::span<const uint8_t> legal, int64_t a) const {
    if (a < 0 || a >= static_cast<int64_t>(out.size())) return 0.0;
    if (!legal.empty() && legal[static_cast<size_t>(a)] == 0) return 0.0;
    const double base = options.sample ? SampledProbability(out, a) : (Argmax(out) == a ? 1.0 : 0.0);
    if (options.epsilon == 0.0) return base;
    int64_t legal_count = static_cast<int64_t>(out.size());
    if (!legal.empty()) legal_count = std::count_if(legal.begin(), legal.end(), [](uint8_t l) { return l != 0; });
    return (1.0 - options.epsilon) * base + options.epsilon / static_cast<double>(legal_count);
  }
};

CandidatePolicy::CandidatePolicy(std::shared_ptr<const Snapshot> snapshot, const Space& action_space,
                                 CandidateOptions options)
    : impl_(std::make_unique<Impl>(std::move(snapshot), action_space, options)) {}

CandidatePolicy::~CandidatePolicy() = default;

bool CandidatePolicy::stochastic() const { return impl_->options.sample || impl_->options.epsilon > 0.0; }
const MlpSpec& CandidatePolicy::spec() const { return impl_->executor.spec(); }
const Space& CandidatePolicy::action_space() const { return impl_->action_space; }

double CandidatePolicy::LogProb(std::span<const float> observation, std::span<const uint8_t> legal,
                                const Action& action) {
  const ExecutorDecision d = impl_->executor.Act(observation, legal);
  if (spec().head == HeadKind::kCategorical) {
    if (!action.is_discrete()) return -std::numeric_limits<double>::infinity();
    return std::log(impl_->Probability(d.output, legal, action.index()));
  }
  if (action.is_discrete() || static_cast<int64_t>(action.values().size()) != spec().actions) {
    return -std::numeric_limits<double>::infinity();
  }
  if (!impl_->options.sample) {
    return d.action == action ? 0.0 : -std::numeric_limits<double>::infinity();
  }
  const size_t n = static_cast<size_t>(spec().actions);
  return GaussianLogDensity(action.values(), d.output.subspan(0, n), d.output.subspan(n, n));
}

void CandidatePolicy::Actions(std::span<const float> observation, std::span<const uint8_t> legal,
                              Rng& rng, std::vector<Action>& actions, std::vector<double>& weights) {
  actions.clear();
  weights.clear();
  ExecutorDecision d = impl_->executor.Act(observation, legal);
  if (spec().head == HeadKind::kCategorical) {
    for (int64_t a = 0; a < spec().actions; ++a) {
      const double p = impl_->Probability(d.output, legal, a);
      if (p <= 0.0) continue;
      actions.push_back(Action::Discrete(a));
      weights.push_back(p);
    }
    return;
  }
  if (!impl_->options.sample) {
    actions.push_back(d.action);
    weights.push_back(1.0);
    return;
  }
  const Action mean = d.action;
  for (int64_t k = 0; k < impl_->options.gaussian_draws; ++k) {
    d.action = mean;
    impl_->executor.Sample(d, rng);
    actions.push_back(d.action);
    weights.push_back(1.0 / static_cast<double>(impl_->options.gaussian_draws));
  }
}

Action CandidatePolicy::Choose(std::span<const float> observation, std::span<const uint8_t> legal,
                               Rng& rng, double& log_prob) {
  ExecutorDecision d = impl_->executor.Act(observation, legal);
  if (spec().head == HeadKind::kCategorical) {
    int64_t a = 0;
    if (impl_->options.epsilon > 0.0 && rng.Uniform() < impl_->options.epsilon) {
      // The k-th legal action, k uniform.
      auto is_legal = [&](int64_t k) { return legal.empty() || legal[static_cast<size_t>(k)] != 0; };
      int64_t legal_count = 0;
      for (int64_t k = 0; k < spec().actions; ++k) legal_count += is_legal(k);
      auto pick = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(legal_count)));
      for (a = 0;; ++a) {
        if (is_legal(a) && pick-- == 0) break;
      }
    } else {
      if (impl_->options.sample) impl_->executor.Sample(d, rng);
      a = d.action.index();
    }
    log_prob = stochastic() ? std::log(impl_->Probability(d.output, legal, a)) : 0.0;
    return Action::Discrete(a);
  }
  if (!impl_->options.sample) {
    log_prob = 0.0;
    return d.action;
  }
  impl_->executor.Sample(d, rng);
  const size_t n = static_cast<size_t>(spec().actions);
  log_prob = GaussianLogDensity(d.action.values(), d.output.subspan(0, n), d.output.subspan(n, n));
  return d.action;
}

// ---------------------------------------------------------------------------------------------
// EvaluateOffPolicyOnLog
// ---------------------------------------------------------------------------------------------

Status OffPolicyOptions::Validate() const {
  if (Status s = policy.Validate(); !s.ok()) return s;
  if (Status s = estimate.Validate(); !s.ok()) return s;
  if (fqe_refits < 0 || fqe_refits == 1) {
    return Status::InvalidArgument("fqe refits must be 0 (none) or >= 2 (a spread needs two)");
  }
  if (fit_q) return fqe.Validate();
  return Status::Ok();
}

std::vector<size_t> OffPolicyEvaluation::Ranking(const std::string& estimator) const {
  std::vector<size_t> order(candidates.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto value = [&](size_t i) {
    const OpeEstimate* e = candidates[i].report.Find(estimator);
    return e != nullptr ? e->value : -std::numeric_limits<double>::infinity();
  };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return value(a) > value(b); });
  return order;
}

namespace {

// The logged transitions in `order` as FQE's input for `policy`: rows of (observation, action
// one-hot or values, time features).
FqeData TransitionsFor(std::span<const DecisionRecord> records,
                       const std::vector<std::vector<size_t>>& order, CandidatePolicy& policy,
                       double discount, uint64_t seed) {
  const MlpSpec& spec = policy.spec();
  const bool discrete = spec.head == HeadKind::kCategorical;
  const int64_t action_width = spec.actions;
  size_t longest = 1;
  for (const auto& e : order) longest = std::max(longest, e.size());
  FqeData data;
  // Time: t / (H − 1), and with a discount γ^(H − 1 − t) too, H the longest episode: the values
  // of a time limit (truncation at H steps) are linear in them (Σ_{k < H − t} γ^k).
  const bool discounted = discount < 1.0;
  data.width = spec.input + action_width + (discounted ? 2 : 1);
  const double time_scale = longest > 1 ? 1.0 / static_cast<double>(longest - 1) : 0.0;
  auto encode = [&](const DecisionRecord& r, const Action& a, size_t step, std::vector<float>& out) {
    out.insert(out.end(), r.observation.begin(), r.observation.end());
    if (discrete) {
      for (int64_t k = 0; k < action_width; ++k) out.push_back(a.index() == k ? 1.0f : 0.0f);
    } else {
      out.insert(out.end(), a.values().begin(), a.values().end());
    }
    out.push_back(static_cast<float>(static_cast<double>(step) * time_scale));
    if (discounted) {
      out.push_back(static_cast<float>(std::pow(discount, static_cast<double>(longest - 1 - step))));
    }
  };
  Rng rng(seed);
  std::vector<Action> actions;
  std::vector<double> weights;
  data.candidate_begin.push_back(0);
  for (const auto& episode : order) {
    for (size_t t = 0; t < episode.size(); ++t) {
      const DecisionRecord& r = records[episode[t]];
      const auto row = static_cast<int64_t>(data.rewards.size());
      encode(r, TakenAction(r), t, data.inputs);
      data.rewards.push_back(r.reward);
      data.next.push_back(t + 1 < episode.size() && !r.terminated ? row + 1 : -1);
      data.episode_steps.push_back(static_cast<int64_t>(t));
      policy.Actions(r.observation, r.legal, rng, actions, weights);
      for (size_t k = 0; k < actions.size(); ++k) {
        encode(r, actions[k], t, data.candidate_inputs);
        data.candidate_weights.push_back(static_cast<float>(weights[k]));
      }
      data.candidate_begin.push_back(static_cast<int64_t>(data.candidate_weights.size()));
    }
  }
  return data;
}

}  // namespace

Status CheckCandidateFits(const MlpSpec& spec, const DecisionRecord& r) {
  const std::string where =
      " (episode " + std::to_string(r.episode) + ", step " + std::to_string(r.step) + ")";
  if (static_cast<int64_t>(r.observation.size()) != spec.input) {
    return Status::InvalidArgument("the policy (" + spec.ToString() + ") takes observations of " +
                                   std::to_string(spec.input) + " floats; the log's have " +
                                   std::to_string(r.observation.size()) + where);
  }
  const Action& a = TakenAction(r);
  const bool fits = spec.head == HeadKind::kCategorical
                        ? a.is_discrete() && a.index() >= 0 && a.index() < spec.actions
                        : !a.is_discrete() && static_cast<int64_t>(a.values().size()) == spec.actions;
  if (!fits) {
    return Status::InvalidArgument("the policy (" + spec.ToString() +
                                   ") cannot take the logged action " + a.ToString() + where);
  }
  return Status::Ok();
}

Result<std::optional<DecisionRecord>> FirstRecord(const std::string& path) {
  Result<EpisodeLogReader> reader = EpisodeLogReader::Open(ResolveLogPath(path));
  if (!reader.ok()) return reader.status();
  DecisionRecord r;
  Result<bool> more = reader->Next(r);
  if (!more.ok()) return more.status();
  if (!*more) return std::optional<DecisionRecord>();
  return std::optional<DecisionRecord>(std::move(r));
}

Result<OffPolicyEvaluation> EvaluateOffPolicyOnLog(
    const std::string& path, std::span<const OffPolicyCandidate> candidates,
    const OffPolicyOptions& options, const std::function<void(const OffPolicyProgress&)>& progress,
    const StopFlag* stop) {
  if (Status s = options.Validate(); !s.ok()) return s;
  if (candidates.empty()) return Status::InvalidArgument("no candidate policy to estimate");
  const std::string logs = ResolveLogPath(path);
  Result<EpisodeLogReader> reader = EpisodeLogReader::Open(logs);
  if (!reader.ok()) return reader.status();
  std::vector<DecisionRecord> records;
  for (;;) {
    DecisionRecord r;
    Result<bool> more = reader->Next(r);
    if (!more.ok()) return more.status();
    if (!*more) break;
    records.push_back(std::move(r));
  }
  OffPolicyEvaluation out;
  out.path = logs;
  out.records = static_cast<int64_t>(records.size());
  out.damage = reader->damage();
  if (records.empty()) {
    return Status::InvalidArgument("the log at " + logs + " holds no intact record to estimate from");
  }
  for (const OffPolicyCandidate& c : candidates) {
    Require(c.snapshot != nullptr, "EvaluateOffPolicyOnLog needs every candidate's snapshot");
    const MlpSpec& spec = c.snapshot->spec();
    if (spec.head == HeadKind::kGaussian && !options.policy.sample) {
      return Status::InvalidArgument(
          "candidate " + c.name + " has Box actions and acts greedily: a point mass, which no "
          "importance weight describes; estimate its stochastic policy (sample) instead");
    }
    if (spec.head == HeadKind::kGaussian && options.policy.epsilon > 0.0) {
      return Status::InvalidArgument("candidate " + c.name + " has Box actions: epsilon applies to "
                                     "Discrete actions only");
    }
    for (const DecisionRecord& r : records) {
      if (Status s = CheckCandidateFits(spec, r); !s.ok()) {
        return Status::InvalidArgument("candidate " + c.name + ": " + s.message());
      }
    }
  }
  const std::vector<std::vector<size_t>> order = EpisodeOrder(records);
  out.episodes = static_cast<int64_t>(order.size());
  for (const std::vector<size_t>& episode : order) {
    double g = 0.0, scale = 1.0;
    for (const size_t i : episode) {
      g += scale * records[i].reward;
      scale *= options.estimate.discount;
    }
    out.logged_return += g / static_cast<double>(order.size());
  }
  OpeOptions estimate = options.estimate;
  FqeOptions fqe = options.fqe;
  fqe.discount = estimate.discount;
  fqe.seed = estimate.seed;
  for (size_t c = 0; c < candidates.size(); ++c) {
    if (stop != nullptr && stop->requested()) {
      out.interrupted = true;
      break;
    }
    const OffPolicyCandidate& candidate = candidates[c];
    CandidatePolicy policy(candidate.snapshot,
                           LogActionSpace(reader->segments(), candidate.snapshot->spec()),
                           options.policy);
    Result<std::vector<OpeEpisode>> episodes =
        OpeEpisodes(records, [&](const DecisionRecord& r) {
          return policy.LogProb(r.observation, r.legal, TakenAction(r));
        });
    if (!episodes.ok()) return episodes.status();
    CandidateEstimate result;
    result.name = candidate.name;
    const int64_t fits = 1 + options.fqe_refits;
    // Fits Q̂ on the episodes `picked` (indices into order / *episodes) and returns them with
    // its values; null when stopped.
    auto fit = [&](const std::vector<size_t>& picked, int64_t k,
                   FqeResult& fitted) -> Result<std::optional<std::vector<OpeEpisode>>> {
      std::vector<std::vector<size_t>> sample;
      sample.reserve(picked.size());
      for (const size_t i : picked) sample.push_back(order[i]);
      FqeOptions f = fqe;
      f.seed = estimate.seed + static_cast<uint64_t>(k);
      Result<FqeResult> r = FitQ(
          TransitionsFor(records, sample, policy, estimate.discount, f.seed), f,
          [&](int64_t iteration, int64_t total, double loss) {
            if (progress) progress({c, candidates.size(), k, fits, iteration, total, loss});
          },
          stop);
      if (!r.ok()) return r.status();
      fitted = std::move(*r);
      if (fitted.interrupted) return std::optional<std::vector<OpeEpisode>>();
      std::vector<OpeEpisode> with_model;
      size_t row = 0;
      for (const size_t i : picked) {
        OpeEpisode e = (*episodes)[i];
        for (OpeStep& s : e) {
          s.q = fitted.q[row];
          s.v = fitted.v[row];
          ++row;
        }
        with_model.push_back(std::move(e));
      }
      return std::optional<std::vector<OpeEpisode>>(std::move(with_model));
    };
    std::vector<OpeEpisode> estimated = *episodes;
    std::vector<double> refit_dm, refit_dr;
    if (options.fit_q) {
      std::vector<size_t> all(order.size());
      for (size_t i = 0; i < all.size(); ++i) all[i] = i;
      FqeResult fitted;
      auto model = fit(all, 0, fitted);
      if (!model.ok()) return model.status();
      result.fqe_iterations = fitted.iterations;
      result.fqe_loss = fitted.final_loss;
      result.fqe_seconds = fitted.seconds;
      if (!model->has_value()) {
        out.interrupted = true;
        break;
      }
      estimated = std::move(**model);
      Rng resample(estimate.seed ^ 0x5EF1'7000'0000'0001ULL);
      for (int64_t k = 1; k < fits; ++k) {
        std::vector<size_t> picked(order.size());
        for (size_t& p : picked) p = static_cast<size_t>(resample.Below(order.size()));
        FqeResult refitted;
        auto refit = fit(picked, k, refitted);
        if (!refit.ok()) return refit.status();
        result.fqe_seconds += refitted.seconds;
        if (!refit->has_value()) {
          out.interrupted = true;
          break;
        }
        OpeOptions once = estimate;
        once.bootstrap = 0;
        Result<OpeReport> r = EstimateOffPolicy(**refit, once);
        if (!r.ok()) return r.status();
        refit_dm.push_back(r->Find("dm")->value);
        refit_dr.push_back(r->Find("dr")->value);
      }
      if (out.interrupted) break;
    } else if (progress) {
      progress({c, candidates.size(), 0, 1, 0, 0, 0.0});
    }
    Result<OpeReport> report = EstimateOffPolicy(estimated, estimate);
    if (!report.ok()) return report.status();
    result.report = std::move(*report);
    if (refit_dm.size() >= 2) {
      // Student's t: the spread is estimated from a handful of refits.
      const double z = StudentQuantile(0.5 + estimate.confidence / 2.0,
                                       static_cast<double>(refit_dm.size() - 1));
      result.refit_sd_dm = StandardDeviation(refit_dm);
      result.refit_sd_dr = StandardDeviation(refit_dr);
      for (OpeEstimate& e : result.report.estimates) {
        const double sd = e.estimator == "dm" ? result.refit_sd_dm
                          : e.estimator == "dr" ? result.refit_sd_dr
                                                : 0.0;
        e.low = std::min(e.low, e.value - z * sd);
        e.high = std::max(e.high, e.value + z * sd);
      }
    }
    out.candidates.push_back(std::move(result));
  }
  return out;
}

}  // namespace apprentice
