// Fitted Q evaluation (FQE): the value of a fixed candidate policy π, learned from logged
// transitions, for the direct-method and doubly-robust off-policy estimates (runtime/ope.h).
//
//   logged (s, a, r, next) + π's actions at every state ──▶ FitQ ──▶ Q̂(s_t, a_t), V̂(s_t)
//
// Q̂ is an MLP on one input row per state-action pair (the caller encodes the state, the action
// and, for finite horizons, the time step). It starts fitted to the logged returns-to-go (the
// behaviour's own values: the iterations then carry only the candidate's difference, and a
// horizon longer than the iterations costs less bias). Each iteration fixes the targets
//   y_i = r_i + γ V̂(s_{next(i)}),   V̂(s) = Σ_k w_k Q̂(s, a_k)   (0 where the episode ends)
// with the current network, where (a_k, w_k) are the candidate's actions at s and their weights
// (π's probabilities of each discrete action, or 1/K for K draws from a Gaussian), then takes
// `updates_per_iteration` Adam steps on the mean squared error over random mini-batches, with a
// learning rate that falls linearly to 1/20 of its start over the iterations (the SGD noise of
// each regression is carried on by the bootstraps; it shrinks as the values settle). Targets
// are scaled by 1 / (max |r| · horizon) so that the network sees values of order one.
//
// LibTorch lives in fitted_q.cc; this header is torch-free. One thread; deterministic for a seed
// for a seed and a thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/status.h"
#include "core/stop_flag.h"

namespace apprentice {

struct FqeOptions {
  std::vector<int64_t> hidden = {64, 64};  // tanh layers
  // Target refreshes; 0 = min(the longest episode, 7 / (1 − γ)) + 20, at most 1000.
  int64_t iterations = 0;
  int64_t updates_per_iteration = 20;
  int64_t batch_size = 256;
  double learning_rate = 1e-3;
  double discount = 1.0;
  uint64_t seed = 1;
  int64_t torch_threads = 1;  // LibTorch intra-op threads (process-wide, as the Distiller's)
  Status Validate() const;
};

// The logged transitions, one row per decision.
struct FqeData {
  int64_t width = 0;                // floats per input row
  std::vector<float> inputs;        // rows × width: the logged (state, action)
  std::vector<float> rewards;       // per row
  std::vector<int64_t> next;  // per row: the row of the next step (a later row); -1: the end
  std::vector<int64_t> episode_steps;  // per row: its step in the episode (sets the horizon)
  // The candidate's actions at each row's state: rows of candidate_inputs [candidate_begin[i],
  // candidate_begin[i + 1]) with candidate_weights summing to 1 (rows + 1 offsets).
  std::vector<int64_t> candidate_begin;
  std::vector<float> candidate_inputs;
  std::vector<float> candidate_weights;

  int64_t rows() const { return static_cast<int64_t>(rewards.size()); }
  // InvalidArgument naming what does not fit (sizes, offsets, a non-finite value, a next row
  // out of range).
  Status Validate() const;
};

struct FqeResult {
  std::vector<double> q;  // Q̂(s_i, a_i) per row
  std::vector<double> v;  // V̂(s_i) per row: the candidate's expected Q̂ at the row's state
  int64_t iterations = 0;
  double final_loss = 0.0;  // mean squared error of the last update, in scaled units
  double seconds = 0.0;
  bool interrupted = false;
};

// Called after every iteration with (iteration, total, last loss).
using FqeProgress = std::function<void(int64_t, int64_t, double)>;

// InvalidArgument for invalid options or data. A `stop` request ends training after the
// current iteration (interrupted: the values are those reached).
Result<FqeResult> FitQ(const FqeData& data, const FqeOptions& options,
                       const FqeProgress& progress = nullptr, const StopFlag* stop = nullptr);

}  // namespace apprentice
