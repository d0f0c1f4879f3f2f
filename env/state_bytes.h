// State bytes: how an env writes its full state for Env::SaveState() and reads it back in
// LoadState(). The bytes start with the env's name and a format version, then the fields, each
// 8 bytes little-endian; a reader checks the name, the version, every field's presence and that
// nothing follows, so bytes of another env, another format or a damaged copy are refused.
#pragma once

#include <bit>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace apprentice {

class StateWriter {
 public:
  StateWriter(std::string_view env_name, uint8_t version) {
    bytes_.append(env_name);
    bytes_.push_back('\0');
    bytes_.push_back(static_cast<char>(version));
  }
  void I64(int64_t v) { Put(static_cast<uint64_t>(v)); }
  void F64(double v) { Put(std::bit_cast<uint64_t>(v)); }
  std::string Take() { return std::move(bytes_); }

 private:
  void Put(uint64_t v) {
    for (int i = 0; i < 8; ++i) bytes_.push_back(static_cast<char>(v >> (8 * i)));
  }
  std::string bytes_;
};

class StateReader {
 public:
  // ok() is false when `bytes` are not state bytes of `env_name` in format `version`.
  StateReader(std::string_view bytes, std::string_view env_name, uint8_t version) {
    const size_t header = env_name.size() + 2;
    ok_ = bytes.size() >= header && bytes.substr(0, env_name.size()) == env_name &&
          bytes[env_name.size()] == '\0' &&
          static_cast<uint8_t>(bytes[env_name.size() + 1]) == version;
    if (ok_) rest_ = bytes.substr(header);
  }
  bool ok() const { return ok_; }
  bool I64(int64_t& v) {
    uint64_t u = 0;
    if (!Get(u)) return false;
    v = static_cast<int64_t>(u);
    return true;
  }
  bool F64(double& v) {
    uint64_t u = 0;
    if (!Get(u)) return false;
    v = std::bit_cast<double>(u);
    return true;
  }
  // Every field was read and nothing follows.
  bool Done() const { return ok_ && rest_.empty(); }

 private:
  bool Get(uint64_t& v) {
    if (!ok_ || rest_.size() < 8) return ok_ = false;
    v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<uint8_t>(rest_[i])} << (8 * i);
    rest_.remove_prefix(8);
    return true;
  }
  bool ok_ = false;
  std::string_view rest_;
};

}  // namespace apprentice
