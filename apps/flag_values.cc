#include "apps/flag_values.h"

#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "planner/registry.h"

namespace apprentice {

int UsageError(std::string_view command, const std::string& message) {
  std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(command.size()), command.data(),
               message.c_str());
  return 2;
}

std::optional<int> ParseCommandFlags(FlagSet& flags, const std::vector<std::string>& args,
                                     std::string_view command) {
  if (Status s = flags.Parse(args); !s.ok()) return UsageError(command, s.message());
  if (flags.help_requested()) {
    std::printf("%s", flags.Help().c_str());
    return 0;
  }
  return std::nullopt;
}

Result<std::vector<int64_t>> ParseHiddenWidths(const std::string& text) {
  std::vector<int64_t> widths;
  if (!text.empty() && text.back() == ',') {
    return Status::InvalidArgument("--hidden: '" + text + "' ends with a comma");
  }
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const long long w = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || w < 1 || w > 4096) {
      return Status::InvalidArgument("--hidden: '" + text +
                                     "' is not a comma-separated list of widths in [1, 4096]");
    }
    widths.push_back(w);
  }
  if (widths.empty()) return Status::InvalidArgument("--hidden: give at least one width");
  return widths;
}

Status CheckFeatureTeacher(double feature_weight, const std::string& planner,
                           const OptionValues& planner_options) {
  if (feature_weight == 0.0) return Status::Ok();
  Result<OptionValues> resolved = ResolvePlannerOptions(planner, planner_options);
  const std::string* features = resolved.ok() ? resolved->Find("features") : nullptr;
  if (planner != "torchscript" || features == nullptr || *features != "true") {
    return Status::InvalidArgument(
        "--feature-weight needs a teacher that gives its features: --planner torchscript "
        "--torchscript-features true");
  }
  return Status::Ok();
}

void DeclareDistillerFlags(FlagSet& flags, Distiller::Options& options, std::string& hidden,
                           bool publish_every) {
  flags.String("hidden", &hidden, "executor hidden layer widths, comma-separated");
  flags.Double("temperature", &options.temperature, "distillation temperature T", 1e-3, 1e3);
  flags.Double("alpha", &options.alpha,
               "weight of the soft (KL) loss; 1-alpha for the hard label (the ground truth when "
               "feedback brought one, else the planner's action)",
               0, 1);
  flags.Double("lr", &options.learning_rate, "Adam learning rate", 1e-8, 10);
  flags.Int("batch-size", &options.batch_size, "distiller batch size", 1, 65536);
  if (publish_every) {
    flags.Int("publish-every", &options.publish_every, "updates between executor snapshots", 1,
              100'000'000);
    flags.Double("feature-weight", &options.feature_weight,
                 "weight of feature distillation: match a projection of the executor's last "
                 "hidden layer to the teacher's features (a TorchScript teacher with "
                 "--torchscript-features); 0 = off",
                 0, 1e6);
  }
}

void DeclareLabelFlags(FlagSet& flags, std::string& policy, LabelSelection& labels) {
  flags.String("label-policy", &policy,
               "which decisions the teacher labels: all, random (each with probability "
               "--label-fraction), uncertainty (the executor's least confident "
               "--label-fraction) or disagreement (the kinds of decision the teacher recently "
               "overruled most)",
               {"all", "random", "uncertainty", "disagreement"});
  flags.Double("label-fraction", &labels.fraction,
               "the label budget: the share of decisions the teacher labels (every policy but "
               "all)",
               1e-6, 1.0);
}

Status ApplyLabelFlags(const FlagSet& flags, const std::string& policy, LabelSelection& labels) {
  labels.policy = *ParseLabelPolicy(policy);  // a declared choice
  if (flags.WasSet("label-fraction") && labels.policy == LabelPolicy::kAll) {
    return Status::InvalidArgument(
        "--label-fraction needs --label-policy random, uncertainty or disagreement");
  }
  return Status::Ok();
}

void DeclareNatsFlags(FlagSet& flags, std::string& url, std::string& run, NatsSecurity& security,
                      int64_t& replicas, const std::string& url_help) {
  flags.String("nats", &url, url_help);
  flags.String("nats-run", &run,
               "the run's name on NATS: its subjects, streams and bucket (docs/scaling.md)");
  flags.String("nats-tls-ca", &security.tls_ca,
               "PEM file of the CA that signed the NATS servers' certificates (turns TLS on)");
  flags.String("nats-tls-cert", &security.tls_cert,
               "PEM file of this client's certificate, for servers that verify clients");
  flags.String("nats-tls-key", &security.tls_key, "PEM file of that certificate's key");
  flags.String("nats-nkey", &security.nkey_file,
               "file with this client's nkey: its public key (U...) and seed (SU...) lines");
  flags.Int("nats-replicas", &replicas,
            "servers of a cluster that store each stream and bucket this process creates", 1, 5);
}

}  // namespace apprentice
