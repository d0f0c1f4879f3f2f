// The only translation unit of the distiller that includes LibTorch.
#include "distiller/distiller.h"

#include <torch/torch.h>

#include <cmath>
#include <numbers>

#include "core/rng.h"

namespace apprentice {

Status Distiller::Options::Validate() const {
  for (int64_t h : hidden) {
    if (h < 1) return Status::InvalidArgument("distiller hidden widths must be >= 1");
  }
  if (!(temperature > 0.0)) return Status::InvalidArgument("distiller temperature must be > 0");
  if (!(alpha >= 0.0 && alpha <= 1.0)) {
    return Status::InvalidArgument("distiller alpha must be in [0, 1]");
  }
  if (!(learning_rate > 0.0)) return Status::InvalidArgument("distiller learning rate must be > 0");
  if (batch_size < 1) return Status::InvalidArgument("distiller batch size must be >= 1");
  if (publish_every < 1) return Status::InvalidArgument("distiller publish_every must be >= 1");
  if (torch_threads < 1) return Status::InvalidArgument("distiller torch_threads must be >= 1");
  return Status::Ok();
}

namespace {

bool AllFinite(std::span<const float> values) {
  return std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); });
}

}  // namespace

struct Distiller::Impl {
  Options options;
  Space action_space;
  MlpSpec spec;
  torch::nn::ModuleList layers;
  std::unique_ptr<torch::optim::Adam> optimizer;
  int64_t updates = 0;
  int64_t published = 0;

  Impl(Options o, const Space& obs, const Space& act) : options(std::move(o)), action_space(act) {
    RequireOk(options.Validate());
    Require(!obs.is_discrete(), "the distiller needs a Box observation space, got " + obs.ToString());
    spec.input = obs.flat_size();
    spec.hidden = options.hidden;
    spec.activation = options.activation;
    if (act.is_discrete()) {
      spec.head = HeadKind::kCategorical;
      spec.actions = act.n();
    } else {
      spec.head = HeadKind::kGaussian;
      spec.actions = act.flat_size();
    }
    RequireOk(spec.Validate());
    torch::set_num_threads(static_cast<int>(options.torch_threads));

    // Initialise like torch.nn.Linear (U(-1/sqrt(in), 1/sqrt(in)) for weights and biases), but
    // from our own generator so that the result does not depend on torch's global seed.
    Rng rng(options.seed ^ 0x5EEDD15711E5ULL);
    int64_t in = spec.input;
    std::vector<int64_t> widths = spec.hidden;
    widths.push_back(spec.output());
    torch::NoGradGuard no_grad;
    for (int64_t out : widths) {
      auto linear = torch::nn::Linear(in, out);
      const double bound = 1.0 / std::sqrt(static_cast<double>(in));
      float* w = linear->weight.data_ptr<float>();
      for (int64_t i = 0; i < in * out; ++i) w[i] = static_cast<float>(rng.Uniform(-bound, bound));
      float* b = linear->bias.data_ptr<float>();
      for (int64_t i = 0; i < out; ++i) b[i] = static_cast<float>(rng.Uniform(-bound, bound));
      layers->push_back(linear);
      in = out;
    }
    optimizer = std::make_unique<torch::optim::Adam>(
        layers->parameters(), torch::optim::AdamOptions(options.learning_rate));
  }

  torch::Tensor Forward(torch::Tensor x) {
    const size_t n = layers->size();
    for (size_t i = 0; i < n; ++i) {
      x = layers[i]->as<torch::nn::Linear>()->forward(x);
      if (i + 1 < n) x = spec.activation == Activation::kTanh ? torch::tanh(x) : torch::relu(x);
    }
    return x;
  }

  // Splits a Gaussian head's output into mean and clamped log-std.
  std::pair<torch::Tensor, torch::Tensor> GaussianParts(const torch::Tensor& out) const {
    const int64_t d = spec.actions;
    return {out.slice(1, 0, d), torch::clamp(out.slice(1, d, 2 * d), kMinLogStd, kMaxLogStd)};
  }

  torch::Tensor Observations(std::span<const std::shared_ptr<const DecisionRecord>> batch) const {
    auto x = torch::empty({static_cast<int64_t>(batch.size()), spec.input});
    float* p = x.data_ptr<float>();
    for (const auto& r : batch) {
      Require(static_cast<int64_t>(r->observation.size()) == spec.input,
              "training record has an observation of " + std::to_string(r->observation.size()) +
                  " floats; the student takes " + std::to_string(spec.input));
      p = std::copy(r->observation.begin(), r->observation.end(), p);
    }
    return x;
  }

  TrainStats Train(std::span<const std::shared_ptr<const DecisionRecord>> batch) {
    Require(!batch.empty(), "Distiller::Train needs a non-empty batch");
    for (const auto& r : batch) {
      Require(r != nullptr && r->has_label, "Distiller::Train needs records with planner labels");
      RequireOk(r->planner.CheckFits(action_space));
      RequireOk(action_space.Check(r->planner_action));
      // One NaN would poison Adam's state and every weight for good.
      if (!AllFinite(r->observation) || !AllFinite(r->planner.logits) ||
          !AllFinite(r->planner.mean) || !AllFinite(r->planner.log_std)) {
        throw InvalidArgument("training record (episode " + std::to_string(r->episode) +
                              ", step " + std::to_string(r->step) +
                              ") has a non-finite observation or planner output (write "
                              "impossible actions as kMinLogit, not -inf)");
      }
    }
    const auto b = static_cast<int64_t>(batch.size());
    const double t = options.temperature;
    torch::Tensor out = Forward(Observations(batch));
    torch::Tensor soft, hard;
    if (spec.head == HeadKind::kCategorical) {
      const int64_t n = spec.actions;
      auto teacher = torch::empty({b, n});
      auto labels = torch::empty({b}, torch::kLong);
      float* tp = teacher.data_ptr<float>();
      int64_t* lp = labels.data_ptr<int64_t>();
      for (const auto& r : batch) {
        tp = std::copy(r->planner.logits.begin(), r->planner.logits.end(), tp);
        *lp++ = r->planner_action.index();
      }
      const auto log_p_teacher = torch::log_softmax(teacher / t, 1);
      const auto log_p_student = torch::log_softmax(out / t, 1);
      soft = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(1).mean();
      hard = torch::nll_loss(torch::log_softmax(out, 1), labels);
    } else {
      const int64_t d = spec.actions;
      auto mu_t = torch::empty({b, d}), ls_t = torch::empty({b, d}), act = torch::empty({b, d});
      float *mp = mu_t.data_ptr<float>(), *lp = ls_t.data_ptr<float>(), *ap = act.data_ptr<float>();
      for (const auto& r : batch) {
        mp = std::copy(r->planner.mean.begin(), r->planner.mean.end(), mp);
        lp = std::copy(r->planner.log_std.begin(), r->planner.log_std.end(), lp);
        const auto a = r->planner_action.values();
        ap = std::copy(a.begin(), a.end(), ap);
      }
      ls_t = torch::clamp(ls_t, kMinLogStd, kMaxLogStd);
      auto [mu_s, ls_s] = GaussianParts(out);
      const auto var_t = torch::exp(2 * ls_t) * t;
      const auto var_s = torch::exp(2 * ls_s) * t;
      soft = ((ls_s - ls_t) + (var_t + (mu_t - mu_s).pow(2)) / (2 * var_s) - 0.5).sum(1).mean();
      hard = (0.5 * ((act - mu_s) / torch::exp(ls_s)).pow(2) + ls_s +
              0.5 * std::log(2 * std::numbers::pi))
                 .sum(1)
                 .mean();
    }
    const auto loss = options.alpha * t * t * soft + (1.0 - options.alpha) * hard;
    optimizer->zero_grad();
    loss.backward();
    optimizer->step();
    ++updates;

    TrainStats stats;
    stats.loss = loss.item<double>();
    stats.soft_loss = soft.item<double>();
    stats.hard_loss = hard.item<double>();
    if (updates % options.publish_every == 0) {
      ++published;
      stats.snapshot = MakeSnapshot(published);
    }
    return stats;
  }

  std::shared_ptr<const Snapshot> MakeSnapshot(int64_t version) {
    std::vector<float> params;
    params.reserve(static_cast<size_t>(spec.ParameterCount()));
    for (const auto& module : *layers) {
      auto* linear = module->as<torch::nn::Linear>();
      const auto w = linear->weight.detach().contiguous();
      const auto bias = linear->bias.detach().contiguous();
      params.insert(params.end(), w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
      params.insert(params.end(), bias.data_ptr<float>(), bias.data_ptr<float>() + bias.numel());
    }
    return Snapshot::Create(spec, params, version).ValueOrThrow();
  }

  std::vector<float> ReferenceForward(std::span<const float> observation) {
    Require(static_cast<int64_t>(observation.size()) == spec.input,
            "observation has " + std::to_string(observation.size()) +
                " floats; the student takes " + std::to_string(spec.input));
    torch::NoGradGuard no_grad;
    auto x = torch::empty({1, spec.input});
    std::copy(observation.begin(), observation.end(), x.data_ptr<float>());
    torch::Tensor out = Forward(x);
    if (spec.head == HeadKind::kGaussian) {
      auto [mu, ls] = GaussianParts(out);
      out = torch::cat({mu, ls}, 1);
    }
    out = out.contiguous();
    return {out.data_ptr<float>(), out.data_ptr<float>() + out.numel()};
  }
};

Distiller::Distiller(Options options, const Space& observation_space, const Space& action_space)
    : impl_(std::make_unique<Impl>(std::move(options), observation_space, action_space)) {}
Distiller::~Distiller() = default;

Distiller::TrainStats Distiller::Train(
    std::span<const std::shared_ptr<const DecisionRecord>> batch) {
  return impl_->Train(batch);
}
std::shared_ptr<const Snapshot> Distiller::MakeSnapshot(int64_t version) const {
  return impl_->MakeSnapshot(version);
}
std::vector<float> Distiller::ReferenceForward(std::span<const float> observation) const {
  return impl_->ReferenceForward(observation);
}
const MlpSpec& Distiller::spec() const { return impl_->spec; }
const Distiller::Options& Distiller::options() const { return impl_->options; }
int64_t Distiller::updates() const { return impl_->updates; }
int64_t Distiller::published() const { return impl_->published; }

}  // namespace apprentice
