#include "service/journal.h"

#include <algorithm>
#include <filesystem>

namespace apprentice {
namespace {

EpisodeLogWriter::Options WriterOptions(const std::string& directory,
                                        const DecisionJournal::Options& options) {
  EpisodeLogWriter::Options o;
  o.directory = directory;
  o.flush_every_records = 0;  // Commit() decides when bytes go out
  o.fsync = options.fsync;
  o.segment_bytes = options.segment_bytes;
  return o;
}

}  // namespace

DecisionJournal::DecisionJournal(Options options, EpisodeLogWriter decisions,
                                 EpisodeLogWriter feedback)
    : options_(std::move(options)),
      decisions_dir_(options_.directory + "/decisions"),
      feedback_dir_(options_.directory + "/feedback"),
      decisions_log_(std::move(decisions)),
      feedback_log_(std::move(feedback)) {}

DecisionJournal::~DecisionJournal() { (void)Close(); }

Result<std::unique_ptr<DecisionJournal>> DecisionJournal::Open(Options options,
                                                              EpisodeLogMetadata metadata) {
  if (options.directory.empty()) return Status::InvalidArgument("journal: no directory given");
  const std::string decisions_dir = options.directory + "/decisions";
  const std::string feedback_dir = options.directory + "/feedback";
  std::error_code ec;
  std::filesystem::create_directories(decisions_dir, ec);
  std::filesystem::create_directories(feedback_dir, ec);
  if (ec) {
    return Status::Unavailable("journal: cannot create " + options.directory + ": " +
                               ec.message());
  }

  Result<EpisodeLogWriter> decisions_log =
      EpisodeLogWriter::Open(WriterOptions(decisions_dir, options), metadata);
  if (!decisions_log.ok()) return decisions_log.status();
  Result<EpisodeLogWriter> feedback_log =
      EpisodeLogWriter::Open(WriterOptions(feedback_dir, options), metadata);
  if (!feedback_log.ok()) return feedback_log.status();
  std::unique_ptr<DecisionJournal> journal(new DecisionJournal(
      std::move(options), std::move(*decisions_log), std::move(*feedback_log)));

  // What earlier runs left (the writers' new segments are still empty): the index, the next ids,
  // the ids with their ground truth.
  {
    Result<EpisodeLogReader> reader = EpisodeLogReader::Open(decisions_dir);
    if (!reader.ok()) return reader.status();
    DecisionRecord r;
    for (;;) {
      Result<bool> more = reader->Next(r);
      if (!more.ok()) return more.status();
      if (!*more) break;
      // Out of order: not findable through the index.
      if (r.decision_id >= journal->next_id_) journal->Track(r, reader->location(), journal->index_);
    }
    journal->damage_ = reader->damage();
  }
  {
    Result<EpisodeLogReader> reader = EpisodeLogReader::Open(feedback_dir);
    if (!reader.ok()) return reader.status();
    DecisionRecord r;
    for (;;) {
      Result<bool> more = reader->Next(r);
      if (!more.ok()) return more.status();
      if (!*more) break;
      ++journal->feedback_;
      if (r.has_truth) journal->truths_.Insert(r.decision_id);
    }
    journal->damage_.insert(journal->damage_.end(), reader->damage().begin(),
                            reader->damage().end());
  }
  journal->committed_below_ = journal->next_id_;
  return journal;
}

void DecisionJournal::Track(const DecisionRecord& decision, EpisodeLogLocation where,
                            std::vector<IndexEntry>& index) {
  if (where.segment != last_segment_ || since_index_ >= kIndexEvery) {
    index.push_back({decision.decision_id, where});
    since_index_ = 0;
  }
  last_segment_ = where.segment;
  ++since_index_;
  ++decisions_;
  next_id_ = decision.decision_id + 1;
  next_episode_ = std::max(next_episode_, decision.episode + 1);
}

Status DecisionJournal::AppendDecision(const DecisionRecord& decision) {
  if (decision.decision_id < next_id_) {
    return Status::InvalidArgument("journal: decision " + std::to_string(decision.decision_id) +
                                   " is not after decision " + std::to_string(next_id_ - 1));
  }
  EpisodeLogLocation where;
  if (Status s = decisions_log_.Append(decision, &where); !s.ok()) return s;
  Track(decision, where, uncommitted_);
  pending_ = true;
  return Status::Ok();
}

Status DecisionJournal::AppendFeedback(const DecisionRecord& feedback) {
  if (Status s = feedback_log_.Append(feedback); !s.ok()) return s;
  ++feedback_;
  pending_ = true;
  return Status::Ok();
}

Status DecisionJournal::Commit() {
  if (!pending_) return Status::Ok();
  if (Status s = decisions_log_.Flush(); !s.ok()) return s;
  if (Status s = feedback_log_.Flush(); !s.ok()) return s;
  pending_ = false;
  std::lock_guard lock(index_mu_);
  index_.insert(index_.end(), uncommitted_.begin(), uncommitted_.end());
  uncommitted_.clear();
  committed_below_ = next_id_;
  return Status::Ok();
}

Result<std::optional<DecisionRecord>> DecisionJournal::Find(uint64_t id) const {
  IndexEntry from, until;
  bool bounded = false;
  {
    std::lock_guard lock(index_mu_);
    if (id == 0 || id >= committed_below_) return std::optional<DecisionRecord>();
    auto after = std::upper_bound(index_.begin(), index_.end(), id,
                                  [](uint64_t v, const IndexEntry& e) { return v < e.first_id; });
    if (after == index_.begin()) return std::optional<DecisionRecord>();
    from = *std::prev(after);
    if (after != index_.end()) {
      until = *after;
      bounded = true;
    }
  }
  // The decision lies between `from` and the next entry, in `from`'s segment: read forward.
  DecisionRecord r;
  EpisodeLogLocation at = from.where;
  for (int64_t i = 0; i <= kIndexEvery; ++i) {
    if (bounded && at.segment == until.where.segment && at.offset >= until.where.offset) break;
    int64_t frame_bytes = 0;
    const Status s = ReadEpisodeLogRecordAt(decisions_dir_, at, r, &frame_bytes);
    if (!s.ok()) {
      if (s.code() == StatusCode::kDataLoss && !bounded) break;  // the end of the newest segment
      return Status(s.code(), "journal: decision " + std::to_string(id) + ": " + s.message());
    }
    if (r.decision_id == id) return std::optional<DecisionRecord>(std::move(r));
    if (r.decision_id > id) break;
    at.offset += frame_bytes;
  }
  return std::optional<DecisionRecord>();
}

Status DecisionJournal::Close() {
  if (closed_) return Status::Ok();
  closed_ = true;
  Status status = Commit();
  const Status d = decisions_log_.Close();
  const Status f = feedback_log_.Close();
  if (status.ok()) status = !d.ok() ? d : f;
  return status;
}

}  // namespace apprentice
