// DecisionJournal: what the decision service has answered, on disk before the answer leaves.
//
//   service thread: AppendDecision / AppendFeedback (a burst of requests) ── Commit ── replies
//   DIR/decisions/segment-N.alog   one record per decision: id, episode, step, observation, the
//                                  executor's output, action and version
//   DIR/feedback/segment-N.alog    one record per accepted feedback: id, reward, done, truth
//
// Both are episode logs (replay/episode_log.h: CRC-framed segments; a torn tail costs only the
// records in it; `apprentice inspect DIR/decisions` reads them). The durability rule: the service
// appends the records of a burst of requests, then Commit()s — the bytes reach the operating
// system (with `fsync`, the disk) — and only then sends the burst's replies. A reply therefore
// means its decision or feedback survives a crash of the process (with `fsync`, of the machine);
// a crash loses only requests whose replies were not sent.
//
// Lookups: Find(id) reads a decision back through a sparse index (the location of every
// kIndexEvery-th decision and of each segment's first; ids are appended in increasing order), so
// that feedback arriving weeks later, or after a restart, is joined with its decision without
// decisions being held in memory. Open() rebuilds the index, the next decision id and the ids
// that have their ground truth already from the files.
//
// Memory: 24 bytes per kIndexEvery decisions and one bit per decision id (ground truth seen).
//
// Threading: Open, Append*, Commit and the accessors on one thread (the service's);
// Find() from any thread, concurrently with the appends (it reads what has been committed).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/decision.h"
#include "core/status.h"
#include "replay/episode_log.h"

namespace apprentice {

// A set of decision ids, one bit each (bit id % 64 of word id / 64): memory grows with the
// largest id, 1 bit per decision. One thread.
class DecisionIdSet {
 public:
  bool Contains(uint64_t id) const {
    const size_t word = static_cast<size_t>(id / 64);
    return word < words_.size() && (words_[word] >> (id % 64) & 1) != 0;
  }
  void Insert(uint64_t id) {
    const size_t word = static_cast<size_t>(id / 64);
    if (words_.size() <= word) words_.resize(std::max(word + 1, 2 * words_.size()), 0);
    words_[word] |= uint64_t{1} << (id % 64);
  }

 private:
  std::vector<uint64_t> words_;
};

class DecisionJournal {
 public:
  static constexpr int64_t kIndexEvery = 256;

  struct Options {
    std::string directory;  // holds decisions/ and feedback/; created if missing
    bool fsync = false;     // Commit() waits for the disk (fdatasync), not just the OS
    int64_t segment_bytes = int64_t{64} << 20;  // each log rotates to a new segment past this
  };

  // Opens (or creates) the journal and reads what it holds. Damaged stretches are skipped (their
  // decisions cannot be found; damage() lists them). InvalidArgument for an empty directory
  // name, Unavailable when the files cannot be created or read.
  static Result<std::unique_ptr<DecisionJournal>> Open(Options options,
                                                      EpisodeLogMetadata metadata);
  ~DecisionJournal();
  DecisionJournal(const DecisionJournal&) = delete;
  DecisionJournal& operator=(const DecisionJournal&) = delete;

  // The first id after every decision in the journal (1 for a new one): where a restarted
  // service continues numbering.
  uint64_t next_decision_id() const { return next_id_; }
  int64_t next_episode() const { return next_episode_; }  // likewise for episode ids
  int64_t decisions() const { return decisions_; }  // in the journal, earlier runs included
  int64_t feedback() const { return feedback_; }
  const std::vector<EpisodeLogDamage>& damage() const { return damage_; }

  // Buffers a decision (its id must exceed every earlier one: InvalidArgument otherwise) or a
  // feedback record (decision_id and the outcome fields). Nothing is on disk before Commit().
  // An I/O error sticks: every later call returns it.
  Status AppendDecision(const DecisionRecord& decision);
  Status AppendFeedback(const DecisionRecord& feedback);
  // What was appended reaches the OS (the disk with fsync). Cheap when nothing was appended.
  Status Commit();

  // The ids whose feedback carried a ground-truth label, as Open() read them (the service refuses
  // a second label for one decision).
  const DecisionIdSet& truths() const { return truths_; }

  // The committed decision `id`: nullopt when the journal never held it (or it sits in a damaged
  // stretch), DataLoss when its record cannot be read back intact.
  Result<std::optional<DecisionRecord>> Find(uint64_t id) const;

  // Close both logs (Commit first). Later calls return Ok.
  Status Close();

 private:
  struct IndexEntry {
    uint64_t first_id = 0;  // the decision at `where`
    EpisodeLogLocation where;
  };
  DecisionJournal(Options options, EpisodeLogWriter decisions, EpisodeLogWriter feedback);
  // A decision now in the journal at `where`: the next ids, and an index entry into `index`
  // where one is due (each segment's first decision and every kIndexEvery-th).
  void Track(const DecisionRecord& decision, EpisodeLogLocation where,
             std::vector<IndexEntry>& index);

  const Options options_;
  const std::string decisions_dir_, feedback_dir_;
  EpisodeLogWriter decisions_log_, feedback_log_;
  bool pending_ = false;  // appended since the last Commit()
  bool closed_ = false;
  uint64_t next_id_ = 1;
  int64_t next_episode_ = 0;
  uint64_t last_segment_ = UINT64_MAX;  // segment of the newest decision (index bookkeeping)
  int64_t decisions_ = 0, feedback_ = 0;
  int64_t since_index_ = 0;
  DecisionIdSet truths_;
  std::vector<EpisodeLogDamage> damage_;

  mutable std::mutex index_mu_;
  std::vector<IndexEntry> index_;        // guarded by index_mu_; first_id increasing
  std::vector<IndexEntry> uncommitted_;  // entries of decisions appended since Commit()
  uint64_t committed_below_ = 1;         // guarded by index_mu_: ids below it are on disk
};

}  // namespace apprentice
