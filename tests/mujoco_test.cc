// The MuJoCo adapter (env/mujoco): against raw MuJoCo on the same model, with a model of
// libmujoco-samples, and with bad files and bad actions.
#include <gtest/gtest.h>
#include <mujoco/mujoco.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <vector>

#include "allocation_counter.h"
#include "core/rng.h"
#include "env/mujoco/mujoco_env.h"
#include "env/registry.h"
#include "temp_files.h"

namespace apprentice {
namespace {

constexpr const char* kModels = APPRENTICE_SOURCE_DIR "/env/mujoco/models/";
constexpr const char* kHumanoid = "/usr/share/mujoco/model/humanoid/humanoid.xml";

std::unique_ptr<MujocoEnv> MakeMujoco(const std::string& name, const OptionValues& options = {}) {
  auto env = MakeEnv(name, options).ValueOrThrow();
  return std::unique_ptr<MujocoEnv>(static_cast<MujocoEnv*>(env.release()));
}

Action Controls(const Space& space, Rng& rng) {
  std::vector<float> u(static_cast<size_t>(space.flat_size()));
  for (size_t i = 0; i < u.size(); ++i) {
    u[i] = std::isfinite(space.low()[i]) ? static_cast<float>(rng.Uniform(space.low()[i], space.high()[i]))
                                         : static_cast<float>(rng.Uniform(-1, 1));
  }
  return Action::Continuous(u);
}

// The adapter's step is MuJoCo's: the same model file stepped by hand with mj_step, frame_skip
// times per action, from the same start, gives bit-identical positions and velocities.
TEST(MujocoEnv, StepsExactlyAsRawMjStepOnTheSameModelAndControls) {
  for (const std::string task : {"cartpole", "reacher", "pusher"}) {
    const std::string file = std::string(kModels) + task + ".xml";
    auto env = MakeMujoco("mujoco-" + task, {{"model", file}});
    char error[1000] = "";
    mjModel* m = mj_loadXML(file.c_str(), nullptr, error, sizeof(error));
    ASSERT_NE(m, nullptr) << error;
    mjData* d = mj_makeData(m);
    env->Reset(17);
    mj_copyData(d, m, env->data());  // the task's start state, then two separate simulations
    Rng rng(4);
    for (int t = 0; t < 60; ++t) {
      const Action a = Controls(env->action_space(), rng);
      env->Step(a);
      for (int i = 0; i < m->nu; ++i) d->ctrl[i] = a.values()[i];
      for (int64_t k = 0; k < env->frame_skip(); ++k) mj_step(m, d);
      for (int i = 0; i < m->nq; ++i) ASSERT_EQ(env->data()->qpos[i], d->qpos[i]) << task << " t=" << t;
      for (int i = 0; i < m->nv; ++i) ASSERT_EQ(env->data()->qvel[i], d->qvel[i]) << task << " t=" << t;
    }
    mj_deleteData(d);
    mj_deleteModel(m);
  }
}

TEST(MujocoEnv, ActionsAreTheActuatorsWithTheirControlRanges) {
  auto reacher = MakeMujoco("mujoco-reacher");
  EXPECT_EQ(reacher->action_space().ToString(), "Box(-1, 1, (2,))");
  EXPECT_EQ(reacher->observation_space().flat_size(), 10);
  EXPECT_EQ(reacher->frame_skip(), 2);
  EXPECT_EQ(reacher->max_episode_steps(), 100);
  EXPECT_EQ(reacher->model_source(), "<built-in reacher>");
  // The built-in model and the shipped file are the same model.
  auto from_file = MakeMujoco("mujoco-reacher", {{"model", std::string(kModels) + "reacher.xml"}});
  EXPECT_EQ(from_file->model()->nbuffer, reacher->model()->nbuffer);
}

// A model of libmujoco-samples: the adapter is not tied to apprentice's own files.
TEST(MujocoEnv, LoadsAndStepsTheHumanoidOfMujocoSamples) {
  auto env = MakeMujoco("mujoco", {{"model", kHumanoid}});
  EXPECT_EQ(env->action_space().flat_size(), env->model()->nu);
  EXPECT_EQ(env->observation_space().flat_size(), env->model()->nq + env->model()->nv);
  std::span<const float> obs = env->Reset(3);
  Rng rng(1);
  for (int t = 0; t < 200; ++t) {
    const StepResult r = env->Step(Controls(env->action_space(), rng));
    obs = r.observation;
    if (r.done()) break;
  }
  for (float v : obs) EXPECT_TRUE(std::isfinite(v));
  EXPECT_GT(env->data()->time, 0.0);
}

TEST(MujocoEnv, CopyStateFromAllocatesNothingAndGivesTheSameFuture) {
  auto a = MakeMujoco("mujoco-pusher");
  const auto b = a->Clone();
  a->Reset(5);
  Rng rng(2);
  for (int t = 0; t < 10; ++t) a->Step(Controls(a->action_space(), rng));
  const int64_t before = AllocationsOnThisThread();
  ASSERT_TRUE(b->CopyStateFrom(*a).ok());
  EXPECT_EQ(AllocationsOnThisThread(), before);
  const Action u = Action::Continuous(std::vector<float>{0.5f, -0.25f});
  const StepResult ra = a->Step(u);
  const std::vector<float> oa(ra.observation.begin(), ra.observation.end());
  const StepResult rb = b->Step(u);
  EXPECT_EQ(oa, std::vector<float>(rb.observation.begin(), rb.observation.end()));
  EXPECT_EQ(ra.reward, rb.reward);
  // Another task, another model: refused.
  auto reacher = MakeMujoco("mujoco-reacher");
  EXPECT_FALSE(b->CopyStateFrom(*reacher).ok());
}

TEST(MujocoEnv, AMissingUnreadableOrMalformedFileIsOneClearError) {
  auto message = [](const OptionValues& options, const std::string& env = "mujoco") {
    const auto made = MakeEnv(env, options);
    EXPECT_FALSE(made.ok());
    return made.ok() ? std::string() : made.status().message();
  };
  std::string m = message({{"model", "/no/such/model.xml"}});
  EXPECT_NE(m.find("cannot read the model file '/no/such/model.xml': No such file"),
            std::string::npos) << m;
  TempDir dir;
  {
    std::ofstream(dir / "broken.xml") << "<mujoco><worldbody><body><geom type='sphere'";
  }
  m = message({{"model", dir / "broken.xml"}});
  EXPECT_NE(m.find("cannot load the model '" + (dir / "broken.xml") + "'"), std::string::npos) << m;
  EXPECT_NE(m.find("XML"), std::string::npos) << m;  // MuJoCo's own message follows
  {
    std::ofstream(dir / "still.xml")
        << "<mujoco><worldbody><body><joint type='slide'/><geom size='0.1'/></body>"
           "</worldbody></mujoco>";
  }
  m = message({{"model", dir / "still.xml"}});
  EXPECT_NE(m.find("has 0 actuators"), std::string::npos) << m;
  // A model without what the task reads.
  m = message({{"model", std::string(kModels) + "reacher.xml"}}, "mujoco-cartpole");
  EXPECT_NE(m.find("does not fit the task: no joint 'slider'"), std::string::npos) << m;
  m = message({});
  EXPECT_NE(m.find("needs a model file"), std::string::npos) << m;
  if (::geteuid() != 0) {  // root reads anything
    std::ofstream(dir / "secret.xml") << "<mujoco/>";
    std::filesystem::permissions(dir / "secret.xml", std::filesystem::perms::none);
    m = message({{"model", dir / "secret.xml"}});
    EXPECT_NE(m.find("Permission denied"), std::string::npos) << m;
  }
}

TEST(MujocoEnv, ActionsOfTheWrongSizeOrNotFiniteAreRefusedAndChangeNothing) {
  auto env = MakeMujoco("mujoco-reacher");
  env->Reset(1);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const Action& bad : {Action::Continuous(std::vector<float>{0.1f}),
                            Action::Continuous(std::vector<float>{0.1f, nan}),
                            Action::Continuous(std::vector<float>{0.1f, 3.0f}),
                            Action::Discrete(1)}) {
    try {
      env->Step(bad);
      ADD_FAILURE() << "accepted " << bad.ToString();
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find("mujoco-reacher:"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(env->data()->time, 0.0);  // not one MuJoCo step taken
  EXPECT_EQ(env->elapsed_steps(), 0);
}

}  // namespace
}  // namespace apprentice
