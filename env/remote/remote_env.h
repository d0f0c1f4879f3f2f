// RemoteEnv: an environment served by another process (any language) over ZeroMQ + MessagePack,
// the protocol of docs/remote-env.md. python/apprentice_env.py serves any Gymnasium-style Python
// object with it; examples/python/catch_game.py is a game served that way.
//
//   RemoteEnv ── DEALER ── [empty, {v, type: "step", env: 7, action: 2}] ──▶ REP/ROUTER server
//             ◀─────────── [empty, {v, type: "step", obs, reward, terminated, truncated}] ──┘
//
// - Construction connects to `address`, asks the server for its spaces ("hello") and opens an
//   instance of its environment ("make"); no answer within timeout_ms is an InvalidArgument that
//   names the address (the registry turns it into a clear error at startup).
// - Every later request waits at most timeout_ms for its reply. A slow or dead server, a reply
//   that breaks the protocol, or an error the server blames on itself throws EnvFailure
//   (env/env.h) and leaves this env unusable: every later call throws EnvFailure at once. The
//   server's `invalid_action` and `episode_over` errors are the caller's: InvalidArgument, as for
//   any env (actions are also checked here before they are sent).
// - Clone() opens another instance on the same server and copies this one's state into it
//   ("copy", done by the server); CopyStateFrom() copies another RemoteEnv's state the same way.
//   Both need a server that offers "copy" (hello's ops): model-based planners (MCTS, MPPI, CEM)
//   plan on such clones. Without it Clone() throws InvalidArgument saying so; a planner that
//   needs no env (torchscript) still teaches.
// - Each RemoteEnv (each clone) has its own socket, so clones are used from different threads
//   like any env (one thread per env at a time). The destructor closes the instance on the
//   server without waiting for the answer.
// - Not on a microsecond budget: every Reset/Step/CopyStateFrom is a round trip to the server
//   (tens of microseconds on loopback) and allocates.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/options.h"
#include "core/space.h"
#include "core/status.h"
#include "env/env.h"

namespace apprentice {

class RemoteEnv final : public Env {
 public:
  struct Options {
    std::string address = "tcp://127.0.0.1:5600";  // the env server's ZeroMQ endpoint
    int64_t timeout_ms = 10'000;       // the longest wait for any reply
    int64_t max_message_bytes = 16 << 20;  // a longer reply is refused (EnvFailure)
    void Declare(OptionBinder& b);
    Status Validate() const;
  };

  explicit RemoteEnv(const Options& options);
  ~RemoteEnv() override;
  RemoteEnv(const RemoteEnv&) = delete;
  RemoteEnv& operator=(const RemoteEnv&) = delete;

  // "remote"; the server's own name is server_name().
  std::string name() const override { return "remote"; }
  const Space& observation_space() const override;
  const Space& action_space() const override;
  int64_t max_episode_steps() const override;

  std::span<const float> Reset(uint64_t seed) override;
  StepResult Step(const Action& action) override;
  std::unique_ptr<Env> Clone() const override;
  Status CopyStateFrom(const Env& other) override;
  int64_t elapsed_steps() const override { return elapsed_; }

  // What the server said about itself in its hello.
  const std::string& server_name() const;
  // The optional operations the server offers ("get_state", "set_state", "copy").
  bool offers(std::string_view op) const;
  // The server's opaque state of this instance ("get_state"), and setting it ("set_state"): for
  // tools that save a state outside the server. NotFound-style InvalidArgument when the server
  // does not offer them; EnvFailure when it fails.
  std::string GetState();
  void SetState(std::string_view state);

  // The instance id the server gave this env.
  uint64_t instance() const { return instance_; }

  struct Server;  // what hello said, shared by an env and its clones (remote_env.cc)
  class Link;     // one socket and its request/reply exchange (remote_env.cc)

 private:
  explicit RemoteEnv(std::shared_ptr<const Server> server);
  void Open();  // "make"

  std::shared_ptr<const Server> server_;
  std::unique_ptr<Link> link_;
  uint64_t instance_ = 0;
  std::vector<float> observation_;
  int64_t elapsed_ = 0;
  bool started_ = false, done_ = false;
};

}  // namespace apprentice
