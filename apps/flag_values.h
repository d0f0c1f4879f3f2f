// Flag values that several commands parse the same way.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/label_selection.h"
#include "core/flags.h"
#include "core/options.h"
#include "core/status.h"
#include "distiller/distiller.h"
#include "nats/nats_link.h"

namespace apprentice {

// Prints "<command>: <message>" to stderr and returns 2, the exit code of bad usage.
int UsageError(std::string_view command, const std::string& message);

// Parses a subcommand's `args` into `flags`: the exit code to end with — 2 after a usage error
// (UsageError), 0 after printing the help for --help — or nullopt when the command goes on.
std::optional<int> ParseCommandFlags(FlagSet& flags, const std::vector<std::string>& args,
                                     std::string_view command);

// --hidden: comma-separated layer widths in [1, 4096], e.g. "64,64". InvalidArgument naming the
// flag and the text otherwise.
Result<std::vector<int64_t>> ParseHiddenWidths(const std::string& text);

// Ok unless `feature_weight` > 0 and the teacher gives no features (feature distillation needs
// --planner torchscript --torchscript-features true); a message for the command line then.
Status CheckFeatureTeacher(double feature_weight, const std::string& planner,
                           const OptionValues& planner_options);

// The distillation flags (--hidden into `hidden`, for ParseHiddenWidths; --temperature, --alpha,
// --lr, --batch-size, and with `publish_every` — live training from a teacher — --publish-every
// and --feature-weight) into `options`.
void DeclareDistillerFlags(FlagSet& flags, Distiller::Options& options, std::string& hidden,
                           bool publish_every);

// --label-policy (into `policy`) and --label-fraction: which decisions the teacher labels.
void DeclareLabelFlags(FlagSet& flags, std::string& policy, LabelSelection& labels);
// After parsing: sets labels.policy; InvalidArgument when --label-fraction came without a policy
// that uses it.
Status ApplyLabelFlags(const FlagSet& flags, const std::string& policy, LabelSelection& labels);

// The flags of every command on NATS: --nats (`url_help` says what goes there), --nats-run, the
// security files (--nats-tls-ca, --nats-tls-cert, --nats-tls-key, --nats-nkey) and
// --nats-replicas.
void DeclareNatsFlags(FlagSet& flags, std::string& url, std::string& run, NatsSecurity& security,
                      int64_t& replicas, const std::string& url_help);

}  // namespace apprentice
