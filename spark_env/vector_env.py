"""The natively batched SparkKD vector environment: ``num_envs`` crops share one student and one optimizer step.

This is the paper's batched setting: the QAT batch dimension is the RL vector dimension. All sub-environments run
the same QAT run, so they start, step and end together. The reward (which measures the shared student) is the
same for every sub-environment. Autoreset is SAME_STEP: on the step that ends the run, the returned observation is
already the first one of a fresh run, and ``info["final_obs"]`` / ``info["final_info"]`` hold the last ones.
``episode_end_hook(episode)``, when set, is called on that step before the autoreset, while the episode still holds
the finished run's student (spark_env.wrappers.QATRunRecorder keeps a copy of it there).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.utils import seeding

from spark_env.config import SparkConfig
from spark_env.env import action_space, build_config, observation_space
from spark_env.episode import Episode, EpisodeSeeds


def _batched_info(info: dict, num_envs: int) -> dict:
    """Gymnasium vector info: per-env arrays with ``_key`` masks; per-crop arrays kept as they are."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        array = np.asarray(value)
        out[key] = array if array.ndim and array.shape[0] == num_envs else np.full(
            (num_envs, *array.shape), value, dtype=array.dtype if array.ndim else None)
        out[f"_{key}"] = np.ones(num_envs, dtype=bool)
    return out


class SparkKDVectorEnv(VectorEnv):
    """``gymnasium.make_vec("SparkKD-v2", num_envs=B, vectorization_mode="vector_entry_point", **overrides)``."""

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, num_envs: int = 4, preset: str = "quick", config: SparkConfig | None = None,
                 protocol: str | None = None, **overrides: Any) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs} must be >= 1")
        self.config = build_config(preset, config, overrides, protocol)
        self.num_envs = num_envs
        self.single_observation_space = observation_space()
        self.single_action_space = action_space(self.config)
        self.observation_space = observation_space((num_envs,))
        self.action_space = action_space(self.config, (num_envs,))
        self.episode = Episode(self.config, num_crops=num_envs)
        self.seeds = EpisodeSeeds(self.config.episodes_per_seed)
        self._np_random, _ = seeding.np_random(None)
        self.episode_end_hook: Callable[[Episode], None] | None = None

    @property
    def timings(self) -> dict[str, float]:
        return self.episode.timings

    @property
    def session(self):
        """The underlying QATSession (student, optimizer, teacher, data)."""
        return self.episode.session

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        if isinstance(seed, list):
            seed = seed[0]
        if seed is not None:
            self._np_random, _ = seeding.np_random(seed)
        obs, info = self.episode.reset(self.seeds.for_reset(self._np_random, seed, options))
        return obs, _batched_info(info, self.num_envs)

    def step(self, actions):
        obs, reward, over, info = self.episode.step(actions)
        rewards = np.full(self.num_envs, reward, dtype=np.float64)
        terminated = np.full(self.num_envs, over)
        truncated = np.zeros(self.num_envs, dtype=bool)
        infos = _batched_info(info, self.num_envs)
        if over:
            if self.episode_end_hook is not None:
                self.episode_end_hook(self.episode)
            final_obs = obs
            obs, reset_info = self.episode.reset(self.seeds.next(self._np_random))
            infos = _batched_info(reset_info, self.num_envs)
            infos["final_obs"] = final_obs
            infos["final_info"] = _batched_info(info, self.num_envs)
            infos["_final_obs"] = infos["_final_info"] = np.ones(self.num_envs, dtype=bool)
        return obs, rewards, terminated, truncated, infos
