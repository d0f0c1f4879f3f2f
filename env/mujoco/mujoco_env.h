// MujocoEnv: an Env on a MuJoCo model (Debian's libmujoco, 2.2.2).
//
//   MJCF file (or a model built into the binary) ── mj_loadXML ──▶ mjModel, shared by every
//   clone ── mj_makeData ──▶ this env's mjData
//
// - Actions: one component per actuator; the Box is the actuators' ctrlrange (unbounded for an
//   actuator without ctrllimited). Step() writes them into ctrl and calls mj_step `frame_skip`
//   times at the model's timestep, so one env step lasts frame_skip x timestep.
// - Observations, reward, termination and the start state come from a MujocoTask (below). The
//   task reads the model by name (joints, sites, mocap bodies), so a task runs on any model that
//   has the names it needs; the `mujoco` env's task observes qpos and qvel, pays 0 and never ends
//   (any model, e.g. the humanoid of libmujoco-samples).
// - Every piece of state lives in mjData (targets are mocap bodies), so Clone() is mj_makeData +
//   mj_copyData. CopyStateFrom(), on the per-step path of planners and the plan queue, copies
//   into this env's data only the state mj_step starts from (time, qpos, qvel, act, ctrl, the
//   warm start, applied forces, mocap bodies, user data): no allocation, a few microseconds, where
//   a full mj_copyData costs ~100 us; the next step recomputes everything else, so the future is
//   the same bit for bit. It takes the state of an env of the same task on the same model (a
//   clone, or one loaded from the same file: its sizes are compared).
// - An unstable simulation (MuJoCo's "bad qacc" warning: a NaN, an infinity or a huge
//   acceleration, after which MuJoCo resets the data) ends the episode as terminated, counted in
//   unstable_steps().
// - Errors: a missing, unreadable or malformed MJCF file, a model without actuators (or with more
//   than kMaxActionDims) or without what the task reads: InvalidArgument from the constructor,
//   naming the file and MuJoCo's message. MuJoCo's fatal errors (mju_error) are thrown as
//   InvalidArgument instead of ending the process; its warnings are not printed.
// - Not thread-safe (see env/env.h); clones may run on different threads.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/options.h"
#include "core/rng.h"
#include "core/space.h"
#include "env/env.h"
#include "env/episode.h"

// MuJoCo's types, declared here so that this header does not pull in mujoco.h.
struct mjModel_;
struct mjData_;

namespace apprentice {

// What a task adds to a model: how an episode starts, what the agent observes, what it is paid,
// when the episode ends. Bind() runs once per loaded model; the other calls may run on many
// threads at once (one env each), so they must not change the task.
class MujocoTask {
 public:
  virtual ~MujocoTask() = default;
  // Finds what the task reads in the model (InvalidArgument naming what is missing).
  virtual Status Bind(const mjModel_* m) = 0;
  virtual int64_t ObservationSize(const mjModel_* m) const = 0;
  // The start state of an episode, from MuJoCo's reset state (mj_resetData); mj_forward follows.
  virtual void Reset(const mjModel_* m, mjData_* d, Rng& rng) const = 0;
  virtual void Observe(const mjModel_* m, const mjData_* d, std::span<float> out) const = 0;
  // The reward of the step that has just ended (d is the state after it).
  virtual double Reward(const mjModel_* m, const mjData_* d) const = 0;
  virtual bool Terminated(const mjModel_* m, const mjData_* d) const {
    (void)m;
    (void)d;
    return false;
  }
};

// The options every MuJoCo env declares; a task env sets its own defaults.
struct MujocoOptions {
  std::string model;  // an MJCF file; empty: the task's built-in model
  int64_t frame_skip = 1;
  int64_t max_episode_steps = 1000;
  void Declare(OptionBinder& b);
  Status Validate() const;
};

class MujocoEnv : public Env {
 public:
  // Loads the model (options.model, else `builtin_xml` under the name `builtin_name`) and binds
  // `task` to it. Throws InvalidArgument (see above).
  // `name` must outlive the env (a string literal).
  MujocoEnv(const char* name, const MujocoOptions& options, std::unique_ptr<MujocoTask> task,
            std::string_view builtin_name = {}, std::string_view builtin_xml = {});
  MujocoEnv(const MujocoEnv& other);  // the same model, a copy of the data
  MujocoEnv& operator=(const MujocoEnv&) = delete;
  ~MujocoEnv() override;

  std::string name() const override;
  const Space& observation_space() const override;
  const Space& action_space() const override;
  int64_t max_episode_steps() const override { return episode_.max_steps(); }

  std::span<const float> Reset(uint64_t seed) override;
  StepResult Step(const Action& action) override;
  Status CopyStateFrom(const Env& other) override;
  int64_t elapsed_steps() const override { return episode_.elapsed(); }

  const mjModel_* model() const;
  const mjData_* data() const { return data_; }
  mjData_* mutable_data() { return data_; }
  int64_t frame_skip() const { return frame_skip_; }
  // The model file loaded ("<built-in NAME>" for a built-in model).
  const std::string& model_source() const;
  int64_t unstable_steps() const { return unstable_steps_; }

 private:
  struct Shared;  // the model, the task, the spaces: one per load, shared by clones
  void WriteObservation();

  std::shared_ptr<const Shared> shared_;
  mjData_* data_ = nullptr;
  int64_t frame_skip_ = 1;
  Episode episode_;
  std::vector<float> observation_;
  int64_t unstable_steps_ = 0;
};

// The MJCF text of a model built into the binary (env/mujoco/models/NAME.xml), or empty.
std::string_view BuiltinMujocoModel(std::string_view name);

// A registered MuJoCo env: MujocoEnv with the options and the task of `Spec`, which provides
//   static constexpr const char* kName, kModel (a built-in model's name, or "" for none);
//   struct Options : MujocoOptions { Options(); }  (its defaults);
//   static std::unique_ptr<MujocoTask> Task();
template <class Spec>
class MujocoTaskEnv final : public MujocoEnv {
 public:
  using Options = typename Spec::Options;
  explicit MujocoTaskEnv(const Options& options)
      : MujocoEnv(Spec::kName, options, Spec::Task(), Spec::kModel,
                  BuiltinMujocoModel(Spec::kModel)) {}
  std::unique_ptr<Env> Clone() const override { return std::make_unique<MujocoTaskEnv>(*this); }
};

}  // namespace apprentice
