"""PGPE: policy gradients with parameter-based exploration (Sehnke et al., 2010), symmetric sampling on paired runs.

Two policy classes (``policy``), both starting at uniform KD:

* ``linear`` (4 numbers): ``a = clip(sum_c w_c * z_c(grid), -1, 1)``, with ``z_c`` the per-grid z-score of
  difficulty channel ``c`` over the 64 cells (spark_env.action_spaces: ``w = 0.25`` for every channel is
  ``heuristic_combined``, ``w = 0`` uniform KD, where training starts). In the env's ``map`` action space the agent
  sends that map; in the ``channel_weights`` space it sends the 4 weights (the same run, computed by the env, as
  long as every weight is within the space's bounds [-1, 1], which the env clips to).
* ``cnn``: the built-in SPARK agent's 3-conv policy network (agents.spark.SparkPolicy, ``hidden`` channels), the map
  ``tanh(CNN(grid))``; the parameters are its weights and biases (10,721 at ``hidden=32``), the last convolution
  starting at zero (the zero map: uniform KD). This is the SPARK agent's own policy class searched with the
  exploration that makes the linear policy learn (``spark_episodic``). Map action space only.

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

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from agents.base import Agent, agent_config, Callback
from agents.loop import run_loop
from agents.spark import SparkPolicy
from spark_env.action_spaces import channel_weights_map
from spark_env.difficulty import CHANNELS

SEED_RANGE = 2 ** 31 - 1


POLICIES = ("linear", "cnn")


@dataclass
class PGPEConfig:
    policy: str = "linear"         # policy class: linear (4 channel weights) | cnn (the SPARK agent's 3-conv CNN)
    sigma: float = 0.3             # std of the parameter perturbations
    lr: float = 1.0                # step of the mean, in units of sigma per update
    pairs_per_update: int = 2      # antithetic pairs (2 episodes each, same QAT seed) per update
    rms_momentum: float = 0.9      # EMA momentum of the half-difference scale s
    init: list[float] = field(default_factory=lambda: [0.0] * len(CHANNELS))  # linear: initial weights (0 = uniform)
    hidden: int = 32               # cnn: channels of the two hidden convolutions
    seed: int = 0


class LinearChannelPolicy:
    """Parameters: the 4 weights of the z-scored difficulty channels."""

    def __init__(self, config: PGPEConfig, action_space: str) -> None:
        if len(config.init) != len(CHANNELS):
            raise ValueError(f"init has {len(config.init)} weights; expected {len(CHANNELS)} (one per channel)")
        self.action_space = action_space

    @staticmethod
    def initial(config: PGPEConfig) -> np.ndarray:
        return np.asarray(config.init, dtype=np.float64)

    def actions(self, theta: np.ndarray, grids: np.ndarray) -> np.ndarray:
        """(B, 4, 8, 8) grids -> the map (B, 8, 8), or the weights (B, 4) in the channel_weights space."""
        if self.action_space == "channel_weights":
            return np.tile(theta.astype(np.float32), (grids.shape[0], 1))
        return channel_weights_map(theta, grids)

    @staticmethod
    def named(theta: np.ndarray) -> dict[str, float]:
        return {f"w_{channel}": float(w) for channel, w in zip(CHANNELS, theta)}


class ConvMapPolicy:
    """Parameters: the weights and biases of the SPARK policy CNN (agents.spark.SparkPolicy), flattened."""

    def __init__(self, config: PGPEConfig, action_space: str) -> None:
        if action_space != "map":
            raise ValueError(f"policy='cnn' outputs an 8x8 map; the env's action_space is {action_space!r} "
                             "(allowed: map)")
        with torch.random.fork_rng(devices=[]):  # torch's global generator is left as it was
            torch.manual_seed(config.seed)
            self.network = SparkPolicy(config.hidden).net

    def initial(self, config: PGPEConfig) -> np.ndarray:
        """The network's default initialisation (drawn from the agent's seed), with the last convolution at zero
        (the zero map)."""
        with torch.no_grad():
            self.network[-1].weight.zero_()
            self.network[-1].bias.zero_()
        return torch.nn.utils.parameters_to_vector(self.network.parameters()).detach().double().numpy()

    def actions(self, theta: np.ndarray, grids: np.ndarray) -> np.ndarray:
        torch.nn.utils.vector_to_parameters(torch.from_numpy(theta).float(), self.network.parameters())
        with torch.no_grad():
            return torch.tanh(self.network(torch.from_numpy(grids))[:, 0]).numpy().astype(np.float32)

    @staticmethod
    def named(theta: np.ndarray) -> dict[str, float]:
        return {"parameter_norm": float(np.linalg.norm(theta))}


class PGPEAgent(Agent):
    name = "pgpe"

    def __init__(self, env, config: PGPEConfig | None = None, seed: int | None = None, **overrides) -> None:
        self.config = agent_config(PGPEConfig, config, seed, overrides)
        if self.config.sigma <= 0 or self.config.lr <= 0 or self.config.pairs_per_update < 1:
            raise ValueError(f"PGPE needs sigma > 0, lr > 0 and pairs_per_update >= 1; got {self.config}")
        if self.config.policy not in POLICIES:
            raise ValueError(f"unknown PGPE policy {self.config.policy!r}; allowed: {', '.join(POLICIES)}")
        super().__init__(env, self.config.seed)
        self.policy_class = self._policy_class()
        self.rng = np.random.default_rng(self.config.seed)
        self.mu = self.policy_class.initial(self.config)
        self.scale: float | None = None
        self._unspent_steps = 0  # budget of earlier learn calls too small for a whole pair, carried over
        self._pending: list[tuple[np.ndarray, float, float]] = []  # pairs since the last update
        self._measured_pair_steps: int | None = None
        self.history: list[dict] = []  # one row per pair: seed, returns, mu after the update (when one happened)

    def _policy_class(self) -> LinearChannelPolicy | ConvMapPolicy:
        policy_class = LinearChannelPolicy if self.config.policy == "linear" else ConvMapPolicy
        return policy_class(self.config, self.action_space_name)

    def _pair_steps(self) -> int | None:
        """Env steps of one pair: from a SparkKD config when the env has one, else as measured (None before the
        first pair)."""
        unwrapped = self.env.unwrapped
        config = getattr(unwrapped, "config", None)
        if config is None:
            return self._measured_pair_steps
        return 2 * config.episode_env_steps * getattr(unwrapped, "num_envs", 1)

    def policy(self, theta: np.ndarray, grids: np.ndarray) -> np.ndarray:
        """Actions of the policy with parameters ``theta`` on grids (B, 4, 8, 8), in the env's action space."""
        return self.policy_class.actions(theta, grids)

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
        """Linear: the mean weights of the z-scored channels, ``w_<channel>`` (0.25 each = ``heuristic_combined``);
        cnn: the norm of the mean parameter vector (the weights are in the saved policy file)."""
        return self.policy_class.named(self.mu)

    def save(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        torch.save({"mu": torch.from_numpy(self.mu), "config": asdict(self.config)}, path)

    def load(self, path: str | Path) -> "PGPEAgent":
        payload = torch.load(path, map_location="cpu", weights_only=True)
        self.config = PGPEConfig(**payload["config"])
        self.policy_class = self._policy_class()
        self.mu = payload["mu"].numpy().astype(np.float64)
        return self
