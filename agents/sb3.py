"""Stable-Baselines3 agents on SparkKD: a features extractor for 4x8x8 grids, the algorithm factory, a VecEnv
adapter for the natively batched env, and a callback that logs the task's own figures.

SB3's NatureCNN needs at least 36x36 inputs; ``GridFeaturesExtractor`` is two 3x3 convolutions on the 8x8 grid
and a linear layer. ``make_sb3_model("ppo" | "a2c" | "sac" | "td3", env)`` wires it with defaults for this task
(short rollouts: QAT steps are expensive); any other SB3 algorithm with a Box action space works by passing
``algorithm=TheClass`` and ``policy_kwargs``.
"""
from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import A2C, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import VecEnv
from torch import nn

from agents.base import Agent, Callback
from spark_env.difficulty import GRID

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "a2c": A2C, "sac": SAC, "td3": TD3}
DEFAULTS: dict[str, dict] = {
    "ppo": {"n_steps": 32, "batch_size": 32, "n_epochs": 4, "learning_rate": 3e-4},
    "a2c": {"n_steps": 8, "learning_rate": 7e-4},
    "sac": {"learning_starts": 32, "batch_size": 32, "buffer_size": 10_000, "train_freq": 1},
    "td3": {"learning_starts": 32, "batch_size": 32, "buffer_size": 10_000, "train_freq": 1},
}


class GridFeaturesExtractor(BaseFeaturesExtractor):
    """(B, 4, 8, 8) -> (B, features_dim): conv3x3(4, 32) - ReLU - conv3x3(32, 32) - ReLU - linear."""

    def __init__(self, observation_space: gym.spaces.Box, features_dim: int = 128) -> None:
        super().__init__(observation_space, features_dim)
        channels = observation_space.shape[0]
        self.net = nn.Sequential(nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.Flatten(),
                                 nn.Linear(32 * GRID * GRID, features_dim), nn.ReLU())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.net(observations)


class BatchedVecEnvAdapter(VecEnv):
    """SB3 VecEnv view of ``SparkKDVectorEnv`` (B crops, one shared student). Autoreset is same-step in both.

    With ``shared_decision`` SB3 sees one env: the observation is the first crop's grid, the one action is applied
    to every crop (each maps it through its own grid in the ``channel_weights`` space), and the shared reward comes
    back once. This is the setting of a policy that decides for the whole batch, as PGPE does: one action, one
    reward, no credit split among B actions that share one student.
    """

    def __init__(self, vector_env, shared_decision: bool = False) -> None:
        self.vector_env = vector_env
        self.shared_decision = shared_decision
        super().__init__(1 if shared_decision else vector_env.num_envs, vector_env.single_observation_space,
                         vector_env.single_action_space)
        self._actions = None
        self._seed: int | None = None

    def _view(self, array):
        return array[:1] if self.shared_decision else array

    def reset(self):
        # SB3 resets at the start of each learn call: with common random numbers (episodes_per_seed) a new group of
        # episodes starts there, so groups stay aligned with rollouts
        options = {**self._options[0], "new_seed_group": True}  # SB3's set_options, one env's worth
        obs, _ = self.vector_env.reset(seed=self._seed, options=options)
        self._seed = None
        self._reset_options()
        return self._view(obs)

    def step_async(self, actions) -> None:
        actions = np.asarray(actions, dtype=np.float32)
        if self.shared_decision:
            actions = np.repeat(actions[:1], self.vector_env.num_envs, axis=0)
        self._actions = actions

    def step_wait(self):
        obs, rewards, terminated, truncated, info = self.vector_env.step(self._actions)
        dones = np.logical_or(terminated, truncated)
        keys = [k for k in info if not k.startswith("_") and k not in ("final_obs", "final_info")]
        infos = [{k: info[k][i] for k in keys} for i in range(self.num_envs)]
        if "final_obs" in info:
            for i in range(self.num_envs):
                infos[i]["terminal_observation"] = info["final_obs"][i]
                infos[i]["TimeLimit.truncated"] = bool(truncated[i])
        return (self._view(obs), self._view(rewards).astype(np.float32), self._view(dones), infos)

    def close(self) -> None:
        self.vector_env.close()

    def seed(self, seed=None):
        self._seed = seed
        return [seed] * self.num_envs

    def get_attr(self, attr_name, indices=None):
        return [getattr(self.vector_env, attr_name)] * len(self._indices(indices))

    def set_attr(self, attr_name, value, indices=None) -> None:
        setattr(self.vector_env, attr_name, value)

    def env_method(self, method_name, *args, indices=None, **kwargs):
        return [getattr(self.vector_env, method_name)(*args, **kwargs)] * len(self._indices(indices))

    def env_is_wrapped(self, wrapper_class, indices=None):
        return [False] * len(self._indices(indices))

    def _indices(self, indices):
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)


class TaskFiguresCallback(BaseCallback):
    """Logs student probe PSNR, gap to the teacher, KD loss and weight-map entropy to SB3's logger
    (TensorBoard when ``tensorboard_log`` is set)."""

    def _on_step(self) -> bool:
        infos = self.locals.get("infos", [])
        for key in ("probe_psnr", "gap_to_teacher", "kd_loss"):
            values = [float(i[key]) for i in infos if key in i]
            if values:
                self.logger.record_mean(f"spark/{key}", float(np.mean(values)))
        maps = [np.asarray(i["weight_map"], dtype=np.float64) for i in infos if "weight_map" in i]
        if maps:
            probs = [m.ravel() / max(m.sum(), 1e-12) for m in maps]
            entropy = [-(p * np.log(np.clip(p, 1e-12, None))).sum() for p in probs]
            self.logger.record_mean("spark/map_entropy", float(np.mean(entropy)))
        return True


def make_sb3_model(algo: str | type[BaseAlgorithm], env, seed: int = 0, shared_decision: bool = False,
                   **kwargs) -> BaseAlgorithm:
    """An SB3 model on ``env`` (a gymnasium env, an SB3 VecEnv, or a SparkKDVectorEnv, wrapped or not, which gets
    adapted, with ``shared_decision`` as BatchedVecEnvAdapter says)."""
    from spark_env.vector_env import SparkKDVectorEnv
    if isinstance(getattr(env, "unwrapped", None), SparkKDVectorEnv):
        env = BatchedVecEnvAdapter(env, shared_decision)
    elif shared_decision:
        raise ValueError("shared_decision needs the natively batched env (SparkKDVectorEnv); got "
                         f"{type(env).__name__}")
    if isinstance(algo, str):
        key = algo.lower()
        if key not in ALGORITHMS:
            raise ValueError(f"unknown SB3 algorithm '{algo}'; available: {', '.join(ALGORITHMS)} "
                             "(or pass the algorithm class)")
        cls, params = ALGORITHMS[key], {**DEFAULTS[key], **kwargs}
    else:
        cls, params = algo, dict(kwargs)
    policy_kwargs = {"features_extractor_class": GridFeaturesExtractor, **params.pop("policy_kwargs", {})}
    return cls("MlpPolicy", env, seed=seed, policy_kwargs=policy_kwargs, verbose=0, **params)


class SB3Agent(Agent):
    """Our Agent interface around an SB3 model."""

    def __init__(self, env, algo: str | type[BaseAlgorithm] = "ppo", seed: int = 0, progress_bar: bool = False,
                 log_interval: int = 1, shared_decision: bool = False, **kwargs) -> None:
        """``progress_bar`` needs the ``rich`` package; ``log_interval`` counts SB3 iterations (rollouts for
        on-policy algorithms, episodes for off-policy ones) between logger dumps: 1 by default, QAT is slow;
        ``shared_decision``: one action for all crops of the batched env (BatchedVecEnvAdapter; ``learn`` then
        spends its budget in whole rollouts and carries the rest over); ``kwargs`` go to the SB3 algorithm (over
        this module's DEFAULTS)."""
        super().__init__(env, seed)  # SB3 seeds the env's first reset with the model's seed
        self.name = algo if isinstance(algo, str) else algo.__name__.lower()
        self.shared_decision = shared_decision
        self._unspent = 0  # shared decision: SB3 steps of earlier learn calls short of a whole rollout
        self.model = make_sb3_model(algo, env, seed=seed, shared_decision=shared_decision, **kwargs)
        self.progress_bar = progress_bar
        self.log_interval = log_interval

    def learn(self, total_steps: int, callback: Callback | None = None) -> "SB3Agent":
        callbacks: list = [TaskFiguresCallback()]
        if callback is not None:
            class _UserCallback(BaseCallback):
                def _on_step(inner) -> bool:
                    return callback(inner.locals) is not False
            callbacks.append(_UserCallback())
        timesteps = total_steps
        if self.shared_decision:
            # one SB3 step decides for every crop of the batch; an on-policy algorithm collects whole rollouts, so the
            # budget is spent in whole rollouts and the rest carries over to the next call (as PGPE's pairs do)
            self._unspent += total_steps // self.env.unwrapped.num_envs
            rollout = getattr(self.model, "n_steps", 1) * self.model.n_envs
            timesteps = self._unspent // rollout * rollout
            self._unspent -= timesteps
            if timesteps == 0:
                return self
        self.model.learn(total_timesteps=timesteps, callback=callbacks, progress_bar=self.progress_bar,
                         log_interval=self.log_interval)
        return self

    def act_batch(self, grids, deterministic=False):
        """The model's actions; with ``shared_decision`` the first grid's action for every crop."""
        shape = self.model.action_space.shape
        if self.shared_decision:
            actions, _ = self.model.predict(grids[:1], deterministic=deterministic)
            return np.repeat(np.asarray(actions, dtype=np.float32).reshape(1, *shape), grids.shape[0], axis=0)
        actions, _ = self.model.predict(grids, deterministic=deterministic)
        return np.asarray(actions, dtype=np.float32).reshape(grids.shape[0], *shape)

    def save(self, path: str | Path) -> None:
        self.model.save(path)

    def load(self, path: str | Path) -> "SB3Agent":
        self.model = type(self.model).load(path, env=self.model.get_env())
        return self
