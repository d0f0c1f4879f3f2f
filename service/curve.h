// CURVE security for the decision service: key pairs, key files and the list of clients allowed.
//
// ZeroMQ's CURVE mechanism (CurveZMQ: Curve25519 keys, encrypted and authenticated connections)
// with keys written as Z85 text (40 characters). The service holds a key pair; a client must know
// the service's public key and hold a key pair of its own, whose public key must be listed in the
// allowed-clients file: the service's ZAP handler (service.cc) refuses every other client during
// the handshake, before any request is read, so an unlisted client gets nothing.
//
// Files (`apprentice keygen NAME` writes the first two):
//   NAME.key   the key pair, readable by its owner only (mode 0600):
//                # apprentice CURVE key pair: keep this file secret
//                public-key = <40 Z85 characters>
//                secret-key = <40 Z85 characters>
//   NAME.pub   the public key alone, to hand out:
//                public-key = <40 Z85 characters>
//   allowed    the clients a service accepts: public keys, one per line, each either
//              "public-key = KEY" (so that .pub files can be concatenated) or the bare KEY;
//              blank lines and lines starting with '#' are ignored.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace apprentice {

struct CurveKeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;  // Z85, 40 characters
};

// A new key pair from libzmq's CSPRNG. Unavailable when libzmq has no CURVE support.
Result<CurveKeyPair> GenerateCurveKeyPair();

// InvalidArgument unless `key` is 40 Z85 characters that decode to a 32-byte key.
Status CheckCurveKey(const std::string& key);

// Writes `base`.key (mode 0600) and `base`.pub, each atomically. AlreadyExists-style
// InvalidArgument when either exists and `overwrite` is false; Unavailable when a file cannot be
// written.
Status WriteCurveKeyFiles(const std::string& base, const CurveKeyPair& keys, bool overwrite);

// A key pair from a .key file; the public key is checked against the secret one. NotFound for a
// missing file, InvalidArgument naming the file and line for anything malformed.
Result<CurveKeyPair> ReadCurveKeyPair(const std::string& path);

// The public keys of a .pub file or of an allowed-clients file (see above), in file order,
// duplicates removed. Errors as ReadCurveKeyPair; an empty list is InvalidArgument.
Result<std::vector<std::string>> ReadCurvePublicKeys(const std::string& path);

}  // namespace apprentice
