// TorchScriptPlanner: a teacher that is a network exported by PyTorch (torch.jit.script or
// torch.jit.trace, then torch.jit.save), run with LibTorch. It needs no environment: the
// observation goes in, a batch at a time, and out come per row either logits (a Discrete action
// space: the soft target is their softmax, the hard label their argmax) or means then log-stds
// (a Box: the soft target is that Gaussian, the hard label its mean).
//
//   plan requests (queued) ── batch of observations [n, obs] ── module.forward ──▶ [n, k]
//
// Which of the two the module outputs: the `output` option, or "auto" (the default): the
// module's string attribute `apprentice_output` ("logits" or "gaussian") if it has one, else
// logits. CanTeachSpaces() runs the module once on zeros and refuses, with the sizes in the
// message, a module that cannot take observations of the space's size or whose output does not
// have the action space's width (n logits, or 2d for a Box of d).
//
// LibTorch stays behind this header (pimpl): including it pulls in no torch headers. The target
// (apprentice::torchscript) is the only planner that links LibTorch.
//
// Features (feature distillation, Distiller::Options::feature_weight): with features=true the
// module must have a method `features(x) -> [n, F]`, its hidden layer for the same batch; each
// decision then carries its row (PlanDecision::features). A module without it is refused when
// the planner is made.
//
// Threading: as every planner, one thread at a time; the pool gives each worker its own instance
// (its own copy of the module). LibTorch's intra-op threads are set process-wide to `threads`.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/options.h"
#include "planner/planner.h"

namespace apprentice {

class TorchScriptPlanner final : public Planner {
 public:
  struct Options {
    std::string model;            // the TorchScript file
    std::string output = "auto";  // auto | logits | gaussian
    int64_t batch = 32;           // queued requests evaluated in one forward pass, at most
    int64_t threads = 1;          // LibTorch intra-op threads (process-wide)
    bool features = false;        // also run the module's features() method (see above)
    void Declare(OptionBinder& b) {
      b.String("model", &model, "TorchScript file of the teacher network (torch.jit.save)");
      b.String("output", &output,
               "what the network outputs: logits, gaussian (means then log-stds), or auto (its "
               "apprentice_output attribute, else logits)",
               {"auto", "logits", "gaussian"});
      b.Int("batch", &batch, "queued requests evaluated in one forward pass, at most", 1, 1024);
      b.Int("threads", &threads, "LibTorch intra-op threads", 1, 256);
      b.Bool("features", &features,
             "also return the module's features(x) (its hidden layer) with each decision, for "
             "feature distillation (--feature-weight)");
    }
    // The ranges are the binder's; a missing model is refused when the planner is made.
    Status Validate() const { return Status::Ok(); }
  };

  // Loads the module; InvalidArgument naming the file and LibTorch's reason if it cannot.
  explicit TorchScriptPlanner(Options options);
  ~TorchScriptPlanner() override;

  std::string name() const override { return "torchscript"; }
  bool needs_env() const override { return false; }
  Status Supports(const Space& action_space) const override;
  Status CanTeachSpaces(const Space& observation_space, const Space& action_space) const override;
  int64_t max_batch() const override { return options_.batch; }
  Result<PlanDecision> Plan(const PlanRequest& request) override;
  std::vector<Result<PlanDecision>> PlanBatch(std::span<const PlanRequest> requests) override;

  // "logits" or "gaussian": what the module outputs, resolved from the options and the module.
  const std::string& output() const { return output_; }

 private:
  struct Impl;
  const Options options_;
  std::string output_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace apprentice
