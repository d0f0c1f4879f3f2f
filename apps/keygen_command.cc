// apprentice keygen: a CURVE key pair for the decision service or one of its clients
// (service/curve.h).
#include <cstdio>
#include <string>

#include "apps/commands.h"
#include "apps/flag_values.h"
#include "core/flags.h"
#include "core/json.h"
#include "service/curve.h"

namespace apprentice {
namespace {

constexpr const char* kUsage =
    "usage: apprentice keygen --out BASE [--force] [--json]\n"
    "\n"
    "Writes a CURVE key pair (ZeroMQ's CurveZMQ: Curve25519, Z85 text) for `apprentice serve`\n"
    "or a client of it: BASE.key holds the pair and is readable by its owner only; BASE.pub\n"
    "holds the public key, to hand out. A service is given its own .key (--curve-secret-key) and\n"
    "a file of the clients it accepts (--curve-clients: their .pub files concatenated); a client\n"
    "is given its own .key and the service's .pub.\n"
    "\n"
    "Exit codes: 0 written, 1 a file could not be written, 2 bad flags or a file that exists\n"
    "(--force replaces it).";

}  // namespace

int KeygenCommand(const std::vector<std::string>& args) {
  std::string out;
  bool force = false, json = false;
  FlagSet flags(kUsage);
  flags.String("out", &out, "required: where to write BASE.key and BASE.pub");
  flags.Bool("force", &force, "replace existing files");
  flags.Bool("json", &json, "print the file names and the public key as JSON");
  auto usage_error = [](const std::string& message) {
    return UsageError("apprentice keygen", message);
  };
  if (std::optional<int> done = ParseCommandFlags(flags, args, "apprentice keygen")) return *done;
  if (out.empty()) return usage_error("--out is required");
  Result<CurveKeyPair> keys = GenerateCurveKeyPair();
  if (!keys.ok()) {
    std::fprintf(stderr, "apprentice keygen: %s\n", keys.status().message().c_str());
    return 1;
  }
  if (Status s = WriteCurveKeyFiles(out, *keys, force); !s.ok()) {
    if (s.code() == StatusCode::kInvalidArgument) return usage_error(s.message());
    std::fprintf(stderr, "apprentice keygen: %s\n", s.message().c_str());
    return 1;
  }
  if (json) {
    std::printf("%s\n", Json{{"key_file", out + ".key"},
                             {"public_key_file", out + ".pub"},
                             {"public_key", keys->public_key}}
                            .Dump(2)
                            .c_str());
  } else {
    std::printf("wrote %s.key (the key pair: keep it secret) and %s.pub\npublic key: %s\n",
                out.c_str(), out.c_str(), keys->public_key.c_str());
  }
  return 0;
}

}  // namespace apprentice
