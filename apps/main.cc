// apprentice: the command line. Exceptions stop here: every error becomes a message on stderr
// and an exit code (1 a failure while running, 2 bad usage).
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "apps/signals.h"

namespace {

constexpr const char* kHelp =
    "usage: apprentice <command> [flags]\n"
    "\n"
    "A slow planner teaches a fast executor while the system runs.\n"
    "\n"
    "Commands:\n"
    "  run       live distillation on an environment, then evaluation (default: cartpole + mcts)\n"
    "  inspect   what an episode log holds: records, episodes, returns, damage\n"
    "  eval      score an executor snapshot against the planner labels of a log; roll it out\n"
    "  distill   train an executor offline from a log, with held-out episodes\n"
    "  serve     the decision service: act and feedback over ZeroMQ + MessagePack\n"
    "  keygen    a CURVE key pair for the service or a client\n"
    "  fraud     the fraud-decision loop: generate a transaction stream\n"
    "  report    an HTML page with plots of one or several runs\n"
    "  planner-worker  label a run's plan requests pulled from NATS JetStream, on any machine\n"
    "  learner         train a run's executor from its record stream on NATS; survives restarts\n"
    "  version   print the version\n"
    "\n"
    "Run 'apprentice <command> --help' for a command's flags.\n";

}  // namespace

int main(int argc, char** argv) {
  apprentice::InstallSignalStop("apprentice");
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kHelp, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  try {
    if (command == "run") return apprentice::RunCommand(args);
    if (command == "inspect") return apprentice::InspectCommand(args);
    if (command == "eval") return apprentice::EvalCommand(args);
    if (command == "distill") return apprentice::DistillCommand(args);
    if (command == "serve") return apprentice::ServeCommand(args);
    if (command == "keygen") return apprentice::KeygenCommand(args);
    if (command == "fraud") return apprentice::FraudCommand(args);
    if (command == "report") return apprentice::ReportCommand(args);
    if (command == "planner-worker") return apprentice::PlannerWorkerCommand(args);
    if (command == "learner") return apprentice::LearnerCommand(args);
    if (command == "version" || command == "--version") {
      std::printf("apprentice %s\n", APPRENTICE_VERSION);
      return 0;
    }
    std::fprintf(stderr, "apprentice: unknown command '%s'\n\n%s", command.c_str(), kHelp);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "apprentice %s: error: %s\n", command.c_str(), e.what());
    return 1;
  }
}
