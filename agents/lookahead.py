"""Agents built on the lookahead scores (spark_env.lookahead): the meta-gradient map itself, and the SPARK policy
distilled from it.

``lookahead`` (a non-RL oracle, the ``kd_lookahead`` method): per crop, weights rise with the positive part of the
scores, ``a = clip(max(s, 0) / (temperature * std(s)), 0, 1)``: cells whose score is ``temperature`` standard
deviations (of that crop's 64 scores) above 0 get the full action 1, cells with a score <= 0 the action 0. The
env's mapping turns the action into weights with mean 1 (default softmax, ``action_temperature`` 2: a full cell
gets e^2 = 7.4 times the weight of a cell at 0). A crop whose scores are all 0 gets the uniform map. It reads the
scores of the env's current crops from ``env.unwrapped.episode`` (no env option needed): it looks inside the
simulator, which is why it is a reference method, not an RL agent. With ``heuristic=h > 0`` it adds the combined
heuristic's map times ``h`` (``clip(lookahead + h * heuristic, -1, 1)``; under the softmax mapping, before the clip,
the weights are the product of the two maps' weights): the two maps are uncorrelated and each beats uniform KD
(docs/lookahead.md), so their combination asks whether what each sees adds up.

``spark_distill`` (dense credit instead of a scalar reward): the paper's 3-conv policy (agents.spark.SparkPolicy)
regressed onto the lookahead map. It acts with its own policy mean, and after every ``update_every`` env steps it
fits the mean to the lookahead actions of the grids it has seen (mean-squared error, ``epochs`` Adam steps over the
latest ``buffer_size`` pairs). It reads the scores from ``info["lookahead_scores"]``, so its env needs
``lookahead_info=True``; once trained it acts from the difficulty grid alone, at the cost of a policy forward.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from agents.base import Agent, agent_config, Step
from agents.spark import SparkAgentConfig, fit_policy_mean, save_policy, seeded_policy
from spark_env.action_spaces import channel_weights_map
from spark_env.difficulty import CHANNELS
from spark_env.errors import ConfigError


def scores_to_action(scores: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """(B, 8, 8) or (8, 8) lookahead scores -> actions of the same shape in [0, 1] (see the module docstring)."""
    scores = np.asarray(scores, dtype=np.float64)
    flat = scores.reshape(-1, 64)
    spread = temperature * flat.std(axis=1, keepdims=True)
    safe = np.where(spread > 0, spread, 1.0)
    actions = np.where(spread > 0, np.clip(np.maximum(flat, 0.0) / safe, 0.0, 1.0), 0.0)
    return np.nan_to_num(actions).reshape(scores.shape).astype(np.float32)


def _check_temperature(temperature: float) -> float:
    if not temperature > 0:
        raise ValueError(f"temperature={temperature!r} is invalid; allowed: > 0")
    return float(temperature)


class LookaheadAgent(Agent):
    """The meta-gradient map of the current crops (reads ``env.unwrapped.episode.lookahead_scores()``)."""

    name = "lookahead"

    def __init__(self, env, seed: int | None = None, temperature: float = 1.0, heuristic: float = 0.0) -> None:
        super().__init__(env, seed)
        self.require_map_space()
        self.temperature = _check_temperature(temperature)
        if not (isinstance(heuristic, (int, float)) and np.isfinite(heuristic) and heuristic >= 0):
            raise ValueError(f"heuristic={heuristic!r} is invalid; allowed: a finite number >= 0 (0: the lookahead "
                             "map alone)")
        self.heuristic = float(heuristic)

    def act_batch(self, grids, deterministic=False):
        scores = self.env.unwrapped.episode.lookahead_scores().numpy()
        if scores.shape[0] != grids.shape[0]:
            raise ValueError(f"observation holds {grids.shape[0]} grid(s) but the env's episode has "
                             f"{scores.shape[0]} crop(s); the lookahead agent acts on its own env's observation")
        actions = scores_to_action(scores, self.temperature)
        if self.heuristic == 0:
            return actions
        heuristic_map = channel_weights_map(np.full(len(CHANNELS), 0.25 * self.heuristic), grids)
        return np.clip(actions + heuristic_map, -1.0, 1.0).astype(np.float32)


@dataclass
class DistillConfig:
    hidden: int = 32            # channels of the policy's two hidden convolutions
    lr: float = 3e-3            # Adam learning rate of the regression
    temperature: float = 1.0    # of the lookahead map it imitates (scores_to_action)
    update_every: int = 64      # env steps (summed over sub-envs) between fits
    epochs: int = 20            # Adam steps per fit
    buffer_size: int = 2048     # latest (grid, target map) pairs kept for the fit
    seed: int = 0


class LookaheadDistillAgent(Agent):
    """SPARK's policy CNN trained to predict the lookahead map (see the module docstring)."""

    name = "spark_distill"

    def __init__(self, env, config: DistillConfig | None = None, seed: int | None = None, **overrides) -> None:
        self.config = agent_config(DistillConfig, config, seed, overrides)
        _check_temperature(self.config.temperature)
        super().__init__(env, self.config.seed)
        self.require_map_space()
        self.policy = seeded_policy(SparkAgentConfig(hidden=self.config.hidden, seed=self.config.seed))
        self.optimizer = torch.optim.Adam(self.policy.net.parameters(), lr=self.config.lr)
        self.grids: list[np.ndarray] = []
        self.targets: list[np.ndarray] = []
        self.history: list[dict] = []  # one row per fit: env steps so far, regression loss
        self._since_fit = 0  # env steps since the last fit

    def act_batch(self, grids, deterministic=False):
        with torch.no_grad():
            return self.policy(torch.from_numpy(grids)).mean.numpy().astype(np.float32)

    def _targets(self, info: dict, count: int) -> np.ndarray:
        if "lookahead_scores" not in info:
            raise ConfigError("spark_distill learns from info['lookahead_scores']; build its env with "
                              "lookahead_info=True")
        return scores_to_action(info["lookahead_scores"], self.config.temperature).reshape(count, 8, 8)

    def observe(self, step: Step) -> None:
        """Keep (grid, lookahead map) of the step's observation; fit every ``update_every`` env steps."""
        self.grids.append(step.obs)
        self.targets.append(self._targets(step.info, len(step.obs)))
        self._since_fit += len(step.obs)
        if self._since_fit >= self.config.update_every:
            self.history.append({"step": step.steps_done, "mse": self._fit()})
            self._since_fit = 0

    def _fit(self) -> float:
        """Fit the policy mean to the kept targets; returns the last mean-squared error."""
        grids = torch.from_numpy(np.concatenate(self.grids)[-self.config.buffer_size:])
        targets = torch.from_numpy(np.concatenate(self.targets)[-self.config.buffer_size:])
        self.grids, self.targets = [grids.numpy()], [targets.numpy()]
        return fit_policy_mean(self.policy, self.optimizer, grids, targets, self.config.epochs)

    def save(self, path: str | Path) -> None:
        save_policy(path, self.policy, self.config)

    def load(self, path: str | Path) -> "LookaheadDistillAgent":
        payload = torch.load(path, map_location="cpu", weights_only=True)
        self.config = DistillConfig(**payload["config"])
        self.policy = seeded_policy(SparkAgentConfig(hidden=self.config.hidden, seed=self.config.seed))
        self.policy.load_state_dict(payload["policy"])
        self.optimizer = torch.optim.Adam(self.policy.net.parameters(), lr=self.config.lr)
        return self
