"""PGPE: policy gradients with parameter-based exploration (Sehnke et al., 2010), symmetric sampling on paired runs.

Three policy classes (``policy``), as agents.parameter_search describes: ``linear`` (4 weights of the z-scored
difficulty channels; ``w = 0.25`` each is ``heuristic_combined``), ``gated`` (the linear map with an amplitude set by
the crop's mean difficulty levels, 9 parameters) and ``cnn`` (the SPARK agent's 3-conv CNN, 10,721 parameters:
``spark_episodic``).

Exploration is in parameter space, not in the actions: every episode acts deterministically with ``mu + eps`` or
``mu - eps`` (``eps ~ N(0, sigma^2)`` per parameter), and the two episodes of a pair start from the *same* QAT seed,
so they see the same calibration and the same training crops; the difference of their returns measures the policy
alone (the seed-to-seed spread of a QAT run, larger than most policy effects, cancels). After ``pairs_per_update``
pairs::

    mu += lr * sigma * mean_i( eps_i / sigma * (R+_i - R-_i) / 2 ) / s

where ``s`` is a running root-mean-square of the half-differences, so a step moves ``mu`` by about ``lr`` in units
of ``sigma`` whatever the reward's scale. ``sigma`` stays fixed. The return is the sum of the env's rewards over
the episode (the batched env's shared reward), so the agent learns whatever reward the env is configured with.

A vector env (``SparkKDVectorEnv``) or a single env both work; ``learn`` counts env steps like the other agents
(every crop of a batch) and runs whole pairs of episodes only: what is left of ``total_steps`` after the last whole
pair (``2 * env steps per episode * num_envs``) carries over to the next ``learn`` call. A pair whose run diverged
counts with the divergence penalty in its return.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agents.base import agent_config, Callback
from agents.parameter_search import ParameterSearchAgent
from spark_env.difficulty import CHANNELS


@dataclass
class PGPEConfig:
    policy: str = "linear"         # policy class: linear (4 channel weights) | gated (linear, amplitude gated by
                                   # the crop's difficulty levels) | cnn (the SPARK agent's 3-conv CNN)
    sigma: float = 0.3             # std of the parameter perturbations (0.15 / 0.6 not better: preset tune_val)
    lr: float = 1.0                # step of the mean, in units of sigma per update
    pairs_per_update: int = 2      # antithetic pairs (2 episodes each, same QAT seed) per update
    rms_momentum: float = 0.9      # EMA momentum of the half-difference scale s
    init: list[float] = field(default_factory=lambda: [0.0] * len(CHANNELS))  # linear / gated: initial channel
                                   # weights (0 = uniform KD, 0.25 each = heuristic_combined)
    hidden: int = 32               # cnn: channels of the two hidden convolutions
    seed: int = 0


class PGPEAgent(ParameterSearchAgent):
    name = "pgpe"
    config_class = PGPEConfig

    def __init__(self, env, config: PGPEConfig | None = None, seed: int | None = None, **overrides) -> None:
        config = agent_config(PGPEConfig, config, seed, overrides)
        if config.sigma <= 0 or config.lr <= 0 or config.pairs_per_update < 1:
            raise ValueError(f"PGPE needs sigma > 0, lr > 0 and pairs_per_update >= 1; got {config}")
        super().__init__(env, config)
        self.scale: float | None = None
        self._pending: list[tuple[np.ndarray, float, float]] = []  # pairs since the last update

    def learn(self, total_steps: int, callback: Callback | None = None) -> "PGPEAgent":
        self._unspent_steps += total_steps
        done_steps = 0
        while self._affords(2):
            seed = self._next_seed()
            eps = self.rng.normal(0.0, self.config.sigma, self.mu.shape)
            (plus, minus), steps = self._episodes([self.mu + eps, self.mu - eps], seed)
            done_steps += steps
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
