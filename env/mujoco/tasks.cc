// The MuJoCo tasks apprentice ships (models in env/mujoco/models/, built into the binary), and the
// `mujoco` env that runs any model file. Rewards, starts and limits are documented in
// docs/mujoco.md.
#include <mujoco/mujoco.h>

#include <cmath>
#include <numbers>

#include "env/mujoco/mujoco_env.h"
#include "env/registry.h"

namespace apprentice {
namespace {

// Ids of named model elements, or a Status naming the first one missing.
class Binder {
 public:
  explicit Binder(const mjModel* m) : m_(m) {}
  int Joint(const char* name) { return Find(mjOBJ_JOINT, name, "joint"); }
  int Site(const char* name) { return Find(mjOBJ_SITE, name, "site"); }
  int Body(const char* name) { return Find(mjOBJ_BODY, name, "body"); }
  int Mocap(const char* name) {
    const int body = Body(name);
    if (body < 0) return -1;
    const int mocap = m_->body_mocapid[body];
    if (mocap < 0 && missing_.empty()) missing_ = "body '" + std::string(name) + "' is not mocap";
    return mocap;
  }
  Status status() const {
    return missing_.empty() ? Status::Ok() : Status::InvalidArgument(missing_);
  }

 private:
  int Find(int type, const char* name, const char* what) {
    const int id = mj_name2id(m_, type, name);
    if (id < 0 && missing_.empty()) missing_ = "no " + std::string(what) + " '" + name + "'";
    return id;
  }
  const mjModel* m_;
  std::string missing_;
};

double Squared(const mjData* d, int nu) {
  double s = 0.0;
  for (int i = 0; i < nu; ++i) s += d->ctrl[i] * d->ctrl[i];
  return s;
}

// What MujocoTaskEnv needs besides the names (kName, kModel): the task and the option defaults.
template <class TaskT, int64_t kFrameSkip, int64_t kMaxEpisodeSteps>
struct TaskSpec {
  struct Options : MujocoOptions {
    Options() {
      frame_skip = kFrameSkip;
      max_episode_steps = kMaxEpisodeSteps;
    }
  };
  static std::unique_ptr<MujocoTask> Task() { return std::make_unique<TaskT>(); }
};

// ---- mujoco: any model; observes qpos and qvel, pays 0, never ends. ----
class RawTask final : public MujocoTask {
 public:
  Status Bind(const mjModel*) override { return Status::Ok(); }
  int64_t ObservationSize(const mjModel* m) const override { return m->nq + m->nv; }
  void Reset(const mjModel* m, mjData* d, Rng& rng) const override {
    for (int i = 0; i < m->nv; ++i) d->qvel[i] = rng.Uniform(-0.01, 0.01);
  }
  void Observe(const mjModel* m, const mjData* d, std::span<float> out) const override {
    for (int i = 0; i < m->nq; ++i) out[i] = static_cast<float>(d->qpos[i]);
    for (int i = 0; i < m->nv; ++i) out[m->nq + i] = static_cast<float>(d->qvel[i]);
  }
  double Reward(const mjModel*, const mjData*) const override { return 0.0; }
};

struct RawSpec : TaskSpec<RawTask, 1, 1000> {
  static constexpr const char* kName = "mujoco";
  static constexpr const char* kModel = "";
};
using MujocoRaw = MujocoTaskEnv<RawSpec>;

// ---- mujoco-cartpole: swing the pole up from hanging and hold it over the rail's centre. ----
class CartpoleTask final : public MujocoTask {
 public:
  Status Bind(const mjModel* m) override {
    Binder b(m);
    const int slider = b.Joint("slider"), hinge = b.Joint("hinge");
    if (!b.status().ok()) return b.status();
    x_ = m->jnt_qposadr[slider];
    vx_ = m->jnt_dofadr[slider];
    th_ = m->jnt_qposadr[hinge];
    vth_ = m->jnt_dofadr[hinge];
    return Status::Ok();
  }
  int64_t ObservationSize(const mjModel*) const override { return 5; }
  void Reset(const mjModel*, mjData* d, Rng& rng) const override {
    d->qpos[x_] = rng.Uniform(-0.1, 0.1);
    d->qpos[th_] = std::numbers::pi + rng.Uniform(-0.1, 0.1);
    d->qvel[vx_] = rng.Uniform(-0.05, 0.05);
    d->qvel[vth_] = rng.Uniform(-0.05, 0.05);
  }
  void Observe(const mjModel*, const mjData* d, std::span<float> out) const override {
    out[0] = static_cast<float>(d->qpos[x_]);
    out[1] = static_cast<float>(std::cos(d->qpos[th_]));
    out[2] = static_cast<float>(std::sin(d->qpos[th_]));
    out[3] = static_cast<float>(d->qvel[vx_]);
    out[4] = static_cast<float>(d->qvel[vth_]);
  }
  // At most 1: upright, still, centred, without force.
  double Reward(const mjModel* m, const mjData* d) const override {
    const double x = d->qpos[x_], w = d->qvel[vth_];
    return 0.5 * (1.0 + std::cos(d->qpos[th_])) - 0.1 * x * x - 0.001 * w * w -
           0.01 * Squared(d, m->nu);
  }

 private:
  int x_ = 0, vx_ = 0, th_ = 0, vth_ = 0;
};

struct CartpoleSpec : TaskSpec<CartpoleTask, 2, 250> {
  static constexpr const char* kName = "mujoco-cartpole";
  static constexpr const char* kModel = "cartpole";
};
using MujocoCartpole = MujocoTaskEnv<CartpoleSpec>;

// ---- mujoco-reacher: bring the fingertip of a two-link arm to a random target. ----
class ReacherTask final : public MujocoTask {
 public:
  Status Bind(const mjModel* m) override {
    Binder b(m);
    const int shoulder = b.Joint("shoulder"), elbow = b.Joint("elbow");
    fingertip_ = b.Site("fingertip");
    target_ = b.Mocap("target");
    if (!b.status().ok()) return b.status();
    q0_ = m->jnt_qposadr[shoulder];
    q1_ = m->jnt_qposadr[elbow];
    v0_ = m->jnt_dofadr[shoulder];
    v1_ = m->jnt_dofadr[elbow];
    return Status::Ok();
  }
  int64_t ObservationSize(const mjModel*) const override { return 10; }
  void Reset(const mjModel*, mjData* d, Rng& rng) const override {
    d->qpos[q0_] = rng.Uniform(-std::numbers::pi, std::numbers::pi);
    d->qpos[q1_] = rng.Uniform(-0.5, 0.5);
    d->qvel[v0_] = rng.Uniform(-0.05, 0.05);
    d->qvel[v1_] = rng.Uniform(-0.05, 0.05);
    const double radius = rng.Uniform(0.05, 0.19);
    const double angle = rng.Uniform(-std::numbers::pi, std::numbers::pi);
    d->mocap_pos[3 * target_] = radius * std::cos(angle);
    d->mocap_pos[3 * target_ + 1] = radius * std::sin(angle);
  }
  void Observe(const mjModel*, const mjData* d, std::span<float> out) const override {
    const double* tip = d->site_xpos + 3 * fingertip_;
    const double* target = d->mocap_pos + 3 * target_;
    const double values[10] = {std::cos(d->qpos[q0_]), std::sin(d->qpos[q0_]),
                               std::cos(d->qpos[q1_]), std::sin(d->qpos[q1_]),
                               d->qvel[v0_],           d->qvel[v1_],
                               target[0],              target[1],
                               tip[0] - target[0],     tip[1] - target[1]};
    for (int i = 0; i < 10; ++i) out[i] = static_cast<float>(values[i]);
  }
  // Minus the fingertip's distance to the target (metres), minus a small force cost.
  double Reward(const mjModel* m, const mjData* d) const override {
    const double* tip = d->site_xpos + 3 * fingertip_;
    const double* target = d->mocap_pos + 3 * target_;
    return -std::hypot(tip[0] - target[0], tip[1] - target[1]) - 0.01 * Squared(d, m->nu);
  }

 private:
  int q0_ = 0, q1_ = 0, v0_ = 0, v1_ = 0, fingertip_ = 0, target_ = 0;
};

struct ReacherSpec : TaskSpec<ReacherTask, 2, 100> {
  static constexpr const char* kName = "mujoco-reacher";
  static constexpr const char* kModel = "reacher";
};
using MujocoReacher = MujocoTaskEnv<ReacherSpec>;

// ---- mujoco-pusher: push a box to a random goal with a sphere (contact). ----
class PusherTask final : public MujocoTask {
 public:
  Status Bind(const mjModel* m) override {
    Binder b(m);
    const int px = b.Joint("pusher_x"), py = b.Joint("pusher_y");
    const int bx = b.Joint("box_x"), by = b.Joint("box_y");
    pusher_ = b.Body("pusher");
    box_ = b.Body("box");
    goal_ = b.Mocap("goal");
    if (!b.status().ok()) return b.status();
    for (int j : {px, py, bx, by}) {
      if (m->jnt_type[j] != mjJNT_SLIDE) {
        return Status::InvalidArgument("joint " + std::to_string(j) + " is not a slide joint");
      }
    }
    pq_[0] = m->jnt_qposadr[px];
    pq_[1] = m->jnt_qposadr[py];
    bq_[0] = m->jnt_qposadr[bx];
    bq_[1] = m->jnt_qposadr[by];
    pv_[0] = m->jnt_dofadr[px];
    pv_[1] = m->jnt_dofadr[py];
    bv_[0] = m->jnt_dofadr[bx];
    bv_[1] = m->jnt_dofadr[by];
    return Status::Ok();
  }
  int64_t ObservationSize(const mjModel*) const override { return 14; }
  void Reset(const mjModel*, mjData* d, Rng& rng) const override {
    d->qpos[pq_[0]] = rng.Uniform(-0.05, 0.05);
    d->qpos[pq_[1]] = rng.Uniform(-0.05, 0.05);
    d->qpos[bq_[0]] = rng.Uniform(-0.05, 0.05);
    d->qpos[bq_[1]] = rng.Uniform(-0.1, 0.1);
    d->mocap_pos[3 * goal_] = rng.Uniform(0.35, 0.55);
    d->mocap_pos[3 * goal_ + 1] = rng.Uniform(-0.25, 0.25);
  }
  void Observe(const mjModel*, const mjData* d, std::span<float> out) const override {
    const double* p = d->xpos + 3 * pusher_;
    const double* b = d->xpos + 3 * box_;
    const double* g = d->mocap_pos + 3 * goal_;
    const double values[14] = {p[0],        p[1],        d->qvel[pv_[0]], d->qvel[pv_[1]],
                               b[0],        b[1],        d->qvel[bv_[0]], d->qvel[bv_[1]],
                               g[0],        g[1],        b[0] - p[0],     b[1] - p[1],
                               g[0] - b[0], g[1] - b[1]};
    for (int i = 0; i < 14; ++i) out[i] = static_cast<float>(values[i]);
  }
  // Minus the box's distance to the goal, minus a tenth of the sphere's distance to the box (it
  // must reach the box first), minus a small force cost.
  double Reward(const mjModel* m, const mjData* d) const override {
    const double* p = d->xpos + 3 * pusher_;
    const double* b = d->xpos + 3 * box_;
    const double* g = d->mocap_pos + 3 * goal_;
    return -std::hypot(g[0] - b[0], g[1] - b[1]) - 0.1 * std::hypot(b[0] - p[0], b[1] - p[1]) -
           0.001 * Squared(d, m->nu);
  }

 private:
  int pusher_ = 0, box_ = 0, goal_ = 0;
  int pq_[2] = {0, 0}, bq_[2] = {0, 0}, pv_[2] = {0, 0}, bv_[2] = {0, 0};
};

struct PusherSpec : TaskSpec<PusherTask, 2, 150> {
  static constexpr const char* kName = "mujoco-pusher";
  static constexpr const char* kModel = "pusher";
};
using MujocoPusher = MujocoTaskEnv<PusherSpec>;

}  // namespace

APPRENTICE_REGISTER_ENV(MujocoRaw, "mujoco",
                        "any MuJoCo model file (the model option): observes qpos and qvel, "
                        "pays 0, never ends");
APPRENTICE_REGISTER_ENV(MujocoCartpole, "mujoco-cartpole",
                        "MuJoCo cart-pole swing-up: raise the hanging pole and hold it upright");
APPRENTICE_REGISTER_ENV(MujocoReacher, "mujoco-reacher",
                        "MuJoCo two-link reacher: bring the fingertip to a random target");
APPRENTICE_REGISTER_ENV(MujocoPusher, "mujoco-pusher",
                        "MuJoCo planar pusher: push a box to a random goal (contact)");

}  // namespace apprentice
