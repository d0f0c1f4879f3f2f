// Status, Result<T> and the error policy of apprentice.
//
// - Recoverable runtime conditions (a timeout, a closed queue, a malformed message, a bad
//   option value read from a user) are values: Status or Result<T>.
// - Caller bugs (a wrong-size observation, an out-of-range action, a broken precondition) throw
//   InvalidArgument with a message that names what was wrong. The process boundary (main, a
//   socket handler) translates it once into a clear message and a non-zero exit or error reply.
#pragma once

#include <cassert>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace apprentice {

enum class StatusCode { kOk, kInvalidArgument, kNotFound, kUnavailable, kDeadlineExceeded,
                        kDataLoss, kInternal };

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status DeadlineExceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }
  static Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Thrown for caller bugs: a broken precondition. Carries a message naming what was wrong.
class InvalidArgument : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Throws InvalidArgument(message) unless `condition` holds.
inline void Require(bool condition, const std::string& message) {
  if (!condition) throw InvalidArgument(message);
}
// Throws InvalidArgument(status.message()) unless `status` is ok.
inline void RequireOk(const Status& status) {
  if (!status.ok()) throw InvalidArgument(status.message());
}
// `options` after RequireOk(options.Validate()): for constructors' member initialisers.
template <typename Options>
const Options& Validated(const Options& options) {
  RequireOk(options.Validate());
  return options;
}

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : data_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(data_).ok() && "a Result needs a value or an error");
  }

  bool ok() const { return std::holds_alternative<T>(data_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(data_);
  }
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // The value; throws InvalidArgument with the error's message when there is none.
  T ValueOrThrow() && {
    if (!ok()) throw InvalidArgument(std::get<Status>(data_).message());
    return std::get<T>(std::move(data_));
  }

 private:
  std::variant<T, Status> data_;
};

}  // namespace apprentice
