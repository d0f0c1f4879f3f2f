#include "env/mujoco/mujoco_env.h"

#include <mujoco/mujoco.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <mutex>
#include <typeinfo>

namespace apprentice {

namespace {

// MuJoCo ends the process on a fatal error unless told otherwise; its warnings go to stdout.
// Installed once, before the first model loads.
void InstallMujocoHandlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    mju_user_error = [](const char* message) {
      throw InvalidArgument(std::string("mujoco: ") + message);
    };
    mju_user_warning = [](const char*) {};  // counted in mjData::warning, read by Step()
  });
}

struct ModelDeleter {
  void operator()(mjModel* m) const { mj_deleteModel(m); }
};

std::unique_ptr<mjModel, ModelDeleter> LoadModel(const std::string& path,
                                                 std::string_view builtin_name,
                                                 std::string_view builtin_xml,
                                                 std::string& source) {
  char error[1024] = "";
  mjModel* m = nullptr;
  if (path.empty()) {
    source = "<built-in " + std::string(builtin_name) + ">";
    // From memory: a virtual file system holding the one file.
    auto vfs = std::make_unique<mjVFS>();
    mj_defaultVFS(vfs.get());
    const std::string file = std::string(builtin_name) + ".xml";
    if (mj_makeEmptyFileVFS(vfs.get(), file.c_str(), static_cast<int>(builtin_xml.size())) != 0) {
      throw InvalidArgument("mujoco: cannot hold the built-in model " + file + " in memory");
    }
    const int index = mj_findFileVFS(vfs.get(), file.c_str());
    std::memcpy(vfs->filedata[index], builtin_xml.data(), builtin_xml.size());
    m = mj_loadXML(file.c_str(), vfs.get(), error, sizeof(error));
    mj_deleteVFS(vfs.get());
  } else {
    source = path;
    // MuJoCo's own message for a missing file is terse; say which and why first.
    std::ifstream probe(path);
    if (!probe) {
      throw InvalidArgument("mujoco: cannot read the model file '" + path + "': " +
                            std::strerror(errno));
    }
    m = mj_loadXML(path.c_str(), nullptr, error, sizeof(error));
  }
  if (m == nullptr) {
    // MuJoCo's message spans lines: one line here.
    std::string message = error[0] != '\0' ? std::string(error) : "unknown error";
    std::replace(message.begin(), message.end(), '\n', ' ');
    while (!message.empty() && message.back() == ' ') message.pop_back();
    throw InvalidArgument("mujoco: cannot load the model '" + source + "': " + message);
  }
  return std::unique_ptr<mjModel, ModelDeleter>(m);
}

// The state mj_step starts from: what the integrator and the solver's warm start read, the inputs,
// the mocap bodies and the user data, and the warning counts (Step() reads them). The derived
// quantities (positions of bodies and sites, forces, contacts) are recomputed by the next
// mj_step's forward pass, so the future is the same as the source's, bit for bit
// (tests/conformance_test.cc). A few microseconds where mj_copyData, which copies all of mjData,
// took ~100 us per copy on the shipped models (bench/mujoco_bench.cc).
void CopySimulationState(const mjModel* m, const mjData* src, mjData* dst) {
  auto copy = [](mjtNum* to, const mjtNum* from, int n) {
    if (n > 0) std::memcpy(to, from, sizeof(mjtNum) * static_cast<size_t>(n));
  };
  dst->time = src->time;
  copy(dst->qpos, src->qpos, m->nq);
  copy(dst->qvel, src->qvel, m->nv);
  copy(dst->act, src->act, m->na);
  copy(dst->act_dot, src->act_dot, m->na);
  copy(dst->ctrl, src->ctrl, m->nu);
  copy(dst->qacc_warmstart, src->qacc_warmstart, m->nv);
  copy(dst->qacc, src->qacc, m->nv);
  copy(dst->qfrc_applied, src->qfrc_applied, m->nv);
  copy(dst->xfrc_applied, src->xfrc_applied, 6 * m->nbody);
  copy(dst->mocap_pos, src->mocap_pos, 3 * m->nmocap);
  copy(dst->mocap_quat, src->mocap_quat, 4 * m->nmocap);
  copy(dst->userdata, src->userdata, m->nuserdata);
  std::memcpy(dst->warning, src->warning, sizeof(src->warning));
}

}  // namespace

void MujocoOptions::Declare(OptionBinder& b) {
  b.String("model", &model, "MJCF model file (empty: the task's built-in model; mujoco has none)");
  b.Int("frame_skip", &frame_skip, "MuJoCo steps per env step", 1, 10'000);
  b.Int("max_episode_steps", &max_episode_steps, "env steps after which an episode is truncated",
        1, 1'000'000'000);
}

Status MujocoOptions::Validate() const { return Status::Ok(); }

struct MujocoEnv::Shared {
  std::unique_ptr<mjModel, ModelDeleter> model;
  std::unique_ptr<MujocoTask> task;
  std::string name, source;
  Space observation_space = Space::Discrete(1);
  Space action_space = Space::Discrete(1);
};

MujocoEnv::MujocoEnv(const char* name, const MujocoOptions& options,
                     std::unique_ptr<MujocoTask> task, std::string_view builtin_name,
                     std::string_view builtin_xml)
    : frame_skip_(options.frame_skip), episode_(name, options.max_episode_steps) {
  InstallMujocoHandlers();
  if (options.model.empty() && builtin_xml.empty()) {
    throw InvalidArgument(std::string(name) + ": needs a model file (the model option)");
  }
  auto shared = std::make_shared<Shared>();
  shared->name = name;
  shared->model = LoadModel(options.model, builtin_name, builtin_xml, shared->source);
  const mjModel* m = shared->model.get();
  if (m->nu < 1 || m->nu > kMaxActionDims) {
    throw InvalidArgument(std::string(name) + ": the model '" + shared->source + "' has " +
                          std::to_string(m->nu) + " actuators; an env needs 1 to " +
                          std::to_string(kMaxActionDims));
  }
  if (Status s = task->Bind(m); !s.ok()) {
    throw InvalidArgument(std::string(name) + ": the model '" + shared->source +
                          "' does not fit the task: " + s.message());
  }
  std::vector<float> low(static_cast<size_t>(m->nu)), high(static_cast<size_t>(m->nu));
  for (int i = 0; i < m->nu; ++i) {
    const bool limited = m->actuator_ctrllimited[i] != 0;
    low[i] = limited ? static_cast<float>(m->actuator_ctrlrange[2 * i])
                     : -std::numeric_limits<float>::infinity();
    high[i] = limited ? static_cast<float>(m->actuator_ctrlrange[2 * i + 1])
                      : std::numeric_limits<float>::infinity();
  }
  shared->action_space = Space::Box(std::move(low), std::move(high), {m->nu});
  const int64_t obs = task->ObservationSize(m);
  shared->observation_space = Space::Box(-std::numeric_limits<float>::infinity(),
                                         std::numeric_limits<float>::infinity(), {obs});
  shared->task = std::move(task);
  data_ = mj_makeData(m);
  observation_.assign(static_cast<size_t>(obs), 0.0f);
  shared_ = std::move(shared);
}

MujocoEnv::MujocoEnv(const MujocoEnv& other)
    : Env(other),
      shared_(other.shared_),
      data_(mj_makeData(other.shared_->model.get())),
      frame_skip_(other.frame_skip_),
      episode_(other.episode_),
      observation_(other.observation_),
      unstable_steps_(other.unstable_steps_) {
  mj_copyData(data_, shared_->model.get(), other.data_);
}

MujocoEnv::~MujocoEnv() {
  if (data_ != nullptr) mj_deleteData(data_);
}

std::string MujocoEnv::name() const { return shared_->name; }
const Space& MujocoEnv::observation_space() const { return shared_->observation_space; }
const Space& MujocoEnv::action_space() const { return shared_->action_space; }
const mjModel* MujocoEnv::model() const { return shared_->model.get(); }
const std::string& MujocoEnv::model_source() const { return shared_->source; }

std::span<const float> MujocoEnv::Reset(uint64_t seed) {
  const mjModel* m = shared_->model.get();
  Rng rng(seed);
  mj_resetData(m, data_);
  shared_->task->Reset(m, data_, rng);
  mj_forward(m, data_);
  episode_.Begin();
  WriteObservation();
  return observation_;
}

StepResult MujocoEnv::Step(const Action& action) {
  episode_.CheckStep(action_space(), action);
  const mjModel* m = shared_->model.get();
  const std::span<const float> u = action.values();
  for (int i = 0; i < m->nu; ++i) data_->ctrl[i] = u[i];
  const int unstable_before = data_->warning[mjWARN_BADQACC].number;
  for (int64_t k = 0; k < frame_skip_; ++k) mj_step(m, data_);
  const bool unstable = data_->warning[mjWARN_BADQACC].number != unstable_before;
  if (unstable) ++unstable_steps_;

  StepResult result;
  result.reward = shared_->task->Reward(m, data_);
  result.terminated = unstable || shared_->task->Terminated(m, data_);
  episode_.EndStep(result);
  WriteObservation();
  result.observation = observation_;
  return result;
}

Status MujocoEnv::CopyStateFrom(const Env& other) {
  if (typeid(other) != typeid(*this)) {
    return Status::InvalidArgument(shared_->name + ": cannot copy the state of a " + other.name() +
                                   " env");
  }
  const auto& o = static_cast<const MujocoEnv&>(other);
  if (o.shared_ != shared_) {  // loaded apart: the same file, and data of the same layout
    const mjModel* a = shared_->model.get();
    const mjModel* b = o.shared_->model.get();
    if (o.shared_->source != shared_->source || a->nq != b->nq || a->nv != b->nv ||
        a->nu != b->nu || a->na != b->na || a->nmocap != b->nmocap || a->nbody != b->nbody ||
        a->nbuffer != b->nbuffer || a->nstack != b->nstack) {
      return Status::InvalidArgument(shared_->name + ": cannot copy the state of an env on " +
                                     "another model (" + o.model_source() + ", this one " +
                                     model_source() + ")");
    }
  }
  CopySimulationState(shared_->model.get(), o.data_, data_);
  frame_skip_ = o.frame_skip_;
  episode_ = o.episode_;
  std::copy(o.observation_.begin(), o.observation_.end(), observation_.begin());
  unstable_steps_ = o.unstable_steps_;
  return Status::Ok();
}

void MujocoEnv::WriteObservation() {
  shared_->task->Observe(shared_->model.get(), data_, observation_);
}

}  // namespace apprentice
