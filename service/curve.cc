#include "service/curve.h"

#include <zmq.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <sstream>

#include "core/atomic_file.h"

namespace apprentice {
namespace {

constexpr size_t kZ85KeyChars = 40;
constexpr uint64_t kMaxKeyFileBytes = 1 << 20;

std::string Trim(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return {};
  const size_t end = s.find_last_not_of(" \t\r");
  return s.substr(begin, end - begin + 1);
}

// The file's lines as (line number, "name = value" split) pairs; comments and blanks skipped.
struct Line {
  int number = 0;
  std::string name;   // empty for a bare value
  std::string value;
};

Result<std::vector<Line>> ReadLines(const std::string& path) {
  Result<std::vector<uint8_t>> bytes = ReadFileBytes(path, kMaxKeyFileBytes);
  if (!bytes.ok()) {
    if (bytes.status().code() == StatusCode::kNotFound) {
      return Status::NotFound("key file " + path + " not found");
    }
    return Status(bytes.status().code(), "key file " + path + ": " + bytes.status().message());
  }
  std::istringstream in(std::string(bytes->begin(), bytes->end()));
  std::vector<Line> lines;
  std::string text;
  int number = 0;
  while (std::getline(in, text)) {
    ++number;
    const std::string trimmed = Trim(text);
    if (trimmed.empty() || trimmed[0] == '#') continue;
    Line line;
    line.number = number;
    // "name = value" for the two names keys are written with; anything else is a bare value
    // ('=' is a Z85 character, so a bare key may hold one).
    line.value = trimmed;
    for (const char* name : {"public-key", "secret-key"}) {
      const std::string prefix = name;
      if (trimmed.compare(0, prefix.size(), prefix) != 0) continue;
      const std::string rest = Trim(trimmed.substr(prefix.size()));
      if (rest.empty() || rest[0] != '=') continue;
      line.name = prefix;
      line.value = Trim(rest.substr(1));
    }
    if (line.value.size() >= 2 && line.value.front() == '"' && line.value.back() == '"') {
      line.value = line.value.substr(1, line.value.size() - 2);
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

Status AtLine(const std::string& path, const Line& line, const std::string& what) {
  return Status::InvalidArgument("key file " + path + ", line " + std::to_string(line.number) +
                                 ": " + what);
}

}  // namespace

Result<CurveKeyPair> GenerateCurveKeyPair() {
  if (zmq_has("curve") == 0) {
    return Status::Unavailable("this libzmq was built without CURVE support");
  }
  std::array<char, kZ85KeyChars + 1> public_key{}, secret_key{};
  if (zmq_curve_keypair(public_key.data(), secret_key.data()) != 0) {
    return Status::Unavailable(std::string("cannot make a CURVE key pair: ") +
                               zmq_strerror(zmq_errno()));
  }
  return CurveKeyPair{public_key.data(), secret_key.data()};
}

Status CheckCurveKey(const std::string& key) {
  if (key.size() != kZ85KeyChars) {
    return Status::InvalidArgument("a CURVE key is " + std::to_string(kZ85KeyChars) +
                                   " Z85 characters, not " + std::to_string(key.size()));
  }
  std::array<uint8_t, 32> decoded{};
  if (zmq_z85_decode(decoded.data(), key.c_str()) == nullptr) {
    return Status::InvalidArgument("'" + key + "' is not a Z85-encoded key");
  }
  return Status::Ok();
}

Status WriteCurveKeyFiles(const std::string& base, const CurveKeyPair& keys, bool overwrite) {
  if (Status s = CheckCurveKey(keys.public_key); !s.ok()) return s;
  if (Status s = CheckCurveKey(keys.secret_key); !s.ok()) return s;
  const std::string secret_path = base + ".key", public_path = base + ".pub";
  std::error_code ec;
  for (const std::string& path : {secret_path, public_path}) {
    if (!overwrite && std::filesystem::exists(path, ec)) {
      return Status::InvalidArgument(path + " exists; not replaced (--force replaces it)");
    }
  }
  const std::string secret =
      "# apprentice CURVE key pair: keep this file secret\n"
      "public-key = " + keys.public_key + "\nsecret-key = " + keys.secret_key + "\n";
  if (Status s = WriteFileAtomically(secret_path, secret, 0600); !s.ok()) return s;
  const std::string pub =
      "# apprentice CURVE public key: list it in a service's allowed-clients file\n"
      "public-key = " + keys.public_key + "\n";
  return WriteFileAtomically(public_path, pub);
}

Result<CurveKeyPair> ReadCurveKeyPair(const std::string& path) {
  Result<std::vector<Line>> lines = ReadLines(path);
  if (!lines.ok()) return lines.status();
  CurveKeyPair keys;
  for (const Line& line : *lines) {
    std::string* field = line.name == "public-key"   ? &keys.public_key
                         : line.name == "secret-key" ? &keys.secret_key
                                                     : nullptr;
    if (field == nullptr) {
      return AtLine(path, line, "expected 'public-key = KEY' or 'secret-key = KEY'");
    }
    if (Status s = CheckCurveKey(line.value); !s.ok()) return AtLine(path, line, s.message());
    *field = line.value;
  }
  if (keys.secret_key.empty()) {
    return Status::InvalidArgument("key file " + path +
                                   " has no secret-key (a .pub file? give the .key file)");
  }
  std::array<char, kZ85KeyChars + 1> derived{};
  if (zmq_curve_public(derived.data(), keys.secret_key.c_str()) != 0) {
    return Status::InvalidArgument("key file " + path + ": cannot derive the public key");
  }
  if (keys.public_key.empty()) keys.public_key = derived.data();
  if (keys.public_key != derived.data()) {
    return Status::InvalidArgument("key file " + path +
                                   ": its public-key is not the secret-key's public key");
  }
  return keys;
}

Result<std::vector<std::string>> ReadCurvePublicKeys(const std::string& path) {
  Result<std::vector<Line>> lines = ReadLines(path);
  if (!lines.ok()) return lines.status();
  std::vector<std::string> keys;
  for (const Line& line : *lines) {
    if (line.name == "secret-key") {
      return AtLine(path, line, "a secret key in a list of public keys (give the .pub file)");
    }
    if (Status s = CheckCurveKey(line.value); !s.ok()) return AtLine(path, line, s.message());
    if (std::find(keys.begin(), keys.end(), line.value) == keys.end()) keys.push_back(line.value);
  }
  if (keys.empty()) return Status::InvalidArgument("key file " + path + " lists no public key");
  return keys;
}

}  // namespace apprentice
