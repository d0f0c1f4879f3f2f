"""python/apprentice_env.py, the remote-env server (docs/remote-env.md): every request type and
error code through handle_bytes(), and one real exchange over a ZeroMQ socket. Pure Python:
python3-zmq and python3-msgpack only."""

import os
import sys
import threading
import unittest

import msgpack
import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "python"))
from apprentice_env import Box, Discrete, EnvServer  # noqa: E402
from catch_game import CatchGame  # noqa: E402


class Walk:
    """A Box-action env without get_state/set_state (copied by deepcopy) that can be made to
    raise."""
    observation_space = Box([-10.0, 0.0], [10.0, 100.0], (2,))
    action_space = Box(-1.0, 1.0, (1,))
    max_episode_steps = 5

    def reset(self, seed=None, options=None):
        self.x, self.t = float(seed % 3), 0
        return [self.x, 0.0], {}

    def step(self, action):
        if float(action[0]) == 0.5:
            raise RuntimeError("the walk broke")
        self.x += float(action[0])
        self.t += 1
        return [self.x, float(self.t)], -abs(self.x), False, self.t >= 5, {}


def call(server, **request):
    request.setdefault("v", 1)
    return msgpack.unpackb(server.handle_bytes(msgpack.packb(request, use_bin_type=True)),
                           raw=False)


def floats(obs):
    import array
    return list(array.array("f", obs))


class EnvServerTest(unittest.TestCase):
    def setUp(self):
        self.server = EnvServer(CatchGame, "tcp://127.0.0.1:*")

    def tearDown(self):
        self.server.close()

    def test_hello_announces_spaces_limits_and_ops(self):
        hello = call(self.server, type="hello")
        self.assertEqual(hello["v"], 1)
        self.assertEqual(hello["type"], "hello")
        self.assertEqual(hello["name"], "CatchGame")
        self.assertEqual(hello["action_space"], {"type": "discrete", "n": 3})
        self.assertEqual(hello["observation_space"]["shape"], [5])
        self.assertEqual(hello["max_episode_steps"], CatchGame.max_episode_steps)
        self.assertEqual(set(hello["ops"]), {"hello", "make", "reset", "step", "close",
                                             "get_state", "set_state", "copy"})

    def test_instances_reset_step_copy_and_state(self):
        a = call(self.server, type="make")["env"]
        b = call(self.server, type="make")["env"]
        self.assertNotEqual(a, b)
        first = call(self.server, type="reset", env=a, seed=7)["obs"]
        self.assertEqual(first, call(self.server, type="reset", env=b, seed=7)["obs"])
        self.assertEqual(len(floats(first)), 5)
        call(self.server, type="step", env=a, action=2)
        self.assertEqual(call(self.server, type="copy", env=b, **{"from": a})["type"], "copy")
        state = call(self.server, type="get_state", env=a)["state"]
        for _ in range(3):
            ra = call(self.server, type="step", env=a, action=0)
            rb = call(self.server, type="step", env=b, action=0)
            self.assertEqual(ra, rb)
        call(self.server, type="set_state", env=b, state=state)
        call(self.server, type="set_state", env=a, state=state)
        self.assertEqual(call(self.server, type="step", env=a, action=1),
                         call(self.server, type="step", env=b, action=1))
        call(self.server, type="close", env=b)
        self.assertEqual(call(self.server, type="step", env=b, action=1)["code"], "unknown_env")
        call(self.server, type="close", env=12345)  # closing an unknown id is not an error

    def test_every_error_code(self):
        def code(body):
            reply = msgpack.unpackb(self.server.handle_bytes(body), raw=False)
            self.assertEqual(reply["type"], "error")
            self.assertTrue(reply["message"])
            return reply["code"]
        pack = lambda **r: msgpack.packb(r, use_bin_type=True)  # noqa: E731
        self.assertEqual(code(b"\xc1garbage"), "malformed")
        self.assertEqual(code(pack(v=1, type="hello")[:-3]), "malformed")
        self.assertEqual(code(msgpack.packb([1, 2])), "malformed")
        self.assertEqual(code(pack(type="hello")), "bad_version")
        self.assertEqual(code(pack(v=2, type="hello")), "bad_version")
        self.assertEqual(code(pack(v=1, type="fly")), "unknown_type")
        self.assertEqual(code(pack(v=1)), "unknown_type")
        env = call(self.server, type="make")["env"]
        self.assertEqual(code(pack(v=1, type="reset", env=env, seed=-1)), "bad_field")
        self.assertEqual(code(pack(v=1, type="reset", env="x", seed=1)), "bad_field")
        self.assertEqual(code(pack(v=1, type="step", env=env, action=0)), "episode_over")
        call(self.server, type="reset", env=env, seed=1)
        self.assertEqual(code(pack(v=1, type="step", env=env, action=3)), "invalid_action")
        self.assertEqual(code(pack(v=1, type="step", env=env, action=True)), "invalid_action")
        self.assertEqual(code(pack(v=1, type="step", env=env, action=[1])), "invalid_action")
        self.assertEqual(code(pack(v=1, type="set_state", env=env, state="text")), "bad_field")
        self.assertEqual(code(pack(v=1, type="set_state", env=env, state=b"\x01")), "env_error")
        small = EnvServer(CatchGame, "tcp://127.0.0.1:*", max_envs=1)
        try:
            call(small, type="make")
            self.assertEqual(call(small, type="make")["code"], "too_many_envs")
        finally:
            small.close()
        # The server answers the next request as usual after every error.
        self.assertEqual(call(self.server, type="hello")["type"], "hello")

    def test_box_actions_deepcopy_and_env_exceptions(self):
        server = EnvServer(Walk, "tcp://127.0.0.1:*")
        try:
            self.assertNotIn("get_state", call(server, type="hello")["ops"])
            a = call(server, type="make")["env"]
            b = call(server, type="make")["env"]
            call(server, type="reset", env=a, seed=4)
            step = call(server, type="step", env=a, action=[0.25])
            self.assertEqual(floats(step["obs"]), [1.25, 1.0])
            self.assertEqual(step["reward"], -1.25)
            call(server, type="copy", env=b, **{"from": a})
            self.assertEqual(call(server, type="step", env=a, action=[-1]),
                             call(server, type="step", env=b, action=[-1]))
            self.assertEqual(call(server, type="step", env=a, action=[1.5])["code"],
                             "invalid_action")
            self.assertEqual(call(server, type="step", env=a, action=[float("nan")])["code"],
                             "invalid_action")
            broke = call(server, type="step", env=a, action=[0.5])
            self.assertEqual(broke["code"], "env_error")
            self.assertIn("the walk broke", broke["message"])
            self.assertEqual(call(server, type="get_state", env=a)["code"], "unknown_type")
            for _ in range(3):
                last = call(server, type="step", env=b, action=[0])
            self.assertTrue(last["truncated"])
            self.assertEqual(call(server, type="step", env=b, action=[0])["code"], "episode_over")
        finally:
            server.close()

    def test_a_real_exchange_over_zeromq(self):
        thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_ms": 20})
        thread.start()
        context = zmq.Context()
        try:
            client = context.socket(zmq.DEALER)  # what apprentice's remote env connects
            client.setsockopt(zmq.LINGER, 0)
            client.setsockopt(zmq.RCVTIMEO, 5000)
            client.connect(self.server.endpoint)
            client.send_multipart([b"", msgpack.packb({"v": 1, "type": "hello"})])
            delimiter, body = client.recv_multipart()
            self.assertEqual(delimiter, b"")
            self.assertEqual(msgpack.unpackb(body, raw=False)["name"], "CatchGame")
            client.close()
        finally:
            self.server.stop()
            thread.join(10)
            context.term()
        self.assertFalse(thread.is_alive())
        self.setUp()  # tearDown closes a server; the served one closed itself


if __name__ == "__main__":
    unittest.main()
