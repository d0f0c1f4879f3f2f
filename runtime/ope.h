// Off-policy estimates: what a candidate policy would have earned on logged episodes, from the
// logged rewards and, per decision, the ratio of the candidate's probability of the logged action
// to the behaviour policy's (DecisionRecord::behaviour), and from a fitted model of the
// candidate's values (fitted Q evaluation, distiller/fitted_q.h).
//
//   log ──▶ EvaluateOffPolicyOnLog(candidate snapshots) ──▶ per candidate:
//     OpeEpisodes(the candidate's log π(a|s)) ──▶ ratios, rewards ─┐
//     FitQ on the logged transitions ──────────▶ Q̂(s_t, a_t), V̂(s_t) ─┴▶ EstimateOffPolicy
//       ──▶ IS, WIS, PDIS, WPDIS, DM, DR, each with a bootstrap interval; ESS, support, warnings
//
// Estimators (G = Σ γ^t r_t, ρ_t = π(a_t|s_t) / μ(a_t|s_t), optionally clipped at `clip`):
// - is:    mean over episodes of W G, W = Π_t ρ_t (trajectory-wise importance sampling);
// - wis:   Σ W G / Σ W (self-normalised);
// - pdis:  mean over episodes of Σ_t γ^t w_t r_t, w_t = Π_{k ≤ t} ρ_k (per-decision);
// - wpdis: Σ_t γ^t Σ_i w_{i,t} r_{i,t} / Σ_i w_{i,t}, over the episodes still running at t;
// - dm:    mean over episodes of V̂(s_0) (the direct method: the model alone);
// - dr:    mean over episodes of Σ_t γ^t (w_t (r_t − Q̂(s_t, a_t)) + w_{t−1} V̂(s_t)), w_{−1} = 1
//          (per-decision doubly robust, Jiang & Li 2016: unbiased when the ratios are right,
//          whatever Q̂; low-variance when Q̂ is good).
// Intervals: percentile bootstrap over episodes with the model fitted once, on all of them; on a
// log, refits on resamples widen the dm and dr intervals by the model's own spread
// (OffPolicyOptions::fqe_refits). Diagnostics: the effective sample size of the trajectory
// weights, (Σ W)² / Σ W², the share of episodes the candidate would never have produced (W = 0),
// the candidate's probability on actions the logging policy could not take (its choice was
// deterministic and different): what importance weights cannot see, and its mean probability of
// the logged actions.
//
// Single-step logs (a fraud stream, contextual bandits): records with no episode id (-1) are
// episodes of one decision each.
//
// The estimators are pure computation on one thread; FitQ trains with LibTorch behind a
// torch-free header.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/decision.h"
#include "core/rng.h"
#include "core/space.h"
#include "core/status.h"
#include "core/stop_flag.h"
#include "distiller/fitted_q.h"
#include "executor/snapshot.h"
#include "replay/episode_log.h"

namespace apprentice {

struct OpeStep {
  double reward = 0.0;
  double log_ratio = 0.0;  // log π(a|s) − log μ(a|s); -inf where the candidate never acts so
  // The fitted model, when there is one (NaN otherwise: no dm and dr estimates).
  double q = std::numeric_limits<double>::quiet_NaN();  // Q̂(s, a) of the logged action
  double v = std::numeric_limits<double>::quiet_NaN();  // V̂(s) = E_{a'~π} Q̂(s, a')
  // The candidate's probability of actions the logging policy could not have taken here.
  double unsupported = 0.0;
  // π(a|s) of the logged action (Discrete; NaN for Box actions, whose π is a density).
  double candidate_probability = std::numeric_limits<double>::quiet_NaN();
};
using OpeEpisode = std::vector<OpeStep>;

// The logged episodes as estimator input: records grouped by episode (each record without one
// alone) and ordered by step, each step's ratio from the candidate's log-probability of the
// logged action (TakenAction) and the record's behaviour. Where the behaviour was deterministic,
// the candidate's probability of any other action is `unsupported` (1 − π(a|s), or all of it for
// a continuous action). InvalidArgument naming how many records say nothing of their behaviour
// (logs of record revision 1, or choices no probability describes) when any does: estimates need
// every decision's behaviour probability.
Result<std::vector<OpeEpisode>> OpeEpisodes(
    std::span<const DecisionRecord> records,
    const std::function<double(const DecisionRecord&)>& candidate_log_prob);

// How a candidate snapshot acts, for the estimates and for rollouts that check them.
//   Discrete: π(a) = (1 − ε) p(a) + ε / |legal|, p = 1 for the greedy action (argmax), or
//   softmax(logits) with `sample`.
//   Box: with `sample`, N(mean, exp(log_std)²) clipped into the box (the density is taken at the
//   clipped action, as the logging side records it); greedy, the clipped mean — a point mass,
//   which no importance weight can describe (refused by the estimates).
struct CandidateOptions {
  bool sample = false;
  double epsilon = 0.0;           // Discrete only
  int64_t gaussian_draws = 16;    // Box with sample: draws that stand for π in V̂(s)
  Status Validate() const;
};

// A snapshot acting as a stochastic policy (CandidateOptions). One thread.
class CandidatePolicy {
 public:
  // `action_space` must fit the snapshot's head (Discrete(n), or a Box of d components).
  CandidatePolicy(std::shared_ptr<const Snapshot> snapshot, const Space& action_space,
                  CandidateOptions options);
  ~CandidatePolicy();
  CandidatePolicy(const CandidatePolicy&) = delete;
  CandidatePolicy& operator=(const CandidatePolicy&) = delete;

  // log π(action | observation); -inf where π never takes it (a point mass elsewhere).
  double LogProb(std::span<const float> observation, std::span<const uint8_t> legal,
                 const Action& action);
  // The actions that stand for π at `observation`, with weights summing to 1: every action of
  // nonzero probability (Discrete), or gaussian_draws draws from `rng` (Box; the mean alone when
  // greedy).
  void Actions(std::span<const float> observation, std::span<const uint8_t> legal, Rng& rng,
               std::vector<Action>& actions, std::vector<double>& weights);
  // Acts: a draw from π with its log-probability (log-density for Box; 0 for a greedy choice).
  Action Choose(std::span<const float> observation, std::span<const uint8_t> legal, Rng& rng,
                double& log_prob);
  // Whether π draws at all (false: greedy with ε = 0).
  bool stochastic() const;
  const MlpSpec& spec() const;
  const Space& action_space() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct OpeOptions {
  double discount = 1.0;
  // Warn when the candidate puts more than this share of its probability (mean over decisions)
  // on actions the logging policy could not take, when the effective sample size is below
  // ess_warning of the episodes, and when the candidate's mean probability of the logged action
  // is below agreement_warning.
  double support_warning = 0.01;
  double ess_warning = 0.05;
  double agreement_warning = 0.8;
  double clip = 0.0;          // cap on each per-decision ratio; 0 = none
  int64_t bootstrap = 200;    // resamples of the episodes for the intervals; 0 = no intervals
  double confidence = 0.95;   // of the intervals
  uint64_t seed = 1;          // of the resampling
  Status Validate() const;
};

struct OpeEstimate {
  std::string estimator;  // "is", "wis", "pdis", "wpdis", "dm", "dr"
  double value = 0.0;
  double low = 0.0, high = 0.0;  // the bootstrap interval (both = value without resamples)
};

struct OpeReport {
  int64_t episodes = 0, decisions = 0;
  double logged_return = 0.0;          // mean discounted return of the logged episodes
  double effective_sample_size = 0.0;  // of the trajectory weights
  double zero_weight_share = 0.0;      // episodes with W = 0
  double unsupported_share = 0.0;      // mean over decisions of OpeStep::unsupported
  // Mean over decisions of π(a_t|s_t), the candidate's probability of the logged action
  // (Discrete; NaN for Box): how often it would have done what was logged. Low: its own
  // trajectories leave the logged states soon, where only the fitted Q speaks for it.
  double logged_action_probability = std::numeric_limits<double>::quiet_NaN();
  std::vector<OpeEstimate> estimates;  // is, wis, pdis, wpdis, then dm and dr with a model
  std::vector<std::string> warnings;   // support and effective sample size, in words

  // The estimate named `estimator`; nullptr when there is none.
  const OpeEstimate* Find(const std::string& estimator) const;
};

// InvalidArgument for invalid options or no episodes. dm and dr are estimated when every step
// carries a finite q and v.
Result<OpeReport> EstimateOffPolicy(std::span<const OpeEpisode> episodes,
                                    const OpeOptions& options);

// ---------------------------------------------------------------------------------------------
// On a log, for several candidates (apprentice eval --ope)
// ---------------------------------------------------------------------------------------------

// Ok if a snapshot of `spec` can weigh `record`: its observation size, and an action its head
// can take (an index below its action count, or as many components). InvalidArgument naming
// both otherwise.
Status CheckCandidateFits(const MlpSpec& spec, const DecisionRecord& record);

// The first intact record of the log at `path`, or nullopt for an empty log (reads no further).
Result<std::optional<DecisionRecord>> FirstRecord(const std::string& path);

struct OffPolicyCandidate {
  std::string name;  // how tables and JSON call it (e.g. its file)
  std::shared_ptr<const Snapshot> snapshot;
};

struct OffPolicyOptions {
  CandidateOptions policy;
  OpeOptions estimate;
  bool fit_q = true;  // fit Q̂ for dm and dr (FQE); false: importance sampling alone
  FqeOptions fqe;     // its discount and seed are replaced by estimate's
  // Refits of Q̂, each on a bootstrap resample of the episodes (Hanna et al. 2017): the spread of
  // their dm and dr estimates (standard deviation s) widens those intervals to at least
  // value ± t s (t: Student's quantile of `confidence` with refits − 1 degrees of freedom), so
  // that they hold the model's fitting noise too. 0: none.
  int64_t fqe_refits = 0;
  Status Validate() const;
};

struct CandidateEstimate {
  std::string name;
  OpeReport report;
  int64_t fqe_iterations = 0;
  double fqe_loss = 0.0, fqe_seconds = 0.0;  // 0 without fit_q
  // With refits: the standard deviation of their dm and dr estimates (NaN without).
  double refit_sd_dm = std::numeric_limits<double>::quiet_NaN();
  double refit_sd_dr = std::numeric_limits<double>::quiet_NaN();
};

struct OffPolicyEvaluation {
  std::string path;
  int64_t records = 0;   // intact records read
  int64_t episodes = 0;  // logged episodes (single decisions counted as one each)
  double logged_return = 0.0;  // mean discounted return of the logged episodes
  std::vector<CandidateEstimate> candidates;  // in the order given
  std::vector<EpisodeLogDamage> damage;
  bool interrupted = false;  // `stop` ended the work early: later candidates are missing

  // Candidate indices ordered by the `estimator` estimate, best first (missing ones last).
  std::vector<size_t> Ranking(const std::string& estimator) const;
};

// Progress of EvaluateOffPolicyOnLog: the candidate being fitted and FQE's iteration.
struct OffPolicyProgress {
  size_t candidate = 0, candidates = 0;
  int64_t fit = 0, fits = 1;  // the fit on all episodes (0), then the refits
  int64_t iteration = 0, iterations = 0;
  double loss = 0.0;
};

// Reads the log at `path` (segment file or log directory) once and estimates every candidate's
// value on it. NotFound / reader errors as InspectEpisodeLog (runtime/offline.h); InvalidArgument
// for invalid options, no candidates, a candidate that does not fit the logged observations or
// actions, a log without records, and (OpeEpisodes) records without behaviour probabilities.
// Damage is skipped and listed. `progress` is called after each FQE iteration.
Result<OffPolicyEvaluation> EvaluateOffPolicyOnLog(
    const std::string& path, std::span<const OffPolicyCandidate> candidates,
    const OffPolicyOptions& options,
    const std::function<void(const OffPolicyProgress&)>& progress = nullptr,
    const StopFlag* stop = nullptr);

}  // namespace apprentice
