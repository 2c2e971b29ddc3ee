"""Agents that do not learn: uniform KD (zero action), random maps, and difficulty heuristics.

A heuristic puts more KD weight where a difficulty channel is high: ``a = clip(z(c), -1, 1)`` where ``z`` is the
channel's z-score over the 64 cells of the grid; ``combined`` averages the z-scores of all four channels.
``sign=-1`` inverts a heuristic (more weight where the channel is low): a deliberately bad reference policy.
"""
from __future__ import annotations

import numpy as np

from agents.base import Agent
from spark_env.difficulty import CHANNELS



class UniformAgent(Agent):
    """Always the zero action: uniform output KD under the default (budget-preserving) mapping."""

    name = "uniform"

    def act_batch(self, grids, deterministic=False):
        return np.zeros((grids.shape[0], 8, 8), np.float32)


class RandomAgent(Agent):
    """Uniformly random maps in [-1, 1]^(8x8), seeded."""

    name = "random"

    def __init__(self, env, seed: int = 0) -> None:
        super().__init__(env, seed)
        self.rng = np.random.default_rng(seed)

    def act_batch(self, grids, deterministic=False):
        return self.rng.uniform(-1, 1, (grids.shape[0], 8, 8)).astype(np.float32)


def zscore(grids: np.ndarray) -> np.ndarray:
    """Per-map z-score over the 64 cells: (B, 8, 8) -> (B, 8, 8)."""
    mean = grids.mean(axis=(1, 2), keepdims=True)
    std = grids.std(axis=(1, 2), keepdims=True)
    return (grids - mean) / (std + 1e-6)


class HeuristicAgent(Agent):
    """Weights rising with one difficulty channel (``laplacian``, ``variance``, ``error``, ``gap``) or all four."""

    def __init__(self, env, channel: str = "combined", seed: int | None = None, sign: float = 1.0) -> None:
        super().__init__(env, seed)
        if channel != "combined" and channel not in CHANNELS:
            raise ValueError(f"unknown heuristic channel '{channel}'; allowed: {', '.join(CHANNELS)}, combined")
        if sign not in (1.0, -1.0):
            raise ValueError(f"sign={sign!r} is invalid; allowed: 1 (the heuristic) or -1 (its inverse)")
        self.channel = channel
        self.sign = float(sign)
        self.name = f"heuristic_{channel}" if sign > 0 else f"inverse_heuristic_{channel}"

    def act_batch(self, grids, deterministic=False):
        if self.channel == "combined":
            score = np.mean([zscore(grids[:, c]) for c in range(len(CHANNELS))], axis=0)
        else:
            score = zscore(grids[:, CHANNELS.index(self.channel)])
        return np.clip(self.sign * score, -1, 1).astype(np.float32)
