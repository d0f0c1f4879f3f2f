"""Serve a Python environment to apprentice over ZeroMQ + MessagePack.

The protocol is docs/remote-env.md; this module implements it with python3-zmq and
python3-msgpack only (no numpy, no gymnasium needed). It serves any object with Gymnasium's API:

    reset(seed=...) -> (observation, info)
    step(action)    -> (observation, reward, terminated, truncated, info)
    observation_space, action_space   (Discrete: .n; Box: .low, .high, .shape)

Optional, and announced in hello's "ops" when present:

    get_state() -> bytes, set_state(bytes)   the env's full state (wire "get_state"/"set_state")
    "copy" (one instance's state into another, what planners simulate with) uses them when the
    env has them, else copy.deepcopy of the env object; copy=False turns it off.

Run an env from the command line (apprentice then connects with
`apprentice run --env remote --remote-address tcp://127.0.0.1:5600`):

    from apprentice_env import main
    main(MyEnv)                     # MyEnv() makes one instance; --bind, --max-envs, --quiet

or from code: `EnvServer(MyEnv, "tcp://127.0.0.1:5600").serve_forever()`. The server is one
thread answering one request at a time (a ZeroMQ REP socket); every instance the runtime opens
("make") is another call of the factory.
"""

import argparse
import array
import copy as copylib
import math
import signal
import sys

import msgpack
import zmq

PROTOCOL_VERSION = 1
__all__ = ["Discrete", "Box", "EnvServer", "ProtocolError", "main"]


class Discrete:
    """The integers 0 .. n-1 (Gymnasium's Discrete without numpy)."""

    def __init__(self, n):
        self.n = int(n)

    def contains(self, x):
        return isinstance(x, int) and 0 <= x < self.n


class Box:
    """Float arrays of `shape` with low <= x <= high elementwise (bounds may be +-inf)."""

    def __init__(self, low, high, shape):
        self.shape = tuple(int(d) for d in shape)
        size = 1
        for d in self.shape:
            size *= d
        self.low = _broadcast(low, size)
        self.high = _broadcast(high, size)


class ProtocolError(Exception):
    """A request the server refuses: `code` is the error code sent back."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def _broadcast(bound, size):
    if hasattr(bound, "tolist"):
        bound = bound.tolist()
    if isinstance(bound, (int, float)):
        return [float(bound)] * size
    flat = list(_flatten(bound))
    if len(flat) != size:
        raise ValueError("a Box bound holds %d values, its shape %d" % (len(flat), size))
    return [float(v) for v in flat]


def _flatten(x):
    if hasattr(x, "tolist"):
        x = x.tolist()
    if isinstance(x, (list, tuple)):
        for item in x:
            yield from _flatten(item)
    else:
        yield x


def _shape_size(shape):
    size = 1
    for d in shape:
        size *= int(d)
    return size


def _space_to_wire(space, what):
    if hasattr(space, "n") and not hasattr(space, "low"):
        return {"type": "discrete", "n": int(space.n)}
    if hasattr(space, "low") and hasattr(space, "high") and hasattr(space, "shape"):
        size = _shape_size(space.shape)
        return {"type": "box",
                "low": _broadcast(space.low, size),
                "high": _broadcast(space.high, size),
                "shape": [int(d) for d in space.shape]}
    raise TypeError("%s is neither Discrete (.n) nor Box (.low, .high, .shape)" % what)


_LITTLE = sys.byteorder == "little"


def _floats_to_bin(values):
    a = array.array("f", (float(v) for v in _flatten(values)))
    if not _LITTLE:
        a.byteswap()
    return a.tobytes()


class EnvServer:
    """Serves instances of the env `factory()` makes on a ZeroMQ REP socket bound to `address`."""

    def __init__(self, factory, address="tcp://127.0.0.1:5600", max_envs=1024,
                 max_episode_steps=None, copy=True, name=None, context=None):
        self._factory = factory
        self._max_envs = int(max_envs)
        self._envs = {}
        self._next_id = 1
        probe = factory()
        self._obs_space = _space_to_wire(probe.observation_space, "observation_space")
        self._action_space = _space_to_wire(probe.action_space, "action_space")
        if self._obs_space["type"] != "box":
            raise TypeError("the observation space must be a Box")
        self._obs_size = _shape_size(self._obs_space["shape"])
        self._discrete = self._action_space["type"] == "discrete"
        if max_episode_steps is None:
            spec = getattr(probe, "spec", None)
            max_episode_steps = (getattr(probe, "max_episode_steps", None)
                                 or getattr(spec, "max_episode_steps", None) or 1000)
        self._max_episode_steps = int(max_episode_steps)
        self._name = name or type(probe).__name__
        self._has_state = callable(getattr(probe, "get_state", None)) and \
            callable(getattr(probe, "set_state", None))
        self._copy = bool(copy)
        ops = ["hello", "make", "reset", "step", "close"]
        if self._has_state:
            ops += ["get_state", "set_state"]
        if self._copy:
            ops.append("copy")
        self._ops = ops
        self._handlers = {
            "hello": self._hello, "make": self._make, "reset": self._reset, "step": self._step,
            "close": self._close, "get_state": self._get_state, "set_state": self._set_state,
            "copy": self._copy_state,
        }
        self._own_context = context is None
        self._context = context or zmq.Context()
        self._socket = self._context.socket(zmq.REP)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.bind(address)
        self.endpoint = self._socket.getsockopt(zmq.LAST_ENDPOINT).decode()
        self.requests = 0
        self.errors = 0
        self._running = False

    # -- the loop ------------------------------------------------------------------------------

    def serve_forever(self, poll_ms=200):
        """Answers requests until stop() (or SIGINT/SIGTERM via main()); then closes the socket."""
        self._running = True
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        try:
            while self._running:
                if not poller.poll(poll_ms):
                    continue
                body = self._socket.recv()
                self._socket.send(self.handle_bytes(body))
        finally:
            self.close()

    def stop(self):
        self._running = False

    def close(self):
        self._socket.close(0)
        if self._own_context:
            self._context.term()

    def handle_bytes(self, body):
        """One request body in, one reply body out: never raises."""
        self.requests += 1
        try:
            try:
                request = msgpack.unpackb(body, raw=False, strict_map_key=False)
            except Exception as e:  # noqa: BLE001 - any decoding failure is the client's
                raise ProtocolError("malformed", "the request is not MessagePack: %s" % e)
            if not isinstance(request, dict):
                raise ProtocolError("malformed", "the request is not a map")
            if request.get("v") != PROTOCOL_VERSION:
                raise ProtocolError("bad_version", "protocol version \"v\" must be %d, got %r"
                                    % (PROTOCOL_VERSION, request.get("v")))
            kind = request.get("type")
            handler = self._handlers.get(kind) if isinstance(kind, str) else None
            if handler is None or kind not in self._ops:
                raise ProtocolError("unknown_type", "unknown or unoffered request type %r "
                                    "(offered: %s)" % (kind, ", ".join(self._ops)))
            reply = handler(request)
            reply["v"] = PROTOCOL_VERSION
            reply["type"] = kind
        except ProtocolError as e:
            self.errors += 1
            reply = {"v": PROTOCOL_VERSION, "type": "error", "code": e.code, "message": str(e)}
        except Exception as e:  # noqa: BLE001 - the env's own failure, reported, never fatal
            self.errors += 1
            reply = {"v": PROTOCOL_VERSION, "type": "error", "code": "env_error",
                     "message": "%s: %s" % (type(e).__name__, e)}
        return msgpack.packb(reply, use_bin_type=True)

    # -- requests ------------------------------------------------------------------------------

    def _instance(self, request, key="env"):
        env_id = request.get(key)
        if not isinstance(env_id, int) or isinstance(env_id, bool):
            raise ProtocolError("bad_field", "\"%s\" must be an instance id" % key)
        slot = self._envs.get(env_id)
        if slot is None:
            raise ProtocolError("unknown_env", "no env instance %d (closed, or never made)"
                                % env_id)
        return slot

    def _hello(self, request):
        return {"name": self._name, "observation_space": self._obs_space,
                "action_space": self._action_space,
                "max_episode_steps": self._max_episode_steps, "ops": self._ops}

    def _make(self, request):
        if len(self._envs) >= self._max_envs:
            raise ProtocolError("too_many_envs", "%d instances are open (max_envs)"
                                % len(self._envs))
        env_id = self._next_id
        self._next_id += 1
        self._envs[env_id] = _Slot(self._factory())
        return {"env": env_id}

    def _close(self, request):
        env_id = request.get("env")
        slot = self._envs.pop(env_id, None) if isinstance(env_id, int) else None
        if slot is not None and callable(getattr(slot.env, "close", None)):
            slot.env.close()
        return {}

    def _reset(self, request):
        slot = self._instance(request)
        seed = request.get("seed")
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ProtocolError("bad_field", "\"seed\" must be an unsigned integer")
        result = slot.env.reset(seed=seed)
        obs = result[0] if isinstance(result, tuple) else result
        slot.started, slot.done = True, False
        return {"obs": self._observation(obs)}

    def _step(self, request):
        slot = self._instance(request)
        if not slot.started:
            raise ProtocolError("episode_over", "step before reset")
        if slot.done:
            raise ProtocolError("episode_over", "step after the episode ended; reset first")
        action = self._action(request.get("action"))
        obs, reward, terminated, truncated = slot.env.step(action)[:4]
        reward = float(reward)
        if not math.isfinite(reward):
            raise ProtocolError("env_error", "the env returned a reward that is not finite")
        slot.done = bool(terminated) or bool(truncated)
        return {"obs": self._observation(obs), "reward": reward,
                "terminated": bool(terminated), "truncated": bool(truncated)}

    def _get_state(self, request):
        slot = self._instance(request)
        return {"state": bytes(slot.env.get_state())}

    def _set_state(self, request):
        slot = self._instance(request)
        state = request.get("state")
        if not isinstance(state, (bytes, bytearray)):
            raise ProtocolError("bad_field", "\"state\" must be bin")
        slot.env.set_state(bytes(state))
        slot.started, slot.done = True, False
        return {}

    def _copy_state(self, request):
        target = self._instance(request, "env")
        source = self._instance(request, "from")
        if target is source:
            return {}
        if self._has_state:
            target.env.set_state(source.env.get_state())
        else:
            target.env = copylib.deepcopy(source.env)
        target.started, target.done = source.started, source.done
        return {}

    # -- values --------------------------------------------------------------------------------

    def _observation(self, obs):
        data = _floats_to_bin(obs)
        if len(data) != 4 * self._obs_size:
            raise ProtocolError("env_error", "the env's observation holds %d values, its "
                                "observation space %d" % (len(data) // 4, self._obs_size))
        return data

    def _action(self, action):
        if self._discrete:
            if not isinstance(action, int) or isinstance(action, bool) or \
                    not 0 <= action < self._action_space["n"]:
                raise ProtocolError("invalid_action", "action %r is not in Discrete(%d)"
                                    % (action, self._action_space["n"]))
            return action
        low, high = self._action_space["low"], self._action_space["high"]
        if isinstance(action, (bytes, bytearray)) and len(action) % 4 == 0:
            values = array.array("f", action)
            if not _LITTLE:
                values.byteswap()
            values = list(values)
        elif isinstance(action, list) and all(isinstance(v, (int, float)) and
                                              not isinstance(v, bool) for v in action):
            values = [float(v) for v in action]
        else:
            raise ProtocolError("invalid_action", "a Box action is an array of numbers or bin")
        if len(values) != len(low):
            raise ProtocolError("invalid_action", "the action holds %d values, the action "
                                "space %d" % (len(values), len(low)))
        for i, v in enumerate(values):
            if not math.isfinite(v) or v < low[i] or v > high[i]:
                raise ProtocolError("invalid_action", "action[%d] = %r is outside [%r, %r]"
                                    % (i, v, low[i], high[i]))
        return _as_array(values, self._action_space["shape"])


class _Slot:
    __slots__ = ("env", "started", "done")

    def __init__(self, env):
        self.env = env
        self.started = False
        self.done = False


def _as_array(values, shape):
    """A Box action as numpy.float32 array when numpy is there (what Gymnasium envs expect)."""
    try:
        import numpy
    except ImportError:
        return values
    return numpy.asarray(values, dtype=numpy.float32).reshape(shape)


def main(factory, argv=None, description=None):
    """Command line: serve `factory`'s env until SIGINT/SIGTERM. Prints the bound endpoint."""
    parser = argparse.ArgumentParser(description=description or
                                     "Serve an environment to apprentice (docs/remote-env.md).")
    parser.add_argument("--bind", default="tcp://127.0.0.1:5600",
                        help="ZeroMQ endpoint to bind (default tcp://127.0.0.1:5600; "
                             "tcp://127.0.0.1:* picks a free port)")
    parser.add_argument("--max-envs", type=int, default=1024,
                        help="instances open at once (default 1024)")
    parser.add_argument("--no-copy", action="store_true",
                        help="do not offer \"copy\" (planners that simulate cannot plan)")
    parser.add_argument("--quiet", action="store_true", help="no request count at the end")
    args = parser.parse_args(argv)
    if args.max_envs < 1:
        parser.error("--max-envs must be at least 1")
    try:
        server = EnvServer(factory, args.bind, max_envs=args.max_envs, copy=not args.no_copy)
    except zmq.ZMQError as e:
        parser.exit(1, "error: cannot bind %s: %s\n" % (args.bind, e))
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    signal.signal(signal.SIGINT, lambda *_: server.stop())
    print("serving %s on %s" % (server._name, server.endpoint), flush=True)
    server.serve_forever()
    if not args.quiet:
        print("served %d requests (%d refused)" % (server.requests, server.errors), flush=True)
    return 0
