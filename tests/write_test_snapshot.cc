// write_test_snapshot FILE OBS ACTIONS [SEED]: writes an executor snapshot file of a small
// untrained network (OBS inputs, a categorical head of ACTIONS), with its spaces recorded, for
// tests that serve a snapshot without training one first. Torch-free.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/space.h"
#include "executor/snapshot.h"
#include "executor/snapshot_file.h"

int main(int argc, char** argv) {
  using namespace apprentice;
  if (argc < 4 || argc > 5) {
    std::fprintf(stderr, "usage: write_test_snapshot FILE OBS ACTIONS [SEED]\n");
    return 2;
  }
  const int64_t obs = std::atoll(argv[2]), actions = std::atoll(argv[3]);
  const uint64_t seed = argc == 5 ? std::strtoull(argv[4], nullptr, 10) : 1;
  if (obs < 1 || actions < 1) {
    std::fprintf(stderr, "write_test_snapshot: OBS and ACTIONS must be at least 1\n");
    return 2;
  }
  const Space observation_space = Space::Box(-INFINITY, INFINITY, {obs});
  const Space action_space = Space::Discrete(actions);
  Result<MlpSpec> spec = StudentSpec(observation_space, action_space, {32}, Activation::kTanh);
  if (!spec.ok()) {
    std::fprintf(stderr, "write_test_snapshot: %s\n", spec.status().message().c_str());
    return 2;
  }
  auto snapshot = Snapshot::Create(*spec, InitialParameters(*spec, seed), 1);
  if (!snapshot.ok()) return 1;
  const Status s = SaveSnapshot(**snapshot,
                                {"test", observation_space.ToString(), action_space.ToString(),
                                 "write_test_snapshot seed " + std::to_string(seed)},
                                argv[1]);
  if (!s.ok()) {
    std::fprintf(stderr, "write_test_snapshot: %s\n", s.message().c_str());
    return 1;
  }
  return 0;
}
