#include "planner/torchscript/torchscript_planner.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/clock.h"
#include "planner/registry.h"

namespace apprentice {

struct TorchScriptPlanner::Impl {
  torch::jit::script::Module module;
};

namespace {

// The reason in a LibTorch error: the last "...Error: ..." line of a TorchScript traceback (the
// Python exception, e.g. "RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x4 and
// 6x2)"), else the first line (the rest is a C++ stack).
std::string LibTorchReason(const std::string& what) {
  std::string reason;
  size_t start = 0;
  while (start < what.size()) {
    size_t end = what.find('\n', start);
    if (end == std::string::npos) end = what.size();
    const std::string line = what.substr(start, end - start);
    const size_t colon = line.find("Error: ");
    if (colon != std::string::npos && line.find(' ') > colon) reason = line;
    start = end + 1;
  }
  if (!reason.empty()) return reason;
  const size_t end = what.find('\n');
  return end == std::string::npos ? what : what.substr(0, end);
}

}  // namespace

TorchScriptPlanner::TorchScriptPlanner(Options options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  Require(!options_.model.empty(),
          "planner torchscript: give the model file (--torchscript-model FILE)");
  at::set_num_threads(static_cast<int>(options_.threads));
  try {
    impl_->module = torch::jit::load(options_.model);
  } catch (const std::exception& e) {
    throw InvalidArgument("planner torchscript: cannot load " + options_.model + ": " +
                          LibTorchReason(e.what()));
  }
  impl_->module.eval();
  if (options_.features && !impl_->module.find_method("features")) {
    throw InvalidArgument("planner torchscript: " + options_.model +
                          " has no features() method (features=true needs one: features(x) -> "
                          "[n, F], its hidden layer)");
  }
  output_ = options_.output;
  if (output_ == "auto") {
    output_ = "logits";
    if (impl_->module.hasattr("apprentice_output")) {
      const c10::IValue declared = impl_->module.attr("apprentice_output");
      if (!declared.isString() || (declared.toStringRef() != "logits" &&
                                   declared.toStringRef() != "gaussian")) {
        throw InvalidArgument("planner torchscript: " + options_.model +
                              " declares apprentice_output other than \"logits\" or "
                              "\"gaussian\"");
      }
      output_ = declared.toStringRef();
    }
  }
}

TorchScriptPlanner::~TorchScriptPlanner() = default;

Status TorchScriptPlanner::Supports(const Space& action_space) const {
  if (output_ == "logits" && !action_space.is_discrete()) {
    return Status::InvalidArgument("planner torchscript: a network of logits teaches a Discrete "
                                   "action space, not " + action_space.ToString() +
                                   " (--torchscript-output gaussian for a Box)");
  }
  if (output_ == "gaussian" && action_space.is_discrete()) {
    return Status::InvalidArgument("planner torchscript: a Gaussian network teaches a Box action "
                                   "space, not " + action_space.ToString());
  }
  if (!action_space.is_discrete() && action_space.flat_size() > kMaxActionDims) {
    return Status::InvalidArgument("planner torchscript: at most " +
                                   std::to_string(kMaxActionDims) + " action components");
  }
  return Status::Ok();
}

Status TorchScriptPlanner::CanTeachSpaces(const Space& observation_space,
                                          const Space& action_space) const {
  if (Status s = Supports(action_space); !s.ok()) return s;
  const int64_t inputs = observation_space.flat_size();
  const int64_t width = action_space.is_discrete() ? action_space.n() : 2 * action_space.flat_size();
  torch::Tensor out;
  try {
    torch::NoGradGuard no_grad;
    auto& module = const_cast<torch::jit::script::Module&>(impl_->module);
    const c10::IValue result = module.forward({torch::zeros({2, inputs})});
    if (!result.isTensor()) {
      return Status::InvalidArgument("planner torchscript: " + options_.model +
                                     " returns a " + result.tagKind() + ", not a tensor");
    }
    out = result.toTensor();
  } catch (const std::exception& e) {
    return Status::InvalidArgument("planner torchscript: " + options_.model +
                                   " cannot take a batch of observations of " +
                                   std::to_string(inputs) + " values (" +
                                   observation_space.ToString() + "): " + LibTorchReason(e.what()));
  }
  if (out.dim() != 2 || out.size(0) != 2 || out.size(1) != width) {
    std::string shape;
    for (int64_t d = 0; d < out.dim(); ++d) shape += (d ? ", " : "") + std::to_string(out.size(d));
    return Status::InvalidArgument(
        "planner torchscript: " + options_.model + " outputs shape [" + shape +
        "] for a batch of 2; " + action_space.ToString() + " needs [2, " + std::to_string(width) +
        "] (" + (output_ == "logits" ? "one logit per action" : "means then log-stds") + ")");
  }
  return Status::Ok();
}

Result<PlanDecision> TorchScriptPlanner::Plan(const PlanRequest& request) {
  std::vector<Result<PlanDecision>> one = PlanBatch({&request, 1});
  return std::move(one.front());
}

std::vector<Result<PlanDecision>> TorchScriptPlanner::PlanBatch(
    std::span<const PlanRequest> requests) {
  const int64_t start = NowNs();
  const auto n = static_cast<int64_t>(requests.size());
  std::vector<Result<PlanDecision>> out;
  out.reserve(requests.size());
  if (n == 0) return out;
  const auto inputs = static_cast<int64_t>(requests.front().observation.size());
  for (const PlanRequest& r : requests) {
    if (static_cast<int64_t>(r.observation.size()) != inputs) {
      out.assign(requests.size(), Status::InvalidArgument(
                                      "planner torchscript: observations of different sizes in "
                                      "one batch"));
      return out;
    }
  }
  torch::Tensor x = torch::empty({n, inputs}, torch::kFloat32);
  float* dst = x.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(dst + i * inputs, requests[i].observation.data(),
                static_cast<size_t>(inputs) * sizeof(float));
  }
  torch::Tensor y, f;
  try {
    torch::NoGradGuard no_grad;
    y = impl_->module.forward({x}).toTensor().to(torch::kFloat32).contiguous();
    if (options_.features) {
      f = impl_->module.get_method("features")({x}).toTensor().to(torch::kFloat32).contiguous();
    }
  } catch (const std::exception& e) {
    out.assign(requests.size(),
               Status::Internal("planner torchscript: forward failed: " + LibTorchReason(e.what())));
    return out;
  }
  if (y.dim() != 2 || y.size(0) != n || (output_ == "gaussian" && y.size(1) % 2 != 0)) {
    out.assign(requests.size(),
               Status::Internal("planner torchscript: the module output a tensor of the wrong "
                                "shape"));
    return out;
  }
  if (options_.features &&
      (f.dim() != 2 || f.size(0) != n || f.size(1) < 1 || !torch::isfinite(f).all().item<bool>())) {
    out.assign(requests.size(),
               Status::Internal("planner torchscript: features() output a tensor of the wrong "
                                "shape or a non-finite value"));
    return out;
  }
  const int64_t width = y.size(1);
  const float* rows = y.data_ptr<float>();
  const int64_t latency = NowNs() - start;
  for (int64_t i = 0; i < n; ++i) {
    std::span<const float> row(rows + i * width, static_cast<size_t>(width));
    bool finite = true;
    for (float v : row) finite = finite && std::isfinite(v);
    if (!finite) {
      out.push_back(Status::Internal("planner torchscript: the module output a non-finite value"));
      continue;
    }
    PlanDecision d;
    if (output_ == "logits") {
      d.distribution = PolicyOutput::FromLogits(row);
      d.action = Action::Discrete(std::max_element(row.begin(), row.end()) - row.begin());
    } else {
      const size_t dims = row.size() / 2;
      d.distribution = PolicyOutput::Gaussian(row.first(dims), row.subspan(dims));
      d.action = Action::Continuous(row.first(dims));
    }
    d.value = 0.0;
    if (options_.features) {
      const float* fr = f.data_ptr<float>() + i * f.size(1);
      d.features.assign(fr, fr + f.size(1));
    }
    d.latency_ns = latency;  // the batch's forward pass, shared by its requests
    out.push_back(std::move(d));
  }
  return out;
}

APPRENTICE_REGISTER_PLANNER(TorchScriptPlanner, "torchscript",
                            "a TorchScript network (torch.jit.save) as the teacher: logits or a "
                            "Gaussian from the observation alone, batched; no env needed",
                            /*heavy=*/"");

}  // namespace apprentice
