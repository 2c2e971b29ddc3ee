"""Checks for what users add to the benchmark: a reward or an agent. Run them in your own tests.

    from spark_env.testing import check_agent, check_reward
    check_reward(my_reward)                                   # a callable(RewardContext) -> float
    check_agent(lambda env: make_agent("spark", env, seed=0))  # any factory env -> Agent

Each raises ``CheckFailed`` (an AssertionError) with a message saying what is wrong and how to fix it.
``TargetCellsEnv`` is a cheap stand-in with SparkKD's spaces whose best map is known (the project's agent tests
learn on it).
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from spark_env.kd import action_to_weights


class CheckFailed(AssertionError):
    """A reward or an agent does not meet the benchmark's contract; the message says which part and why."""


class TargetCellsEnv(gym.Env):
    """Stand-in with SparkKD's spaces where the right map is known: the reward is the mean softmax weight on the
    cells whose channel 3 is above 0.5 minus the mean weight elsewhere (about 0 for uniform and random maps, about
    1.9 for the map that puts +1 on those cells and -1 elsewhere). Episodes are ``episode_steps`` long."""

    observation_space = gym.spaces.Box(0, 1, (4, 8, 8), np.float32)
    action_space = gym.spaces.Box(-1, 1, (8, 8), np.float32)

    def __init__(self, episode_steps: int = 16) -> None:
        self.episode_steps = episode_steps

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.obs = self.np_random.random((4, 8, 8)).astype(np.float32)
        return self.obs, {}

    def step(self, action):
        weights = action_to_weights(torch.as_tensor(action).view(1, 8, 8))[0].numpy()
        target = self.obs[3] > 0.5
        reward = float(weights[target].mean() - weights[~target].mean())
        self.t += 1
        self.obs = self.np_random.random((4, 8, 8)).astype(np.float32)
        return self.obs, reward, self.t >= self.episode_steps, False, {}


def mean_step_reward(agent, env: gym.Env, episodes: int = 10, deterministic: bool = True) -> float:
    """Mean reward per step of ``agent`` acting (``deterministic``) in a single env over ``episodes`` episodes from
    seeds 1000, 1001, ...: a quick yardstick for an agent on ``TargetCellsEnv``."""
    rewards = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=1000 + episode)
        done = False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(np.clip(agent.act(obs, deterministic=deterministic),
                                                                     -1, 1))
            rewards.append(reward)
            done = terminated or truncated
    return float(np.mean(rewards))


def _episode(reward, steps: int, seed: int, action: np.ndarray) -> tuple[list[float], list[float]]:
    env = gym.make("SparkKD-v2", preset="tiny", reward=reward, episode_steps=steps).unwrapped
    env.reset(seed=seed)
    rewards, probe = [], []
    for step in range(steps):
        try:
            _, value, _, _, info = env.step(action)
        except RuntimeError as error:
            if "pre-step state" in str(error):
                name = getattr(reward, "__name__", "reward")
                raise CheckFailed(f"the reward reads the pre-step state but does not declare it: set "
                                  f"`{name}.needs_snapshot = True` ({error})") from None
            raise
        if "error" in info:
            raise CheckFailed(f"step {step + 1}: the env ended the run with {info['error']!r}; a reward must be "
                              "finite")
        rewards.append(float(value))
        probe.append(float(info["probe_psnr"]))
    return rewards, probe


def check_reward(reward: Callable, steps: int = 3, seed: int = 3) -> None:
    """Check a reward ``callable(RewardContext) -> float`` on the tiny preset: it runs, every value is finite, it
    declares ``needs_snapshot`` when it reads the pre-step state, and it leaves the trajectory unchanged (the probe
    PSNR after every step equals a run under the default reward, for a uniform and a peaked map)."""
    peaked = np.full((8, 8), -1.0, np.float32)
    peaked[:2, :2] = 1.0
    for name, action in (("uniform", np.zeros((8, 8), np.float32)), ("peaked", peaked)):
        _, probe = _episode(reward, steps, seed, action)  # a non-finite value ends the run: CheckFailed there
        _, reference = _episode("probe_psnr_gain", steps, seed, action)
        if probe != reference:
            raise CheckFailed(f"{name} map: the reward changed the run (probe PSNR {probe} against {reference} under "
                              "the default reward); restore any state it changes, e.g. through RewardContext's "
                              "snapshot helpers with needs_snapshot = True")


def check_agent(factory: Callable[[gym.Env], object], learn_steps: int = 8, deterministic: bool = True) -> None:
    """Check an agent built by ``factory(env)``: it acts on one grid ((4, 8, 8) -> (8, 8)) and on a batch
    ((B, 4, 8, 8) -> (B, 8, 8)) with finite float32 actions (in [-1, 1] in deterministic mode; sampled actions may
    exceed it, the env clips them); ``deterministic=True`` is deterministic and a save / load round trip keeps those
    actions (pass ``deterministic=False`` for an agent whose maps are random by design); it learns ``learn_steps``
    env steps on the stand-in env and on the tiny SparkKD env without error."""
    env = TargetCellsEnv()
    agent = factory(env)
    obs, _ = env.reset(seed=0)
    grids = np.random.default_rng(0).random((3, 4, 8, 8)).astype(np.float32)
    for label, inputs, shape in (("one grid", obs, (8, 8)), ("a batch of 3 grids", grids, (3, 8, 8))):
        for mode in (False, True):
            action = np.asarray(agent.act(inputs, deterministic=mode))
            if action.shape != shape or action.dtype != np.float32:
                raise CheckFailed(f"act on {label} returned {action.dtype} of shape {action.shape}; expected "
                                  f"float32 of shape {shape}")
            if not np.isfinite(action).all() or (mode and np.abs(action).max() > 1):
                raise CheckFailed(f"act on {label} (deterministic={mode}) returned non-finite values or, in "
                                  "deterministic mode, values outside [-1, 1]")
    repeated = agent.act(grids, deterministic=True), agent.act(grids, deterministic=True)
    if deterministic and not np.array_equal(*repeated):
        raise CheckFailed("act(..., deterministic=True) returned different actions for the same grids")
    agent.learn(learn_steps)
    trained = agent.act(grids, deterministic=True)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "agent.pt"
        agent.save(path)
        saved = path if path.exists() else path.with_suffix(".zip")  # SB3 appends .zip
        clone = factory(TargetCellsEnv()).load(saved)
    if deterministic and not np.array_equal(clone.act(grids, deterministic=True), trained):
        raise CheckFailed("after save / load the agent acts differently (deterministic mode)")
    factory(gym.make("SparkKD-v2", preset="tiny", episode_steps=4)).learn(learn_steps)
