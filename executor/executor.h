// The executor: answers every step from the newest published weights, without LibTorch.
//
//   distiller ── Publish(snapshot vN+1) ──▶ SnapshotSlot ◀── Acquire (lock-free) ── Executor::Act
//
// SnapshotSlot holds the current Snapshot. Publish() may be called from any thread (publishers
// serialise on a mutex of their own; readers never touch it). Readers pin the snapshot they use
// with a hazard pointer, so a snapshot is freed only once no reader can be computing with it,
// and a reader never sees a half-written one. Every published snapshot must have the same MlpSpec
// as the first (same architecture, new weights).
//
// Executor is a reader: one per calling thread (it owns its scratch buffers and a hazard slot).
// Act() takes no lock and allocates nothing: one atomic load (plus a re-check), the kernel,
// and the head. A slot supports up to SnapshotSlot::kMaxReaders live executors.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include "core/rng.h"

#include "core/action.h"
#include "core/space.h"
#include "executor/snapshot.h"

namespace apprentice {

// Computes the network of `snapshot` on `input` (size spec().input) into `output` (size
// spec().output()). `scratch` must hold at least 2 * snapshot.max_width() floats.
// No allocation; no checks beyond debug asserts (the unsafe inner path: Executor::Act checks).
void ForwardUnchecked(const Snapshot& snapshot, std::span<const float> input,
                      std::span<float> scratch, std::span<float> output);
// The same for n inputs at once (row-major, n x spec().input) into n x spec().output() floats,
// equal bit for bit to n ForwardUnchecked calls: rows go through each layer four at a time, so
// each weight vector is loaded once for four rows. `scratch` must hold 2 * n * max_width()
// floats.
void ForwardBatchUnchecked(const Snapshot& snapshot, std::span<const float> inputs, int64_t n,
                           std::span<float> scratch, std::span<float> outputs);
// The kernel these run, chosen once per process: "avx512" (x86-64-v4: 16 floats a vector, 32
// registers), "avx2" (x86-64-v3: AVX2 + FMA) or "sse2" (the portable one), the widest the CPU
// has, or the one APPRENTICE_EXECUTOR_ISA=sse2|avx2|avx512 names (at most the widest).
std::string_view ExecutorKernel();

class SnapshotSlot {
 public:
  static constexpr int kMaxReaders = 64;

  explicit SnapshotSlot(std::shared_ptr<const Snapshot> initial);
  ~SnapshotSlot();
  SnapshotSlot(const SnapshotSlot&) = delete;
  SnapshotSlot& operator=(const SnapshotSlot&) = delete;

  // Makes `next` the current snapshot. InvalidArgument if its spec differs from the first's.
  // Frees the snapshots that no reader still pins. Any thread.
  Status Publish(std::shared_ptr<const Snapshot> next);
  // The current snapshot, owned (for tools and publishers, not for the per-step path).
  std::shared_ptr<const Snapshot> Current() const;
  const MlpSpec& spec() const { return spec_; }
  // Version of the current snapshot. Any thread, lock-free.
  // (Read from a copy: the snapshot itself may be freed by a concurrent Publish.)
  int64_t version() const { return current_version_.load(std::memory_order_acquire); }

 private:
  friend class Executor;
  // Claims a hazard slot; InvalidArgument when all kMaxReaders are taken.
  int ClaimHazard();
  void ReleaseHazard(int index);
  // Pins and returns the current snapshot in hazard slot `index`.
  const Snapshot* Acquire(int index);
  void Unpin(int index) { hazards_[index].ptr.store(nullptr, std::memory_order_release); }
  void FreeUnpinnedLocked();

  struct alignas(64) Hazard {
    std::atomic<const Snapshot*> ptr{nullptr};
    std::atomic<bool> claimed{false};
  };

  const MlpSpec spec_;
  std::atomic<const Snapshot*> current_;
  std::atomic<int64_t> current_version_;
  Hazard hazards_[kMaxReaders];
  mutable std::mutex publish_mu_;  // publishers only
  std::vector<std::shared_ptr<const Snapshot>> owned_;  // current + retired still pinned; guarded
};

// What the executor decided for one observation.
struct ExecutorDecision {
  Action action;
  int64_t version = 0;             // snapshot version that computed it
  std::span<const float> output;   // logits, or means then log-stds; valid until the next Act()
  // Categorical: the probability of the chosen action; Gaussian: the probability that a sample
  // of the head agrees with its mean (core/agreement.h).
  float confidence = 1.0f;
};

class Executor {
 public:
  // `action_space` must match the slot's spec: Discrete(n) for a categorical head, a Box with
  // d components for a Gaussian one (its bounds clip the mean).
  Executor(SnapshotSlot& slot, Space action_space);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Greedy action for `observation`: argmax of the logits, or the clipped mean.
  // `legal` (categorical heads; core/policy.h): one byte per action, nonzero where legal; the
  // illegal logits are masked (MaskLogits) in the output, so the action, the confidence and
  // Sample() see only legal actions. Empty: every action is legal.
  // Throws InvalidArgument if observation.size() != spec().input, or for a mask of the wrong
  // size or with no legal action. No lock, no allocation.
  ExecutorDecision Act(std::span<const float> observation, std::span<const uint8_t> legal = {});
  // Replaces `decision`'s action by a draw from the head's distribution, for a stochastic policy
  // or exploration: categorical, an index drawn from softmax(logits), where an entry kMinLogit or
  // more below the largest (a masked action) has probability 0; Gaussian, each component
  // from N(mean, exp(log_std)^2), clipped into the box. `decision` must be this executor's last
  // Act() (its output is read). No allocation.
  void Sample(ExecutorDecision& decision, Rng& rng) const;

  // Greedy decisions for a batch (many agents per tick): `observations` holds actions.size() rows
  // of spec().input floats; each action is what Act() would choose for its row, equal bit for
  // bit. `outputs` (n x spec().output() floats) and `confidences` (n) are filled when not empty;
  // `legal`, when not empty, holds n masks of spec().actions bytes, as Act()'s.
  // One snapshot serves the whole batch: its version is returned. Throws InvalidArgument for
  // sizes that do not fit. No lock; allocates only when n exceeds every earlier batch (scratch).
  int64_t ActBatch(std::span<const float> observations, std::span<Action> actions,
                   std::span<float> outputs = {}, std::span<float> confidences = {},
                   std::span<const uint8_t> legal = {});

  const MlpSpec& spec() const { return slot_.spec(); }

 private:
  SnapshotSlot& slot_;
  Space action_space_;
  int hazard_;
  std::vector<float> scratch_;
  std::vector<float> output_;
  Action continuous_action_;  // Gaussian head: a Box-sized action, overwritten by each Act()
  std::vector<float> batch_scratch_, batch_output_;  // ActBatch: grown to the largest batch

  // Throws InvalidArgument unless `legal` is empty or holds `rows` masks, each with a legal action.
  void CheckLegal(std::span<const uint8_t> legal, int64_t rows) const;
  // The head's decision from one row of raw outputs (a Gaussian's log-stds clamped in place).
  void DecideHead(std::span<float> out, Action& action, float& confidence) const;
};

}  // namespace apprentice
