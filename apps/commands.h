// The `apprentice` subcommands. Each takes its arguments (after the subcommand name), prints its
// results, and returns the process exit code: 0 success, 1 a failure while running, 2 bad usage.
#pragma once

#include <string>
#include <vector>

namespace apprentice {

int RunCommand(const std::vector<std::string>& args);
// Offline commands on episode logs (runtime/offline.h).
int InspectCommand(const std::vector<std::string>& args);
int EvalCommand(const std::vector<std::string>& args);
int DistillCommand(const std::vector<std::string>& args);
// The decision service (service/service.h).
int ServeCommand(const std::vector<std::string>& args);
// CURVE key pairs for the service and its clients (service/curve.h).
int KeygenCommand(const std::vector<std::string>& args);
// An HTML page with plots of one or several run directories (runtime/run_report.h).
int ReportCommand(const std::vector<std::string>& args);
// A planner worker for runs whose planners are elsewhere (nats/planner_worker.h).
int PlannerWorkerCommand(const std::vector<std::string>& args);
// The learner of a run whose agents send their records over NATS (runtime/learner_service.h).
int LearnerCommand(const std::vector<std::string>& args);
// The fraud-decision loop's tools (fraud/).
int FraudCommand(const std::vector<std::string>& args);

}  // namespace apprentice
