// Distiller: trains the student network to mimic the planner, and turns it into executor
// snapshots. LibTorch lives behind this header (pimpl): including it pulls in no torch headers.
//
//   replay ── batch of labelled DecisionRecords ──▶ Train() ── every publish_every updates ──▶ Snapshot
//
// Loss (knowledge distillation, Hinton et al.):
//   categorical: alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T))
//                + (1 - alpha) * CE(student, planner action)
//   gaussian:    alpha * T^2 * KL(N(mu_t, T sigma_t^2) || N(mu_s, T sigma_s^2))
//                + (1 - alpha) * NLL(planner action | N(mu_s, sigma_s^2))
// optimised with Adam. The hard label is the record's ground truth when the outside world
// reported one (DecisionRecord::truth: a chargeback, a verified outcome), else the planner's
// action: soft targets from the teacher, the hard label from reality. A record with ground truth
// and no planner label (the teacher skipped it) trains the hard term alone (its soft term is 0).
// The student is the executor's MLP (MlpSpec), initialised from `seed`
// with our own generator, so the same seed gives the same weights bit for bit.
//
// Feature distillation (off by default: feature_weight 0): when records carry the teacher's hidden
// features f (DecisionRecord::teacher_features, from a TorchScript teacher with features=true),
// the loss gains feature_weight * mean_j (P h - f)_j^2 per such record, where h is the student's
// last hidden layer (its input when it has none) and P a learned linear projection to the
// teacher's width F (uniform +-1/sqrt(width) from `seed`, its own Adam). The gradient reaches the
// student through h; P is not part of the snapshot, nor of the checkpoint (a resumed run starts
// a fresh P). Records without features add 0 to the term.
//
// Checkpoints (SaveCheckpoint/LoadCheckpoint) hold what resuming needs: the student's weights,
// Adam's state, updates() and published(). Format: docs/checkpoints.md.
//
// Threading: one thread owns a Distiller (not thread-safe). The constructor bounds LibTorch's
// intra-op threads to `torch_threads` (process-wide), so training never starves the loop.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/decision.h"
#include "core/space.h"
#include "core/status.h"
#include "executor/snapshot.h"

namespace apprentice {

class Distiller {
 public:
  struct Options {
    std::vector<int64_t> hidden = {64, 64};
    Activation activation = Activation::kTanh;
    double temperature = 2.0;      // T: softens teacher and student
    double alpha = 0.5;            // weight of the soft (KL) term; 1 - alpha for the hard label
    double learning_rate = 3e-3;   // Adam
    int64_t batch_size = 64;
    int64_t publish_every = 50;    // updates between snapshots
    uint64_t seed = 0;
    int64_t torch_threads = 1;     // LibTorch intra-op threads
    double feature_weight = 0.0;   // weight of the feature term (above); 0 = off
    Status Validate() const;
  };

  struct TrainStats {
    double loss = 0.0;       // what was minimised: the (weighted) mean of the records' losses
    double soft_loss = 0.0;  // the KL term (before alpha and T^2), unweighted mean
    double hard_loss = 0.0;  // CE or NLL, unweighted mean
    // The feature term (before feature_weight): the mean over the records that carry teacher
    // features of mean_j (P h - f)_j^2; 0 when none does or feature_weight is 0.
    double feature_loss = 0.0;
    // Per record, in batch order: how much the student still has to learn from it, for
    // prioritised replay. alpha * T^2 * KL_i + (1 - alpha) * H_i (+ feature_weight * F_i, the
    // record's feature term), with H_i the cross-entropy of
    // the hard label (categorical) or 0.5 * |(a - mu) / sigma|^2 (Gaussian: the NLL without
    // its log-sigma and constant terms, so that the priority is >= 0). Finite and >= 0.
    std::vector<double> priorities;
    // A new snapshot when this update completed a publish period; null otherwise.
    std::shared_ptr<const Snapshot> snapshot;
  };

  // Throws InvalidArgument for invalid options, a non-Box observation space, or an action space
  // the student cannot represent.
  Distiller(Options options, const Space& observation_space, const Space& action_space);
  ~Distiller();
  Distiller(const Distiller&) = delete;
  Distiller& operator=(const Distiller&) = delete;

  // One Adam step on `batch`: every record must carry a planner label or a ground-truth label
  // (Trainable) that fits the action space, and an observation of the right size; observations,
  // planner outputs and labels must be finite (InvalidArgument otherwise, and the weights are
  // left untouched).
  //
  // `weights` (empty, or one per record, finite and >= 0) are importance-sampling weights: the
  // loss is mean_i(w_i * loss_i) instead of mean_i(loss_i), which corrects the bias of a
  // prioritised sampler.
  TrainStats Train(std::span<const std::shared_ptr<const DecisionRecord>> batch,
                   std::span<const float> weights = {});

  // The current weights as an executor snapshot with the given version.
  std::shared_ptr<const Snapshot> MakeSnapshot(int64_t version) const;

  // The student's raw output computed by LibTorch (logits, or means then log-stds).
  std::vector<float> ReferenceForward(std::span<const float> observation) const;

  // The checkpoint file layout this build writes and the only one it reads.
  static constexpr uint32_t kCheckpointFormatVersion = 1;

  // Writes a checkpoint to the file `path`, atomically (path.tmp, fsync, rename: after a crash
  // the file holds the old checkpoint or the new one). Unavailable when the file cannot be
  // written, Internal when LibTorch fails to serialise.
  Status SaveCheckpoint(const std::string& path) const;

  // Resumes from a checkpoint: replaces the weights, Adam's state, updates() and published()
  // with the file's, so that the same batches then give the same weights, bit for bit, as the
  // saving distiller would have reached. The training options (temperature, alpha, learning
  // rate, batch size, publish_every) stay this distiller's own; the seed no longer matters.
  // On any error the distiller is left exactly as it was. Errors:
  //   NotFound:        no file at `path`;
  //   InvalidArgument: not a distiller checkpoint, an unknown format version, or a student of
  //                    another MlpSpec than spec() (the message names both);
  //   DataLoss:        a truncated or damaged file (checksum), or contents LibTorch cannot read
  //                    or that do not fit the student (shapes, non-finite values, counters).
  Status LoadCheckpoint(const std::string& path);

  const MlpSpec& spec() const;
  const Options& options() const;
  int64_t updates() const;    // Train() calls so far
  int64_t published() const;  // snapshots returned by Train() so far

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace apprentice
