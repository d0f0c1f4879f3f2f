// BoundedQueue: a fixed ring of preallocated items between one producer thread and any number of
// consumer threads, lock-free and allocation-free on both sides (Vyukov's bounded queue with
// per-slot sequence numbers, specialised to one producer so that it can drop instead of wait).
//
//   producer (the control loop) ── Push(write) ──▶ [slot][slot][slot]... ── Pop(read) ──▶ consumers
//
// Items are never constructed or destroyed after construction: Push() calls `write(T&)` to fill
// a slot in place and Pop() calls `read(T&)` to copy one out, so an item holding vectors keeps
// their capacity and the steady state allocates nothing.
//
// Overflow: the producer never waits for consumers.
// - kDropOldest: a full queue gives up its oldest pending item (passed to `on_drop` first) to
//   make room for the new one. Requests from a control loop go stale; the newest matter most.
// - kDropNewest: a full queue rejects the new item.
// In both policies a push can also be rejected in one narrow case: the slot it needs is being
// copied out by a consumer at that moment and stays so for kMaxSpins polls (a copy takes well
// under a microsecond, so this means a consumer thread was preempted mid-copy).
//
// Threading: Push() from one producer thread only; Pop() and size() from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "core/status.h"

namespace apprentice {

enum class Overflow { kDropOldest, kDropNewest };

template <class T>
class BoundedQueue {
 public:
  enum class PushResult {
    kPushed,          // queued
    kReplacedOldest,  // queued; the oldest pending item was dropped (after on_drop saw it)
    kRejected,        // not queued (full under kDropNewest, or its slot busy: see above)
  };
  static constexpr int kMaxSpins = 4096;

  // `init` prepares every slot's item once (e.g. reserves its vectors). Throws InvalidArgument
  // unless capacity >= 1.
  BoundedQueue(int64_t capacity, Overflow overflow,
               const std::function<void(T&)>& init = nullptr)
      : capacity_(static_cast<uint64_t>(capacity)), overflow_(overflow) {
    Require(capacity >= 1, "a bounded queue needs a capacity >= 1");
    slots_ = std::make_unique<Slot[]>(capacity_);
    for (uint64_t i = 0; i < capacity_; ++i) {
      slots_[i].seq.store(i, std::memory_order_relaxed);
      if (init) init(slots_[i].item);
    }
  }
  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  // Producer thread only. `write(T&)` fills the slot; `on_drop(const T&)` sees the item dropped
  // under kDropOldest before it is overwritten.
  template <class Write, class OnDrop>
  PushResult Push(Write&& write, OnDrop&& on_drop) {
    const uint64_t pos = head_.load(std::memory_order_relaxed);
    Slot& slot = slots_[pos % capacity_];
    for (int spins = 0;; ++spins) {
      if (slot.seq.load(std::memory_order_acquire) == pos) {  // free
        write(slot.item);
        Publish(slot, pos);
        return PushResult::kPushed;
      }
      // The slot still holds item pos - capacity: the queue is full, or a consumer has claimed
      // that item and is copying it out.
      uint64_t oldest = pos - capacity_;
      if (tail_.load(std::memory_order_acquire) == oldest) {
        if (overflow_ == Overflow::kDropNewest) return PushResult::kRejected;
        if (tail_.compare_exchange_strong(oldest, oldest + 1, std::memory_order_acq_rel,
                                          std::memory_order_relaxed)) {
          on_drop(static_cast<const T&>(slot.item));
          write(slot.item);
          Publish(slot, pos);
          return PushResult::kReplacedOldest;
        }
      }
      if (spins >= kMaxSpins) return PushResult::kRejected;
      CpuRelax();
    }
  }

  // Any thread. Copies the oldest item out with `read(T&)` and frees its slot; false when empty.
  template <class Read>
  bool Pop(Read&& read) {
    uint64_t t = tail_.load(std::memory_order_relaxed);
    for (;;) {
      Slot& slot = slots_[t % capacity_];
      const uint64_t seq = slot.seq.load(std::memory_order_acquire);
      const auto diff = static_cast<int64_t>(seq - (t + 1));
      if (diff == 0) {
        if (tail_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel,
                                        std::memory_order_relaxed)) {
          read(slot.item);
          slot.seq.store(t + capacity_, std::memory_order_release);
          return true;
        }
      } else if (diff < 0) {
        return false;  // empty
      } else {
        t = tail_.load(std::memory_order_relaxed);
      }
    }
  }

  // Items pending (a snapshot; any thread).
  int64_t size() const {
    const uint64_t tail = tail_.load(std::memory_order_acquire);
    const uint64_t head = head_.load(std::memory_order_acquire);
    return head > tail ? static_cast<int64_t>(std::min(head - tail, capacity_)) : 0;
  }
  int64_t capacity() const { return static_cast<int64_t>(capacity_); }

 private:
  struct alignas(64) Slot {
    std::atomic<uint64_t> seq{0};
    T item{};
  };

  void Publish(Slot& slot, uint64_t pos) {
    slot.seq.store(pos + 1, std::memory_order_release);
    head_.store(pos + 1, std::memory_order_release);
  }

  static void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
  }

  const uint64_t capacity_;
  const Overflow overflow_;
  std::unique_ptr<Slot[]> slots_;
  alignas(64) std::atomic<uint64_t> head_{0};  // written by the producer only
  alignas(64) std::atomic<uint64_t> tail_{0};  // advanced by consumers and a dropping producer
};

}  // namespace apprentice
