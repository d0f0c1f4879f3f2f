"""The `apprentice` Python module: envs, an Agent driven for 1000 steps and its log read back,
snapshots (act, batched act in place), the offline tools, and errors as Python exceptions."""

import os
import tempfile
import time
import unittest

import numpy as np

import apprentice


class EnvTest(unittest.TestCase):
    def test_registered_envs_step_like_gymnasium(self):
        self.assertIn("cartpole", apprentice.env_names())
        self.assertIn("remote", apprentice.env_names())
        self.assertIn("mcts", apprentice.planner_names())
        env = apprentice.Env("cartpole", max_episode_steps=20)
        self.assertEqual(env.action_space, "Discrete(2)")
        self.assertEqual(env.max_episode_steps, 20)
        obs = env.reset(3)
        self.assertEqual(obs.dtype, np.float32)
        self.assertEqual(obs.shape, (4,))
        np.testing.assert_array_equal(obs, apprentice.Env("cartpole").reset(3))
        clone = env.clone()
        a = env.step(1)
        b = clone.step(1)
        np.testing.assert_array_equal(a[0], b[0])
        self.assertEqual(a[1:], (1.0, False, False))
        steps = 1
        while not env.step(steps % 2)[3]:
            steps += 1
            self.assertLess(steps, 20)

    def test_bad_input_raises_clear_errors(self):
        env = apprentice.Env("cartpole")
        with self.assertRaisesRegex(ValueError, "before reset"):
            env.step(0)
        env.reset(1)
        with self.assertRaisesRegex(ValueError, "out of range|outside"):
            env.step(5)
        with self.assertRaisesRegex(ValueError, "no option 'nope'"):
            apprentice.Env("cartpole", nope=1)
        with self.assertRaisesRegex(FileNotFoundError, "unknown environment"):
            apprentice.Env("no-such-env")


class AgentTest(unittest.TestCase):
    def test_an_agent_drives_1000_steps_and_its_log_reads_back(self):
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = os.path.join(tmp, "run")
            env = apprentice.Env("cartpole")
            returns, total = [], 0.0
            with apprentice.Agent(env="cartpole", planner="lqr", mode="reflex", seed=3,
                                  run_dir=run_dir, min_replay=64, hidden=[32]) as agent:
                obs = env.reset(0)
                episode = 0
                for t in range(1000):
                    action = agent.act(obs, env)
                    self.assertIn(action, (0, 1))
                    obs, reward, terminated, truncated = env.step(action)
                    agent.observe(reward, terminated, truncated)
                    total += reward
                    if terminated or truncated:
                        returns.append(total)
                        total = 0.0
                        episode += 1
                        obs = env.reset(episode)
                # The planner labels in the background at its own pace (a loaded machine may
                # not have run it yet): wait, bounded, for labels before stopping.
                give_up = time.monotonic() + 60
                while agent.metrics()["labels"] < 10 and time.monotonic() < give_up:
                    time.sleep(0.01)
                decision = agent.decide(obs, env)
                self.assertEqual(decision["by"], "executor")
                self.assertEqual(decision["id"], 1001)
                env.step(decision["action"])
                agent.observe(1.0, True, False)
                metrics = agent.metrics()
                self.assertEqual(metrics["steps"], 1001)
                self.assertGreaterEqual(metrics["planner_requests"], 1)
            self.assertTrue(agent.stopped)

            log = apprentice.read_log(os.path.join(run_dir, "logs"))
            n = len(log["decision_id"])
            self.assertEqual(n, 1001)
            # In log order: a record is written when its label (or its wait) is over.
            np.testing.assert_array_equal(np.sort(log["decision_id"]),
                                          np.arange(1, 1002, dtype=np.uint64))
            self.assertEqual(log["observation"].shape, (1001, 4))
            self.assertEqual(log["observation"].dtype, np.float32)
            self.assertTrue(np.all(log["reward"] == 1.0))
            self.assertEqual(int(log["terminated"].sum() + log["truncated"].sum()),
                             len(returns) + 1)
            self.assertTrue(np.all(np.isin(log["action"], [0, 1])))
            self.assertFalse(log["by_planner"].any())  # reflex: the executor always acts
            labelled = log["has_label"]
            self.assertGreater(labelled.sum(), 0)
            probs = log["planner_probs"][labelled]
            np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
            self.assertTrue(np.all(log["planner_action"][~labelled] == -1))
            self.assertEqual(log["damage"], [])
            # Steps count up within each episode from 0.
            starts = np.flatnonzero(log["step"] == 0)
            self.assertEqual(len(starts), len(returns) + 1)

            info = apprentice.inspect(os.path.join(run_dir, "logs"))
            self.assertEqual(info["records"], 1001)

            snap = apprentice.Snapshot.load(os.path.join(run_dir, "executor.snap"))
            self.assertEqual(snap.input_size, 4)
            self.assertEqual(snap.action_space, "Discrete(2)")
            self.assertEqual(snap.info["env"], "cartpole")
            score = apprentice.evaluate_log(os.path.join(run_dir, "logs"), snap)
            self.assertEqual(score["records"], 1001)
            self.assertEqual(score["overall"]["decisions"], int(labelled.sum()))

            student, report = apprentice.distill(os.path.join(run_dir, "logs"), hidden=[16],
                                                 updates=200, holdout=0.2, seed=1)
            self.assertEqual(report["updates"], 200)
            self.assertEqual(student.input_size, 4)
            result = apprentice.rollout(student, "cartpole", episodes=3, seed=5)
            self.assertEqual(len(result["returns"]), 3)

    def test_an_agent_refuses_bad_settings_and_bad_observations(self):
        with self.assertRaisesRegex(ValueError, "sync"):
            apprentice.Agent(env="cartpole", mode="sync")
        with self.assertRaisesRegex(ValueError, "no option 'depth'"):
            apprentice.Agent(env="cartpole", planner="mcts", planner_options={"depth": 3})
        with self.assertRaisesRegex(ValueError, "resume=True needs run_dir"):
            apprentice.Agent(resume=True)
        agent = apprentice.Agent(env="cartpole", planner="lqr")
        env = apprentice.Env("cartpole")
        env.reset(1)
        with self.assertRaisesRegex(ValueError, "observation"):
            agent.act(np.zeros(3, dtype=np.float32), env)
        with self.assertRaisesRegex(ValueError, "env"):
            agent.act(np.zeros(4, dtype=np.float32))  # LQR simulates: it needs the env
        agent.stop()
        with self.assertRaisesRegex(RuntimeError, "stopped"):
            agent.act(np.zeros(4, dtype=np.float32), env)


class SnapshotTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        agent = apprentice.Agent(env="cartpole", planner="lqr", hidden=[8])
        cls.snap = agent.snapshot()
        agent.stop()

    def test_batched_act_reads_and_writes_numpy_arrays_in_place(self):
        rng = np.random.default_rng(1)
        obs = rng.standard_normal((64, 4)).astype(np.float32)
        outputs = np.zeros((64, 2), dtype=np.float32)
        actions = self.snap.act_batch(obs, outputs)
        self.assertEqual(actions.dtype, np.int64)
        self.assertEqual(actions.shape, (64,))
        self.assertTrue(np.any(outputs != 0))  # written in place
        np.testing.assert_array_equal(actions, outputs.argmax(axis=1))
        for i in range(64):
            self.assertEqual(self.snap.act(obs[i]), actions[i])
        # float64 and lists are converted once; the answer is the same.
        np.testing.assert_array_equal(self.snap.act_batch(obs.astype(np.float64)), actions)
        self.assertEqual(self.snap.act(list(map(float, obs[0]))), actions[0])
        with self.assertRaisesRegex(ValueError, r"\(n, 4\)"):
            self.snap.act_batch(np.zeros((3, 5), dtype=np.float32))
        with self.assertRaisesRegex(ValueError, "outputs must be"):
            self.snap.act_batch(obs, np.zeros((64, 2), dtype=np.float64))

    def test_save_and_load_round_trip(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "s.snap")
            self.snap.save(path)
            again = apprentice.Snapshot.load(path)
            obs = np.linspace(-1, 1, 4, dtype=np.float32)
            self.assertEqual(again.act(obs), self.snap.act(obs))
            self.assertEqual(again.spec, self.snap.spec)
            with open(path, "r+b") as f:
                f.seek(40)
                f.write(b"\xff" * 8)
            with self.assertRaises(OSError):
                apprentice.Snapshot.load(path)
        with self.assertRaises(FileNotFoundError):
            apprentice.Snapshot.load(os.path.join(tmp, "missing.snap"))

    def test_act_cost_is_reported(self):
        # Measured, not asserted (bench/python_act.py quotes it): one greedy act through Python.
        obs = np.zeros(4, dtype=np.float32)
        n = 20000
        t = time.perf_counter()
        for _ in range(n):
            self.snap.act(obs)
        per_call = (time.perf_counter() - t) / n * 1e6
        print("\nSnapshot.act through Python: %.2f us per call" % per_call)


if __name__ == "__main__":
    unittest.main()
