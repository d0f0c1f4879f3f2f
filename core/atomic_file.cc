#include "core/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace apprentice {
namespace {

std::string Reason(int error) { return std::strerror(error); }

// Closes the descriptor when the scope ends (errors from close() on a read-only descriptor, or
// after a failure already reported, carry no information).
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now and reports close()'s error (a written file's last chance to report one).
  int Close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status WriteAndSync(const std::string& tmp, std::span<const uint8_t> bytes, uint32_t mode) {
  ::unlink(tmp.c_str());  // a stale tmp file would keep its own mode
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, static_cast<mode_t>(mode)));
  if (fd.get() < 0) return Status::Unavailable("cannot create " + tmp + ": " + Reason(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Unavailable("cannot write " + tmp + ": " + Reason(errno));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0)
    return Status::Unavailable("cannot sync " + tmp + ": " + Reason(errno));
  if (fd.Close() != 0) return Status::Unavailable("cannot close " + tmp + ": " + Reason(errno));
  return Status::Ok();
}

}  // namespace

Status WriteFileAtomically(const std::string& path, std::span<const uint8_t> bytes,
                           uint32_t mode) {
  const std::string tmp = path + ".tmp";
  if (Status s = WriteAndSync(tmp, bytes, mode); !s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(tmp.c_str());
    return Status::Unavailable("cannot rename " + tmp + " to " + path + ": " + Reason(error));
  }
  // Make the rename itself durable. Some file systems cannot sync a directory (EINVAL); the
  // file's contents are already on disk, so that is not an error.
  const std::string dir = DirectoryOf(path);
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() >= 0 && ::fsync(dir_fd.get()) != 0 && errno != EINVAL) {
    return Status::Unavailable("cannot sync directory " + dir + ": " + Reason(errno));
  }
  return Status::Ok();
}

Status WriteFileAtomically(const std::string& path, std::string_view text, uint32_t mode) {
  return WriteFileAtomically(
      path, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()),
      mode);
}

Status CheckWritable(const std::string& path) {
  const std::string probe = path + ".check-" + std::to_string(::getpid());
  Fd fd(::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) return Status::Unavailable("cannot write " + path + ": " + Reason(errno));
  fd.Close();
  ::unlink(probe.c_str());
  return Status::Ok();
}

Result<std::vector<uint8_t>> ReadFileBytes(const std::string& path, uint64_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    const int error = errno;
    if (error == ENOENT) return Status::NotFound("no file " + path);
    return Status::Unavailable("cannot open " + path + ": " + Reason(error));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return Status::Unavailable("cannot stat " + path + ": " + Reason(errno));
  }
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + " is not a regular file");
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    return Status::DataLoss(path + " has " + std::to_string(size) + " bytes; at most " +
                            std::to_string(max_bytes) + " are expected");
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Unavailable("cannot read " + path + ": " + Reason(errno));
    }
    if (n == 0) break;  // shrank while we read: the caller's checks see a short file
    done += static_cast<size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

}  // namespace apprentice
