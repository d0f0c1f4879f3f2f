// BoundedQueue: a fixed ring of preallocated items between any number of producer and consumer
// threads, lock-free and allocation-free on both sides (Vyukov's bounded MPMC queue, with
// per-slot sequence numbers), where a producer never waits: a full queue drops.
//
//   producers (callers' Act()) ── Push(write) ──▶ [slot][slot][slot]... ── Pop(read) ──▶ consumers
//
// Items are never constructed or destroyed after construction: Push() calls `write(T&)` to fill
// a slot in place and Pop() calls `read(T&)` to copy one out, so an item holding vectors keeps
// their capacity and the steady state allocates nothing.
//
// Overflow: the producer never waits for consumers.
// - kDropOldest: a full queue gives up its oldest pending item (passed to `on_drop` first) to
//   make room for the new one. Requests from a control loop go stale; the newest matter most.
//   A push drops at most one item: when other producers fill the freed slot first, the new item
//   is rejected (after on_drop saw the dropped one), so the caller has one dropped item to
//   account for, never a list.
// - kDropNewest: a full queue rejects the new item.
// In both policies a push can also be rejected in one narrow case: the slot it needs is being
// copied out by a consumer at that moment and stays so for kMaxSpins polls (a copy takes well
// under a microsecond, so this means a consumer thread was preempted mid-copy).
//
// Threading: Push(), Pop() and size() from any threads, concurrently.
#pragma once

#include <algorithm>
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
    kRejected,        // not queued (full under kDropNewest, full again after a drop, or its
                      // slot busy: see above); on_drop may have seen one dropped item
  };
  static constexpr int kMaxSpins = 4096;

  // `init` prepares every slot's item once (e.g. reserves its vectors). Throws InvalidArgument
  // unless capacity >= 2 (with one slot, a published item and a free slot would carry the same
  // sequence number).
  BoundedQueue(int64_t capacity, Overflow overflow,
               const std::function<void(T&)>& init = nullptr)
      : capacity_(static_cast<uint64_t>(capacity)), overflow_(overflow) {
    Require(capacity >= 2, "a bounded queue needs a capacity >= 2");
    slots_ = std::make_unique<Slot[]>(capacity_);
    for (uint64_t i = 0; i < capacity_; ++i) {
      slots_[i].seq.store(i, std::memory_order_relaxed);
      if (init) init(slots_[i].item);
    }
  }
  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  // Any thread. `write(T&)` fills the slot; `on_drop(const T&)` sees the item dropped under
  // kDropOldest before its slot is reused.
  template <class Write, class OnDrop>
  PushResult Push(Write&& write, OnDrop&& on_drop) {
    bool dropped = false;
    uint64_t pos = head_.load(std::memory_order_relaxed);
    for (int spins = 0;; ++spins) {
      Slot& slot = slots_[pos % capacity_];
      const uint64_t seq = slot.seq.load(std::memory_order_acquire);
      const auto diff = static_cast<int64_t>(seq - pos);
      if (diff == 0) {  // free: claim it
        if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed,
                                        std::memory_order_relaxed)) {
          write(slot.item);
          slot.seq.store(pos + 1, std::memory_order_release);
          return dropped ? PushResult::kReplacedOldest : PushResult::kPushed;
        }
        continue;  // another producer took it; pos was reloaded
      }
      if (diff > 0) {  // another producer claimed pos already
        pos = head_.load(std::memory_order_relaxed);
        continue;
      }
      // The slot is not free for pos: it holds item pos - capacity (the queue is full, or a
      // consumer has claimed that item and is copying it out), or another producer is still
      // writing item pos - capacity into it. Only a written, unclaimed oldest item is dropped.
      uint64_t oldest = pos - capacity_;
      if (seq == oldest + 1 && tail_.load(std::memory_order_acquire) == oldest) {
        if (overflow_ == Overflow::kDropNewest || dropped) return PushResult::kRejected;
        if (tail_.compare_exchange_strong(oldest, oldest + 1, std::memory_order_acq_rel,
                                          std::memory_order_relaxed)) {
          on_drop(static_cast<const T&>(slot.item));
          slot.seq.store(oldest + capacity_, std::memory_order_release);  // free for pos
          dropped = true;
        }
        pos = head_.load(std::memory_order_relaxed);
        continue;
      }
      if (spins >= kMaxSpins) return PushResult::kRejected;
      CpuRelax();
      pos = head_.load(std::memory_order_relaxed);
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
        return false;  // empty (or the newest item is still being written)
      } else {
        t = tail_.load(std::memory_order_relaxed);
      }
    }
  }

  // The item the next Push() will most likely fill (the slot at the head), to prefetch it. Its
  // contents may be changing: read only what never changes after `init` (e.g. where a vector's
  // buffer is).
  const T& NextItem() const { return slots_[head_.load(std::memory_order_relaxed) % capacity_].item; }
  // Brings the head and tail counters and the next slot's sequence number into the caller's
  // cache, for writing (a producer about to push after a pause).
  void PrefetchForPush() const {
    __builtin_prefetch(&head_, 1);
    __builtin_prefetch(&tail_, 1);
    __builtin_prefetch(&slots_[head_.load(std::memory_order_relaxed) % capacity_].seq, 1);
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

  static void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
  }

  const uint64_t capacity_;
  const Overflow overflow_;
  std::unique_ptr<Slot[]> slots_;
  alignas(64) std::atomic<uint64_t> head_{0};  // next position to claim (producers)
  alignas(64) std::atomic<uint64_t> tail_{0};  // next position to take (consumers, droppers)
};

}  // namespace apprentice
