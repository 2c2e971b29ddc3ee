"""The interface every agent of the benchmark implements."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

# callback(locals_dict) -> bool; returning False stops learning early (SB3's convention).
Callback = Callable[[dict], bool]


class Agent:
    """Acts in SparkKD-v0 (or its batched vector env). Subclasses override what they need.

    * ``learn(total_steps, callback=None)``: interact for ``total_steps`` env steps (vector steps count once per
      sub-env); returns self. The first reset uses the agent's ``seed``, so agents built with the same seed start
      from the same QAT run; a later ``learn`` continues from there (``reset_env``). Fixed agents learn nothing but
      still act, so ``learn`` runs their QAT.
    * ``act(obs, deterministic=False)``: (4, 8, 8) -> (8, 8) action, or (B, 4, 8, 8) -> (B, 8, 8); float32 in [-1, 1].
    * ``save(path)`` / ``load(path)``: parameters, loaded safely (``weights_only=True``).
    """

    name = "agent"

    def __init__(self, env, seed: int | None = None) -> None:
        self.env = env
        self.seed = seed
        self._seed_used = False

    def reset_env(self):
        """``env.reset``: with the agent's seed the first time, unseeded later, so that a ``learn`` called again
        continues the env's sequence of QAT runs instead of replaying it."""
        seed, self._seed_used = (None if self._seed_used else self.seed), True
        return self.env.reset(seed=seed)

    def learn(self, total_steps: int, callback: Callback | None = None) -> "Agent":
        obs, _ = self.reset_env()
        done_steps = 0
        while done_steps < total_steps:
            obs, reward, terminated, truncated, _ = self.env.step(self.act(obs))
            done_steps += np.size(reward)
            if np.ndim(reward) == 0 and (terminated or truncated) and done_steps < total_steps:
                obs, _ = self.env.reset()
            if callback is not None and callback(locals()) is False:
                break
        return self

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        raise NotImplementedError

    def save(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(self.name + "\n")

    def load(self, path: str | Path) -> "Agent":
        return self


def batched(obs: np.ndarray) -> tuple[np.ndarray, bool]:
    """(4, 8, 8) -> ((1, 4, 8, 8), True); (B, 4, 8, 8) -> (same, False)."""
    obs = np.asarray(obs, dtype=np.float32)
    if obs.ndim == 3:
        return obs[None], True
    if obs.ndim != 4 or obs.shape[1:] != (4, 8, 8):
        raise ValueError(f"observation has shape {obs.shape}; expected (4, 8, 8) or (B, 4, 8, 8)")
    return obs, False
