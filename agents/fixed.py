"""Agents that do not learn: uniform KD (zero action), random actions, and difficulty heuristics.

A heuristic puts more KD weight where a difficulty channel is high: ``a = clip(z(c), -1, 1)`` where ``z`` is the
channel's z-score over the 64 cells of the grid; ``combined`` averages the z-scores of all four channels.
``sign=-1`` inverts a heuristic (more weight where the channel is low): a deliberately bad reference policy.
``scale`` (> 0) sharpens (> 1) or flattens (< 1) the map: ``a = clip(scale * z, -1, 1)``, the weights times
``scale``; it probes the heuristic's own family along its amplitude.

Each acts in the env's action space (spark_env.action_spaces): in ``map`` as above; in ``channel_weights`` uniform
is the zero weights, random draws uniform weights in [-1, 1]^4 per crop and step (random channel weights), and a
heuristic is its weights (1 on its channel, 0.25 on each for ``combined``, times ``sign``).
"""
from __future__ import annotations

import numpy as np

from agents.base import Agent
from spark_env.action_spaces import get_action_space, zscore
from spark_env.difficulty import CHANNELS


class UniformAgent(Agent):
    """Always the zero action: uniform output KD under the default (budget-preserving) mapping."""

    name = "uniform"

    def act_batch(self, grids, deterministic=False):
        return np.zeros((grids.shape[0], *get_action_space(self.action_space_name).shape), np.float32)


class RandomAgent(Agent):
    """Uniformly random actions in [-1, 1]^(action shape), seeded: random maps, or random channel weights; with
    ``shared`` one draw per call for every crop of the batch."""

    name = "random"

    def __init__(self, env, seed: int = 0, shared: bool = False) -> None:
        super().__init__(env, seed)
        self.rng = np.random.default_rng(seed)
        self.shared = shared

    def act_batch(self, grids, deterministic=False):
        shape = get_action_space(self.action_space_name).shape
        draws = self.rng.uniform(-1, 1, (1 if self.shared else grids.shape[0], *shape)).astype(np.float32)
        return np.repeat(draws, grids.shape[0], axis=0) if self.shared else draws


class HeuristicAgent(Agent):
    """Weights rising with one difficulty channel (``laplacian``, ``variance``, ``error``, ``gap``) or all four."""

    def __init__(self, env, channel: str = "combined", seed: int | None = None, sign: float = 1.0,
                 scale: float = 1.0) -> None:
        super().__init__(env, seed)
        if channel != "combined" and channel not in CHANNELS:
            raise ValueError(f"unknown heuristic channel '{channel}'; allowed: {', '.join(CHANNELS)}, combined")
        if sign not in (1.0, -1.0):
            raise ValueError(f"sign={sign!r} is invalid; allowed: 1 (the heuristic) or -1 (its inverse)")
        if not (isinstance(scale, (int, float)) and np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale={scale!r} is invalid; allowed: a finite number > 0 (1 = the heuristic)")
        self.channel = channel
        self.sign = float(sign)
        self.scale = float(scale)
        self.name = f"heuristic_{channel}" if sign > 0 else f"inverse_heuristic_{channel}"

    def channel_weights(self) -> np.ndarray:
        """The heuristic as weights of the z-scored channels (4,): 0.25 each for ``combined``, else one-hot; times
        ``sign * scale``."""
        gain = self.sign * self.scale
        if self.channel == "combined":
            return np.full(len(CHANNELS), 0.25 * gain, np.float32)
        return (gain * np.eye(len(CHANNELS))[CHANNELS.index(self.channel)]).astype(np.float32)

    def act_batch(self, grids, deterministic=False):
        if self.action_space_name == "channel_weights":
            return np.tile(self.channel_weights(), (grids.shape[0], 1))
        if self.channel == "combined":
            score = np.mean([zscore(grids[:, c]) for c in range(len(CHANNELS))], axis=0)
        else:
            score = zscore(grids[:, CHANNELS.index(self.channel)])
        return np.clip(self.sign * self.scale * score, -1, 1).astype(np.float32)
