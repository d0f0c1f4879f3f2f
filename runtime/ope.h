// Off-policy estimates: what a candidate policy would have earned on logged episodes, from the
// logged rewards and, per decision, the ratio of the candidate's probability of the logged action
// to the behaviour policy's (DecisionRecord::behaviour).
//
//   logged episodes ── OpeEpisodes(candidate's log π(a|s)) ──▶ ratios, rewards ──▶
//   EstimateOffPolicy ──▶ IS, WIS, PDIS, WPDIS, each with a bootstrap interval; ESS
//
// Estimators (G = Σ γ^t r_t, ρ_t = π(a_t|s_t) / μ(a_t|s_t), optionally clipped at `clip`):
// - is:    mean over episodes of W G, W = Π_t ρ_t (trajectory-wise importance sampling);
// - wis:   Σ W G / Σ W (self-normalised);
// - pdis:  mean over episodes of Σ_t γ^t w_t r_t, w_t = Π_{k ≤ t} ρ_k (per-decision);
// - wpdis: Σ_t γ^t Σ_i w_{i,t} r_{i,t} / Σ_i w_{i,t}, over the episodes still running at t.
// Intervals: percentile bootstrap over episodes. Diagnostics: the effective sample size of the
// trajectory weights, (Σ W)² / Σ W², and the share of episodes the candidate would never have
// produced (W = 0).
//
// Pure computation, one thread; no LibTorch.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/decision.h"
#include "core/status.h"

namespace apprentice {

struct OpeStep {
  double reward = 0.0;
  double log_ratio = 0.0;  // log π(a|s) − log μ(a|s); -inf where the candidate never acts so
};
using OpeEpisode = std::vector<OpeStep>;

// The logged episodes as estimator input: records grouped by episode and ordered by step, each
// step's ratio from the candidate's log-probability of the logged action (TakenAction) and the
// record's behaviour. InvalidArgument naming how many records say nothing of their behaviour
// (logs of record revision 1, or choices no probability describes) when any does: estimates need
// every decision's behaviour probability.
Result<std::vector<OpeEpisode>> OpeEpisodes(
    std::span<const DecisionRecord> records,
    const std::function<double(const DecisionRecord&)>& candidate_log_prob);

struct OpeOptions {
  double discount = 1.0;
  double clip = 0.0;          // cap on each per-decision ratio; 0 = none
  int64_t bootstrap = 200;    // resamples of the episodes for the intervals; 0 = no intervals
  double confidence = 0.95;   // of the intervals
  uint64_t seed = 1;          // of the resampling
  Status Validate() const;
};

struct OpeEstimate {
  std::string estimator;  // "is", "wis", "pdis", "wpdis"
  double value = 0.0;
  double low = 0.0, high = 0.0;  // the bootstrap interval (both = value without resamples)
};

struct OpeReport {
  int64_t episodes = 0, decisions = 0;
  double logged_return = 0.0;          // mean discounted return of the logged episodes
  double effective_sample_size = 0.0;  // of the trajectory weights
  double zero_weight_share = 0.0;      // episodes with W = 0
  std::vector<OpeEstimate> estimates;  // is, wis, pdis, wpdis
};

// InvalidArgument for invalid options or no episodes.
Result<OpeReport> EstimateOffPolicy(std::span<const OpeEpisode> episodes,
                                    const OpeOptions& options);

}  // namespace apprentice
