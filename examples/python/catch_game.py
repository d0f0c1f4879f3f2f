#!/usr/bin/env python3
"""Catch: a small arcade game written in Python, served to apprentice over ZeroMQ.

A ball falls from the top of a 5-wide, 6-high board, one row per step, drifting sideways and
bouncing off the walls; the agent moves a paddle along the bottom row: 0 = left, 1 = stay,
2 = right. A ball that reaches the bottom row on the paddle's cell is caught (reward +1, else 0)
and the next one drops from a random column with a random drift. An episode is 8 balls.

Observation (5 floats in [-1, 1]): the ball's column and row, its drift, the paddle's column,
and the ball's column minus the paddle's (columns and rows scaled by the board's size).

It is written against Gymnasium's API (reset/step, observation_space/action_space) plus
get_state/set_state, so apprentice's planners can simulate on copies of it. Serve it with

    python3 examples/python/catch_game.py --bind tcp://127.0.0.1:5600

and teach an executor on it with

    apprentice run --env remote --remote-address tcp://127.0.0.1:5600 --planner mcts \
        --mcts-rollout 8
"""

import os
import sys

import msgpack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
from apprentice_env import Box, Discrete, main  # noqa: E402

WIDTH, HEIGHT, BALLS = 5, 6, 8
MASK = (1 << 64) - 1


class CatchGame:
    observation_space = Box(-1.0, 1.0, (5,))
    action_space = Discrete(3)
    max_episode_steps = BALLS * (HEIGHT - 1) + 1

    def __init__(self):
        self._rng = 1
        self.ball_x = self.ball_y = self.drift = self.paddle = 0
        self.balls_left = 0

    # Gymnasium's API ------------------------------------------------------------------------

    def reset(self, seed=None, options=None):
        # splitmix64 of the seed starts an xorshift64* generator (never zero).
        z = ((seed or 0) + 0x9E3779B97F4A7C15) & MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        self._rng = (z ^ (z >> 31)) or 1
        self.paddle = WIDTH // 2
        self.balls_left = BALLS
        self._drop()
        return self._observation(), {}

    def step(self, action):
        self.paddle = min(WIDTH - 1, max(0, self.paddle + int(action) - 1))
        if not 0 <= self.ball_x + self.drift < WIDTH:
            self.drift = -self.drift
        self.ball_x += self.drift
        self.ball_y += 1
        reward = 0.0
        terminated = False
        if self.ball_y == HEIGHT - 1:
            reward = 1.0 if self.ball_x == self.paddle else 0.0
            self.balls_left -= 1
            if self.balls_left == 0:
                terminated = True
            else:
                self._drop()
        return self._observation(), reward, terminated, False, {}

    # What planners need: the whole state, generator included ----------------------------------

    def get_state(self):
        return msgpack.packb([self._rng, self.ball_x, self.ball_y, self.drift, self.paddle,
                              self.balls_left])

    def set_state(self, state):
        (self._rng, self.ball_x, self.ball_y, self.drift, self.paddle,
         self.balls_left) = msgpack.unpackb(state)

    # ----------------------------------------------------------------------------------------

    def _next(self, n):
        x = self._rng
        x ^= x >> 12
        x ^= (x << 25) & MASK
        x ^= x >> 27
        self._rng = x
        return (((x * 0x2545F4914F6CDD1D) & MASK) >> 33) % n

    def _drop(self):
        self.ball_x = self._next(WIDTH)
        self.drift = self._next(3) - 1
        self.ball_y = 0

    def _observation(self):
        w, h = WIDTH - 1, HEIGHT - 1
        return [self.ball_x / w, self.ball_y / h, float(self.drift), self.paddle / w,
                (self.ball_x - self.paddle) / w]


if __name__ == "__main__":
    sys.exit(main(CatchGame, description="Serve the Catch game to apprentice "
                                         "(docs/remote-env.md)."))
