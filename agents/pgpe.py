"""PGPE: policy gradients with parameter-based exploration (Sehnke et al., 2010), symmetric sampling on paired runs.

Policy (``linear``, 4 numbers): ``a = clip(sum_c w_c * z_c(grid), -1, 1)``, with ``z_c`` the per-grid z-score of
difficulty channel ``c`` over the 64 cells (the features of agents.fixed's heuristics: ``w = 0.25`` for every
channel is ``heuristic_combined``, ``w = 0`` uniform KD, where training starts).

Exploration is in parameter space, not in the actions: every episode acts deterministically with ``mu + eps`` or
``mu - eps`` (``eps ~ N(0, sigma^2)``), and the two episodes of a pair start from the *same* QAT seed, so they see the
same calibration and the same training crops; the difference of their returns measures the policy alone (the
seed-to-seed spread of a QAT run, larger than most policy effects, cancels). After ``pairs_per_update`` pairs::

    mu += lr * mean_i( eps_i / sigma * (R+_i - R-_i) / 2 ) / s

where ``s`` is a running root-mean-square of the half-differences, so a step moves ``mu`` by about ``lr`` in units
of ``sigma`` whatever the reward's scale. ``sigma`` stays fixed. The return is the sum of the env's rewards over
the episode (the batched env's shared reward), so the agent learns whatever reward the env is configured with.

A vector env (``SparkKDVectorEnv``) or a single env both work; ``learn`` counts env steps like the other agents
(every crop of a batch) and runs whole pairs of episodes only: what is left of ``total_steps`` after the last whole
pair (``2 * episode_steps * num_envs`` env steps) carries over to the next ``learn`` call. A pair whose run diverged
counts with the divergence penalty in its return.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from agents.base import Agent, agent_config, Callback
from agents.loop import run_loop
from agents.fixed import zscore
from spark_env.difficulty import CHANNELS

SEED_RANGE = 2 ** 31 - 1


@dataclass
class PGPEConfig:
    sigma: float = 0.3             # std of the parameter perturbations (weights of the z-scored channels)
    lr: float = 1.0                # step of the mean, in units of sigma per update
    pairs_per_update: int = 2      # antithetic pairs (2 episodes each, same QAT seed) per update
    rms_momentum: float = 0.9      # EMA momentum of the half-difference scale s
    init: list[float] = field(default_factory=lambda: [0.0] * len(CHANNELS))  # initial weights (0 = uniform KD)
    seed: int = 0


class PGPEAgent(Agent):
    name = "pgpe"

    def __init__(self, env, config: PGPEConfig | None = None, seed: int | None = None, **overrides) -> None:
        self.config = agent_config(PGPEConfig, config, seed, overrides)
        if self.config.sigma <= 0 or self.config.lr <= 0 or self.config.pairs_per_update < 1:
            raise ValueError(f"PGPE needs sigma > 0, lr > 0 and pairs_per_update >= 1; got {self.config}")
        if len(self.config.init) != len(CHANNELS):
            raise ValueError(f"init has {len(self.config.init)} weights; expected {len(CHANNELS)} (one per channel)")
        super().__init__(env, self.config.seed)
        self.rng = np.random.default_rng(self.config.seed)
        self.mu = np.asarray(self.config.init, dtype=np.float64)
        self.scale: float | None = None
        self._unspent_steps = 0  # budget of earlier learn calls too small for a whole pair, carried over
        self._pending: list[tuple[np.ndarray, float, float]] = []  # pairs since the last update
        self._measured_pair_steps: int | None = None
        self.history: list[dict] = []  # one row per pair: seed, returns, mu after the update (when one happened)

    def _pair_steps(self) -> int | None:
        """Env steps of one pair: from a SparkKD config when the env has one, else as measured (None before the
        first pair)."""
        unwrapped = self.env.unwrapped
        config = getattr(unwrapped, "config", None)
        if config is None:
            return self._measured_pair_steps
        return 2 * config.episode_steps * getattr(unwrapped, "num_envs", 1)

    @staticmethod
    def policy(weights: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """Actions of the linear policy with ``weights`` (4,) on grids (B, 4, 8, 8) -> (B, 8, 8) in [-1, 1]."""
        score = sum(w * zscore(obs[:, c]) for c, w in enumerate(weights))
        return np.clip(score, -1.0, 1.0).astype(np.float32)

    def act_batch(self, grids, deterministic=False):
        return self.policy(self.mu, grids)

    def _episode(self, weights: np.ndarray, seed: int) -> tuple[float, int]:
        """One whole episode with fixed weights from the QAT seed; returns (return, env steps taken)."""
        result = run_loop(self.env, lambda grids, info: self.policy(weights, grids), math.inf,
                          lambda: self.env.reset(seed=seed), agent=self, until_episode_end=True)
        return result.episode_return, result.steps_done

    def learn(self, total_steps: int, callback: Callback | None = None) -> "PGPEAgent":
        self._unspent_steps += total_steps
        done_steps = 0
        while self._unspent_steps >= (self._pair_steps() or 1):
            seed = int(self.rng.integers(0, SEED_RANGE)) if self._seed_used or self.seed is None else self.seed
            self._seed_used = True
            eps = self.rng.normal(0.0, self.config.sigma, self.mu.shape)
            plus, steps_plus = self._episode(self.mu + eps, seed)
            minus, steps_minus = self._episode(self.mu - eps, seed)
            done_steps += steps_plus + steps_minus
            self._unspent_steps -= steps_plus + steps_minus
            self._measured_pair_steps = steps_plus + steps_minus
            self._pending.append((eps, plus, minus))
            self.history.append({"step": done_steps, "seed": seed, "return_plus": plus, "return_minus": minus})
            if len(self._pending) == self.config.pairs_per_update:
                self._update(self._pending)
                self.history[-1]["mu"] = self.mu.tolist()
                self._pending = []
            if callback is not None and callback(locals()) is False:
                break
        return self

    def _update(self, pairs: list[tuple[np.ndarray, float, float]]) -> None:
        halves = np.array([(plus - minus) / 2.0 for _, plus, minus in pairs])
        rms = float(np.sqrt(np.mean(halves ** 2)))
        momentum = self.config.rms_momentum
        self.scale = rms if self.scale is None else momentum * self.scale + (1 - momentum) * rms
        if self.scale < 1e-12:
            return
        direction = np.mean([eps / self.config.sigma * half for (eps, _, _), half in zip(pairs, halves)], axis=0)
        self.mu = self.mu + self.config.lr * self.config.sigma * direction / self.scale

    def policy_parameters(self) -> dict[str, float]:
        """The mean weights of the z-scored channels, ``w_<channel>`` (0.25 each = ``heuristic_combined``)."""
        return {f"w_{channel}": float(w) for channel, w in zip(CHANNELS, self.mu)}

    def save(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        torch.save({"mu": torch.from_numpy(self.mu), "config": asdict(self.config)}, path)

    def load(self, path: str | Path) -> "PGPEAgent":
        payload = torch.load(path, map_location="cpu", weights_only=True)
        self.config = PGPEConfig(**payload["config"])
        self.mu = payload["mu"].numpy().astype(np.float64)
        return self
