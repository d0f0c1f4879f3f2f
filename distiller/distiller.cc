// The distiller's LibTorch translation unit for the student (fitted_q.cc is the other).
#include "distiller/distiller.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <optional>
#include <sstream>
#include <string>

#include "core/crc32c.h"
#include "core/rng.h"
#include "core/seeds.h"
#include "core/atomic_file.h"

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
  if (!(std::isfinite(feature_weight) && feature_weight >= 0.0)) {
    return Status::InvalidArgument("distiller feature_weight must be finite and >= 0");
  }
  return Status::Ok();
}

namespace {

bool AllFinite(std::span<const float> values) {
  return std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); });
}

// Checkpoint file: a 24-byte header, then a LibTorch archive (torch::serialize::OutputArchive).
//   0  "APCK"   4  u32 format version   8  u64 archive length   16  u32 CRC-32C of the archive
//   20 u32 zero (reserved)              24 the archive
// All integers little-endian. The checksum is checked before LibTorch reads a byte.
constexpr char kCheckpointMagic[4] = {'A', 'P', 'C', 'K'};
constexpr size_t kCheckpointHeaderSize = 24;
constexpr uint64_t kMaxCheckpointBytes = uint64_t{1} << 34;

void PutLe(uint8_t* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t GetLe(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

// Archive keys.
std::string WeightKey(size_t layer) { return "student/" + std::to_string(layer) + "/weight"; }
std::string BiasKey(size_t layer) { return "student/" + std::to_string(layer) + "/bias"; }

int64_t ReadInt(torch::serialize::InputArchive& archive, const std::string& key) {
  c10::IValue value;
  archive.read(key, value);
  return value.toInt();  // c10::Error if the archive holds something else
}

// A float tensor of exactly `sizes` with finite values; DataLoss naming `what` otherwise.
Status CheckTensor(const torch::Tensor& t, at::IntArrayRef sizes, const std::string& what) {
  if (!t.defined() || t.scalar_type() != torch::kFloat || t.sizes() != sizes) {
    return Status::DataLoss(what + " is not a float tensor of shape " + c10::str(sizes));
  }
  if (!torch::isfinite(t).all().item<bool>()) return Status::DataLoss(what + " is not finite");
  return Status::Ok();
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
  // Feature distillation: the projection of the student's last hidden layer to the teacher's
  // features, made at the first batch that carries features, with its own optimiser.
  torch::nn::Linear projection{nullptr};
  std::unique_ptr<torch::optim::Adam> projection_optimizer;

  Impl(Options o, const Space& obs, const Space& act) : options(std::move(o)), action_space(act) {
    RequireOk(options.Validate());
    spec = StudentSpec(obs, act, options.hidden, options.activation).ValueOrThrow();
    torch::set_num_threads(static_cast<int>(options.torch_threads));

    // The executor's own initialisation (executor/snapshot.h): the same seed gives the same
    // weights with or without LibTorch.
    const std::vector<float> initial = InitialParameters(spec, options.seed);
    const float* from = initial.data();
    int64_t in = spec.input;
    std::vector<int64_t> widths = spec.hidden;
    widths.push_back(spec.output());
    torch::NoGradGuard no_grad;
    for (int64_t out : widths) {
      auto linear = torch::nn::Linear(in, out);
      std::copy_n(from, in * out, linear->weight.data_ptr<float>());
      from += in * out;
      std::copy_n(from, out, linear->bias.data_ptr<float>());
      from += out;
      layers->push_back(linear);
      in = out;
    }
    optimizer = std::make_unique<torch::optim::Adam>(
        layers->parameters(), torch::optim::AdamOptions(options.learning_rate));
  }

  // The student's output; `last_hidden`, when given, gets the input of its last layer.
  torch::Tensor Forward(torch::Tensor x, torch::Tensor* last_hidden = nullptr) {
    const size_t n = layers->size();
    for (size_t i = 0; i < n; ++i) {
      if (i + 1 == n && last_hidden != nullptr) *last_hidden = x;
      x = layers[i]->as<torch::nn::Linear>()->forward(x);
      if (i + 1 < n) x = spec.activation == Activation::kTanh ? torch::tanh(x) : torch::relu(x);
    }
    return x;
  }

  // The projection to `width` teacher features, made once (InvalidArgument for another width
  // later): uniform +-1/sqrt(in) weights and biases from our generator, as nn.Linear's default.
  void EnsureProjection(int64_t in, int64_t width) {
    if (projection) {
      Require(projection->weight.size(0) == width,
              "training records carry teacher features of " + std::to_string(width) +
                  " values; earlier ones had " + std::to_string(projection->weight.size(0)));
      return;
    }
    projection = torch::nn::Linear(in, width);
    Rng rng(StreamSeed(options.seed, SeedStream::kFeatureProjection));
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    torch::NoGradGuard no_grad;
    for (torch::Tensor* t : {&projection->weight, &projection->bias}) {
      float* p = t->data_ptr<float>();
      for (int64_t i = 0; i < t->numel(); ++i) p[i] = static_cast<float>(rng.Uniform(-bound, bound));
    }
    projection_optimizer = std::make_unique<torch::optim::Adam>(
        projection->parameters(), torch::optim::AdamOptions(options.learning_rate));
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

  TrainStats Train(std::span<const std::shared_ptr<const DecisionRecord>> batch,
                   std::span<const float> weights) {
    Require(!batch.empty(), "Distiller::Train needs a non-empty batch");
    Require(weights.empty() || weights.size() == batch.size(),
            "Distiller::Train: give one importance weight per record, or none");
    for (float w : weights) {
      Require(std::isfinite(w) && w >= 0.0f, "Distiller::Train: weights must be finite and >= 0");
    }
    for (const auto& r : batch) {
      Require(r != nullptr && Trainable(*r),
              "Distiller::Train needs records with a planner label or a ground-truth label");
      if (r->has_label) {
        RequireOk(r->planner.CheckFits(action_space));
        RequireOk(action_space.Check(r->planner_action));
      }
      if (r->has_truth) RequireOk(action_space.Check(r->truth));
      if (!r->legal.empty()) {
        Require(action_space.is_discrete() &&
                    static_cast<int64_t>(r->legal.size()) == action_space.n(),
                "training record has a legal-move mask of " + std::to_string(r->legal.size()) +
                    " entries for " + action_space.ToString());
        Require(r->legal[static_cast<size_t>(HardLabel(*r).index())] != 0,
                "training record (episode " + std::to_string(r->episode) + ", step " +
                    std::to_string(r->step) + ") has an illegal move as its hard label");
      }
      // One NaN would poison Adam's state and every weight for good.
      if (!AllFinite(r->observation) || !AllFinite(r->planner.logits) ||
          !AllFinite(r->planner.mean) || !AllFinite(r->planner.log_std) ||
          (r->has_truth && !AllFinite(r->truth.values()))) {
        throw InvalidArgument("training record (episode " + std::to_string(r->episode) +
                              ", step " + std::to_string(r->step) +
                              ") has a non-finite observation, planner output or label (write "
                              "impossible actions as kMinLogit, not -inf)");
      }
    }
    const auto b = static_cast<int64_t>(batch.size());
    const double t = options.temperature;
    // Feature distillation: the records' teacher features, all of one width.
    int64_t feature_width = 0, featured = 0;
    if (options.feature_weight > 0.0) {
      for (const auto& r : batch) {
        if (r->teacher_features.empty()) continue;
        const auto width = static_cast<int64_t>(r->teacher_features.size());
        Require(feature_width == 0 || width == feature_width,
                "training records carry teacher features of different sizes (" +
                    std::to_string(feature_width) + " and " + std::to_string(width) + ")");
        Require(AllFinite(r->teacher_features), "training record (episode " +
                                                    std::to_string(r->episode) + ", step " +
                                                    std::to_string(r->step) +
                                                    ") has non-finite teacher features");
        feature_width = width;
        ++featured;
      }
    }
    torch::Tensor hidden;
    torch::Tensor out = Forward(Observations(batch), featured > 0 ? &hidden : nullptr);
    torch::Tensor feature_i;  // per record; 0 for records without features
    if (featured > 0) {
      EnsureProjection(hidden.size(1), feature_width);
      auto target = torch::zeros({b, feature_width});
      auto has = torch::zeros({b});
      float* tp = target.data_ptr<float>();
      float* hp = has.data_ptr<float>();
      for (const auto& r : batch) {
        if (!r->teacher_features.empty()) {
          std::copy(r->teacher_features.begin(), r->teacher_features.end(), tp);
          *hp = 1.0f;
        }
        tp += feature_width;
        ++hp;
      }
      feature_i = (projection->forward(hidden) - target).pow(2).mean(1) * has;
    }
    torch::Tensor soft_i, hard_i, priority_hard_i;  // per record
    if (spec.head == HeadKind::kCategorical) {
      const int64_t n = spec.actions;
      auto teacher = torch::zeros({b, n});
      auto labels = torch::empty({b}, torch::kLong);
      float* tp = teacher.data_ptr<float>();
      int64_t* lp = labels.data_ptr<int64_t>();
      for (const auto& r : batch) {
        if (r->has_label) std::copy(r->planner.logits.begin(), r->planner.logits.end(), tp);
        tp += n;
        *lp++ = HardLabel(*r).index();
      }
      // Legal-move masks (board games): the student's illegal logits are pushed to -1e9 (no
      // probability, no gradient) and the soft term sums over the legal actions only.
      std::optional<torch::Tensor> legal;
      const bool any_mask = std::any_of(batch.begin(), batch.end(),
                                        [](const auto& r) { return !r->legal.empty(); });
      if (any_mask) {
        legal = torch::ones({b, n});
        float* mp = legal->data_ptr<float>();
        for (const auto& r : batch) {
          if (!r->legal.empty()) {
            for (int64_t a = 0; a < n; ++a) mp[a] = r->legal[a] != 0 ? 1.0f : 0.0f;
          }
          mp += n;
        }
        out = out.masked_fill(*legal == 0, -1e9);
      }
      const auto log_p_teacher = torch::log_softmax(teacher / t, 1);
      const auto log_p_student = torch::log_softmax(out / t, 1);
      auto terms = log_p_teacher.exp() * (log_p_teacher - log_p_student);
      if (legal) terms = terms * *legal;
      soft_i = terms.sum(1);
      hard_i = -torch::log_softmax(out, 1).gather(1, labels.unsqueeze(1)).squeeze(1);
      priority_hard_i = hard_i;
    } else {
      const int64_t d = spec.actions;
      auto mu_t = torch::zeros({b, d}), ls_t = torch::zeros({b, d}), act = torch::empty({b, d});
      float *mp = mu_t.data_ptr<float>(), *lp = ls_t.data_ptr<float>(), *ap = act.data_ptr<float>();
      for (const auto& r : batch) {
        if (r->has_label) {
          std::copy(r->planner.mean.begin(), r->planner.mean.end(), mp);
          std::copy(r->planner.log_std.begin(), r->planner.log_std.end(), lp);
        }
        mp += d;
        lp += d;
        const auto a = HardLabel(*r).values();
        ap = std::copy(a.begin(), a.end(), ap);
      }
      ls_t = torch::clamp(ls_t, kMinLogStd, kMaxLogStd);
      auto [mu_s, ls_s] = GaussianParts(out);
      const auto var_t = torch::exp(2 * ls_t) * t;
      const auto var_s = torch::exp(2 * ls_s) * t;
      soft_i = ((ls_s - ls_t) + (var_t + (mu_t - mu_s).pow(2)) / (2 * var_s) - 0.5).sum(1);
      const auto squared = (0.5 * ((act - mu_s) / torch::exp(ls_s)).pow(2)).sum(1);
      hard_i = squared + (ls_s + 0.5 * std::log(2 * std::numbers::pi)).sum(1);
      priority_hard_i = squared;
    }
    // A record without a planner label (ground truth alone) has no soft term.
    bool all_labelled = true;
    for (const auto& r : batch) all_labelled = all_labelled && r->has_label;
    if (!all_labelled) {
      auto mask = torch::empty({b});
      float* mp = mask.data_ptr<float>();
      for (const auto& r : batch) *mp++ = r->has_label ? 1.0f : 0.0f;
      soft_i = soft_i * mask;
    }
    const double a = options.alpha;
    // (Without features, written as before they existed: the same floats, bit for bit.)
    torch::Tensor priority_i = a * t * t * soft_i + (1.0 - a) * priority_hard_i;
    torch::Tensor loss;
    if (weights.empty()) {
      loss = a * t * t * soft_i.mean() + (1.0 - a) * hard_i.mean();
      if (featured > 0) loss = loss + options.feature_weight * feature_i.mean();
    } else {
      auto w = torch::empty({b});
      std::copy(weights.begin(), weights.end(), w.data_ptr<float>());
      torch::Tensor per_record = a * t * t * soft_i + (1.0 - a) * hard_i;
      if (featured > 0) per_record = per_record + options.feature_weight * feature_i;
      loss = (w * per_record).mean();
    }
    if (featured > 0) priority_i = priority_i + options.feature_weight * feature_i;
    optimizer->zero_grad();
    if (featured > 0) projection_optimizer->zero_grad();
    loss.backward();
    optimizer->step();
    if (featured > 0) projection_optimizer->step();
    ++updates;

    TrainStats stats;
    stats.loss = loss.item<double>();
    stats.soft_loss = soft_i.mean().item<double>();
    stats.hard_loss = hard_i.mean().item<double>();
    if (featured > 0) {
      stats.feature_loss = feature_i.sum().item<double>() / static_cast<double>(featured);
    }
    {
      const auto priority = priority_i.detach().clamp_min(0.0).contiguous();
      const float* p = priority.data_ptr<float>();
      stats.priorities.assign(p, p + b);
    }
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

  // The checkpoint's archive: spec, counters, student weights and Adam's state.
  std::string SerializeCheckpoint() {
    torch::serialize::OutputArchive archive;
    archive.write("spec/input", c10::IValue(spec.input));
    archive.write("spec/hidden", c10::IValue(spec.hidden));
    archive.write("spec/actions", c10::IValue(spec.actions));
    archive.write("spec/head", c10::IValue(static_cast<int64_t>(spec.head)));
    archive.write("spec/activation", c10::IValue(static_cast<int64_t>(spec.activation)));
    archive.write("updates", c10::IValue(updates));
    archive.write("published", c10::IValue(published));
    for (size_t i = 0; i < layers->size(); ++i) {
      const auto* linear = layers[i]->as<torch::nn::Linear>();
      archive.write(WeightKey(i), linear->weight.detach());
      archive.write(BiasKey(i), linear->bias.detach());
    }
    torch::serialize::OutputArchive adam;
    optimizer->save(adam);
    archive.write("optimizer", adam);
    std::ostringstream out;
    archive.save_to(out);
    return std::move(out).str();
  }

  // Reads `archive` into this distiller; on any error (Status or exception) nothing changed.
  Status RestoreCheckpoint(torch::serialize::InputArchive& archive) {
    MlpSpec saved;
    saved.input = ReadInt(archive, "spec/input");
    {
      c10::IValue hidden;
      archive.read("spec/hidden", hidden);
      saved.hidden = hidden.toIntVector();
    }
    saved.actions = ReadInt(archive, "spec/actions");
    const int64_t head = ReadInt(archive, "spec/head");
    const int64_t activation = ReadInt(archive, "spec/activation");
    if (head < 0 || head > 255 || activation < 0 || activation > 255) {
      return Status::DataLoss("the archive's head kind or activation is out of range");
    }
    saved.head = static_cast<HeadKind>(head);
    saved.activation = static_cast<Activation>(activation);
    if (Status s = saved.Validate(); !s.ok()) {
      return Status::DataLoss("the archive's student spec is invalid: " + s.message());
    }
    if (saved != spec) {
      return Status::InvalidArgument("it holds a " + saved.ToString() +
                                     " student; this distiller's is " + spec.ToString() +
                                     " (resuming needs the same hidden widths, activation and "
                                     "observation and action sizes)");
    }
    const int64_t saved_updates = ReadInt(archive, "updates");
    const int64_t saved_published = ReadInt(archive, "published");
    if (saved_updates < 0 || saved_published < 0 || saved_published > saved_updates) {
      return Status::DataLoss("the archive's counters are inconsistent (updates " +
                              std::to_string(saved_updates) + ", published " +
                              std::to_string(saved_published) + ")");
    }

    // Everything is read and checked before anything of this distiller changes.
    std::vector<torch::Tensor> weights(layers->size()), biases(layers->size());
    for (size_t i = 0; i < layers->size(); ++i) {
      const auto* linear = layers[i]->as<torch::nn::Linear>();
      archive.read(WeightKey(i), weights[i]);
      archive.read(BiasKey(i), biases[i]);
      Status s = CheckTensor(weights[i], linear->weight.sizes(), WeightKey(i));
      if (s.ok()) s = CheckTensor(biases[i], linear->bias.sizes(), BiasKey(i));
      if (!s.ok()) return s;
    }
    // A fresh Adam over the same parameter tensors takes the saved state (keyed by position).
    auto adam = std::make_unique<torch::optim::Adam>(
        layers->parameters(), torch::optim::AdamOptions(options.learning_rate));
    torch::serialize::InputArchive adam_archive;
    archive.read("optimizer", adam_archive);
    adam->load(adam_archive);
    for (const torch::Tensor& p : layers->parameters()) {
      const auto it = adam->state().find(c10::guts::to_string(p.unsafeGetTensorImpl()));
      if (it == adam->state().end()) continue;  // no update yet
      const auto& state = static_cast<const torch::optim::AdamParamState&>(*it->second);
      if (state.step() < 0) return Status::DataLoss("Adam's step count is negative");
      Status s = CheckTensor(state.exp_avg(), p.sizes(), "Adam's first moment");
      if (s.ok()) s = CheckTensor(state.exp_avg_sq(), p.sizes(), "Adam's second moment");
      if (!s.ok()) return s;
    }

    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < layers->size(); ++i) {
      auto* linear = layers[i]->as<torch::nn::Linear>();
      linear->weight.copy_(weights[i]);
      linear->bias.copy_(biases[i]);
    }
    optimizer = std::move(adam);
    updates = saved_updates;
    published = saved_published;
    return Status::Ok();
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
    std::span<const std::shared_ptr<const DecisionRecord>> batch, std::span<const float> weights) {
  return impl_->Train(batch, weights);
}
std::shared_ptr<const Snapshot> Distiller::MakeSnapshot(int64_t version) const {
  return impl_->MakeSnapshot(version);
}
std::vector<float> Distiller::ReferenceForward(std::span<const float> observation) const {
  return impl_->ReferenceForward(observation);
}

Status Distiller::SaveCheckpoint(const std::string& path) const {
  std::string archive;
  try {
    archive = impl_->SerializeCheckpoint();
  } catch (const std::exception& e) {
    return Status::Internal("cannot serialise the distiller checkpoint for " + path + ": " +
                            e.what());
  }
  const std::span<const uint8_t> payload(reinterpret_cast<const uint8_t*>(archive.data()),
                                         archive.size());
  std::vector<uint8_t> file(kCheckpointHeaderSize + payload.size());
  std::memcpy(file.data(), kCheckpointMagic, sizeof kCheckpointMagic);
  PutLe(file.data() + 4, kCheckpointFormatVersion, 4);
  PutLe(file.data() + 8, payload.size(), 8);
  PutLe(file.data() + 16, Crc32c(payload), 4);
  std::copy(payload.begin(), payload.end(), file.begin() + kCheckpointHeaderSize);
  return WriteFileAtomically(path, file);
}

Status Distiller::LoadCheckpoint(const std::string& path) {
  auto read = ReadFileBytes(path, kMaxCheckpointBytes);
  if (!read.ok()) return read.status();
  const std::vector<uint8_t>& bytes = *read;
  const std::string where = "distiller checkpoint " + path + ": ";
  if (bytes.size() < sizeof kCheckpointMagic ||
      std::memcmp(bytes.data(), kCheckpointMagic, sizeof kCheckpointMagic) != 0) {
    return Status::InvalidArgument(where + "not a distiller checkpoint (no \"APCK\" magic)");
  }
  if (bytes.size() < kCheckpointHeaderSize) {
    return Status::DataLoss(where + "truncated: " + std::to_string(bytes.size()) +
                            " bytes, less than the " + std::to_string(kCheckpointHeaderSize) +
                            "-byte header");
  }
  const uint64_t version = GetLe(bytes.data() + 4, 4);
  if (version != kCheckpointFormatVersion) {
    return Status::InvalidArgument(where + "format version " + std::to_string(version) +
                                   "; this build reads version " +
                                   std::to_string(kCheckpointFormatVersion));
  }
  if (GetLe(bytes.data() + 20, 4) != 0) {
    return Status::DataLoss(where + "the header's reserved word is not zero: the file is damaged");
  }
  const uint64_t length = GetLe(bytes.data() + 8, 8);
  const uint64_t held = bytes.size() - kCheckpointHeaderSize;
  if (length != held) {
    return Status::DataLoss(where + (held < length ? "truncated" : "trailing bytes") +
                            ": the header announces " + std::to_string(length) +
                            " bytes of archive, the file holds " + std::to_string(held));
  }
  const std::span<const uint8_t> payload = std::span(bytes).subspan(kCheckpointHeaderSize);
  if (Crc32c(payload) != GetLe(bytes.data() + 16, 4)) {
    return Status::DataLoss(where + "checksum mismatch: the file is damaged");
  }
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(reinterpret_cast<const char*>(payload.data()), payload.size());
    const Status s = impl_->RestoreCheckpoint(archive);
    if (!s.ok()) return Status(s.code(), where + s.message());
    return Status::Ok();
  } catch (const c10::Error& e) {
    return Status::DataLoss(where +
                            "LibTorch cannot read the archive: " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Status::DataLoss(where + "LibTorch cannot read the archive: " + e.what());
  }
}

const MlpSpec& Distiller::spec() const { return impl_->spec; }
const Distiller::Options& Distiller::options() const { return impl_->options; }
int64_t Distiller::updates() const { return impl_->updates; }
int64_t Distiller::published() const { return impl_->published; }

}  // namespace apprentice
