"""Policies searched in parameter space, and the agent loop they share (PGPE, CMA-ES).

A parameter-search agent holds a vector of policy parameters (its mean, ``mu``), runs whole episodes with fixed
candidate parameters from QAT seeds it chooses (so candidates can be compared on the same seed: common random
numbers), and acts deterministically with ``mu``. Three policy classes:

* ``linear`` (4 numbers): ``a = clip(sum_c w_c * z_c(grid), -1, 1)``, with ``z_c`` the per-grid z-score of
  difficulty channel ``c`` over the 64 cells (spark_env.action_spaces: ``w = 0.25`` for every channel is
  ``heuristic_combined``, ``w = 0`` uniform KD). In the env's ``map`` action space the agent sends that map; in the
  ``channel_weights`` space it sends the 4 weights (the same run, computed by the env, as long as every weight is
  within the space's bounds [-1, 1], which the env clips to).
* ``gated`` (9 numbers): the linear map with an amplitude that depends on how difficult the crop is in absolute
  terms, ``a = clip(g * sum_c w_c * z_c, -1, 1)`` with ``g = max(0, b + sum_c v_c * o_c)``, ``o_c`` the mean over
  the 64 cells of observation channel ``c`` (in [0, 1]; the error and gap channels fall as the run trains, so ``g``
  can also follow the run's progress). Parameters ``(w, v, b)``, starting at ``(init, 0, 1)``: the linear policy
  with weights ``init``. Map action space only.
* ``cnn``: the built-in SPARK agent's 3-conv policy network (agents.spark.SparkPolicy, ``hidden`` channels), the map
  ``tanh(CNN(grid))``; the parameters are its weights and biases (10,721 at ``hidden=32``), the last convolution
  starting at zero (the zero map: uniform KD). Map action space only.

A config of such an agent has the fields ``policy``, ``init`` (linear, gated), ``hidden`` (cnn) and ``seed``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.base import Agent
from agents.loop import run_loop
from agents.spark import SparkPolicy
from spark_env.action_spaces import channel_weights_map
from spark_env.difficulty import CHANNELS
from spark_env.episode import SEED_RANGE
from spark_env.errors import ConfigError
from spark_env.models.teachers import check_file_sha256

POLICIES = ("linear", "gated", "cnn")


class LinearChannelPolicy:
    """Parameters: the 4 weights of the z-scored difficulty channels."""

    def __init__(self, config, action_space: str) -> None:
        if len(config.init) != len(CHANNELS):
            raise ValueError(f"init has {len(config.init)} weights; expected {len(CHANNELS)} (one per channel)")
        self.action_space = action_space

    @staticmethod
    def initial(config) -> np.ndarray:
        return np.asarray(config.init, dtype=np.float64)

    def actions(self, theta: np.ndarray, grids: np.ndarray) -> np.ndarray:
        """(B, 4, 8, 8) grids -> the map (B, 8, 8), or the weights (B, 4) in the channel_weights space."""
        if self.action_space == "channel_weights":
            return np.tile(theta.astype(np.float32), (grids.shape[0], 1))
        return channel_weights_map(theta, grids)

    @staticmethod
    def named(theta: np.ndarray) -> dict[str, float]:
        return {f"w_{channel}": float(w) for channel, w in zip(CHANNELS, theta)}


class GatedChannelPolicy:
    """Parameters: the 4 channel weights ``w``, the 4 gate slopes ``v`` on the channels' mean levels and the gate's
    bias ``b`` (see the module docstring)."""

    def __init__(self, config, action_space: str) -> None:
        if action_space != "map":
            raise ValueError(f"policy='gated' sends 8x8 maps; the env's action_space is {action_space!r} "
                             "(allowed: map)")
        if len(config.init) != len(CHANNELS):
            raise ValueError(f"init has {len(config.init)} weights; expected {len(CHANNELS)} (one per channel)")

    @staticmethod
    def initial(config) -> np.ndarray:
        return np.concatenate([np.asarray(config.init, dtype=np.float64), np.zeros(len(CHANNELS)), [1.0]])

    @staticmethod
    def actions(theta: np.ndarray, grids: np.ndarray) -> np.ndarray:
        """(B, 4, 8, 8) grids -> the maps (B, 8, 8)."""
        count = len(CHANNELS)
        weights, slopes, bias = theta[:count], theta[count:2 * count], theta[2 * count]
        gate = np.maximum(0.0, bias + grids.mean(axis=(2, 3)).astype(np.float64) @ slopes)  # (B,)
        return channel_weights_map(gate[:, None] * weights[None, :], grids)

    @staticmethod
    def named(theta: np.ndarray) -> dict[str, float]:
        count = len(CHANNELS)
        return {**{f"w_{channel}": float(w) for channel, w in zip(CHANNELS, theta[:count])},
                **{f"gate_{channel}": float(v) for channel, v in zip(CHANNELS, theta[count:2 * count])},
                "gate_bias": float(theta[2 * count])}


class ConvMapPolicy:
    """Parameters: the weights and biases of the SPARK policy CNN (agents.spark.SparkPolicy), flattened."""

    def __init__(self, config, action_space: str) -> None:
        if action_space != "map":
            raise ValueError(f"policy='cnn' outputs an 8x8 map; the env's action_space is {action_space!r} "
                             "(allowed: map)")
        with torch.random.fork_rng(devices=[]):  # torch's global generator is left as it was
            torch.manual_seed(config.seed)
            self.network = SparkPolicy(config.hidden).net

    def initial(self, config) -> np.ndarray:
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


POLICY_CLASSES = {"linear": LinearChannelPolicy, "gated": GatedChannelPolicy, "cnn": ConvMapPolicy}
PolicyClass = LinearChannelPolicy | GatedChannelPolicy | ConvMapPolicy


def build_policy(config, action_space: str) -> PolicyClass:
    """The policy class a config names (``config.policy``: one of POLICIES) for the env's action space."""
    return POLICY_CLASSES[config.policy](config, action_space)


# what a policy file's config needs to rebuild its policy class (other keys, e.g. PGPE's sigma, are kept, unused)
POLICY_DEFAULTS = {"policy": "linear", "init": (0.0,) * len(CHANNELS), "hidden": 32, "seed": 0}


def parameter_count(config: dict[str, Any]) -> int:
    """Parameters of the policy a (defaults-filled) policy-file config names: 4 (linear), 9 (gated), or the SPARK
    CNN's at its ``hidden`` width (cnn; 10,721 at hidden=32), counted on the network itself."""
    if config["policy"] == "linear":
        return len(CHANNELS)
    if config["policy"] == "gated":
        return 2 * len(CHANNELS) + 1
    with torch.random.fork_rng(devices=[]):  # building the network leaves torch's global generator as it was
        return sum(p.numel() for p in SparkPolicy(int(config["hidden"])).net.parameters())


def load_policy_file(path: str | Path, sha256: str | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a policy file (``{"mu": tensor, "config": dict}``, as PGPE / CMA-ES ``save`` write), checking its SHA-256
    first when ``sha256`` is given. Returns (parameters as a float64 vector, config with POLICY_DEFAULTS filled
    in); a missing, unreadable or malformed file, or one whose parameter count does not fit its policy, is a
    ConfigError naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"policy file '{path}' does not exist")
    if sha256 is not None:
        check_file_sha256(path, sha256, "policy file", "restore it (git checkout agents/policies/ or reinstall) or "
                          "retrain it with python -m experiments.train_policy")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a truncated, foreign or unsafe file
        first_line = str(error).splitlines()[0] if str(error) else ""
        raise ConfigError(f"policy file '{path}' cannot be read as a policy file: {type(error).__name__}: "
                          f"{first_line}") from None
    if (not isinstance(payload, dict) or not isinstance(payload.get("mu"), torch.Tensor)
            or not isinstance(payload.get("config"), dict)):
        raise ConfigError(f"policy file '{path}' is not a policy file; expected a dict with 'mu' (a tensor of "
                          "parameters) and 'config' (a dict), as PGPE / CMA-ES save")
    config = {**POLICY_DEFAULTS, **payload["config"]}
    if config["policy"] not in POLICIES:
        raise ConfigError(f"policy file '{path}' names policy {config['policy']!r}; allowed: {', '.join(POLICIES)}")
    mu = payload["mu"].detach().double().numpy().reshape(-1)
    expected = parameter_count(config)
    if mu.size != expected:
        kind = f"a cnn policy with hidden={config['hidden']}" if config["policy"] == "cnn" else \
            f"a {config['policy']} policy"
        raise ConfigError(f"policy file '{path}' holds {mu.size} parameters; {kind} has {expected}")
    if not np.all(np.isfinite(mu)):
        raise ConfigError(f"policy file '{path}' holds non-finite parameters")
    return mu, config


def save_policy_file(path: str | Path, mu: np.ndarray, config: dict[str, Any]) -> None:
    """Write a policy file: the parameters ``mu`` and the config that rebuilds their policy class (load_policy_file
    reads it back; ``torch.load(weights_only=True)`` suffices)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"mu": torch.from_numpy(np.asarray(mu, dtype=np.float64)), "config": dict(config)}, path)


class ParameterSearchAgent(Agent):
    """The shared part of PGPE and CMA-ES: the policy class, whole episodes with fixed parameters from a chosen QAT
    seed, deterministic acting with ``mu``, the policy file (``mu`` and the config). Subclasses implement ``learn``
    and set ``config_class``."""

    config_class: type  # the subclass's config dataclass (``load`` rebuilds it from a policy file)

    def __init__(self, env, config) -> None:
        if config.policy not in POLICIES:
            raise ValueError(f"unknown {type(self).__name__.removesuffix('Agent')} policy {config.policy!r}; "
                             f"allowed: {', '.join(POLICIES)}")
        self.config = config
        super().__init__(env, config.seed)
        self.policy_class = self._policy_class()
        self.rng = np.random.default_rng(config.seed)
        self.mu = self.policy_class.initial(config)
        self._unspent_steps = 0  # budget of earlier learn calls too small for a whole batch of episodes
        self._measured_episode_steps: int | None = None
        self.history: list[dict] = []  # one row per batch of episodes: seed, returns, mu after an update

    def _policy_class(self) -> PolicyClass:
        return build_policy(self.config, self.action_space_name)

    def _episode_steps(self) -> int | None:
        """Env steps of one episode: from a SparkKD config when the env has one, else as measured (None before the
        first episode)."""
        unwrapped = self.env.unwrapped
        config = getattr(unwrapped, "config", None)
        if config is None:
            return self._measured_episode_steps
        return config.episode_env_steps * getattr(unwrapped, "num_envs", 1)

    def _affords(self, episodes: int) -> bool:
        """Whether the unspent budget pays for ``episodes`` whole episodes (any budget >= 1 before the first episode
        of an env whose episode length is unknown)."""
        steps = self._episode_steps()
        return self._unspent_steps >= (episodes * steps if steps else 1)

    def _episodes(self, thetas: list[np.ndarray], seed: int) -> tuple[list[float], int]:
        """One whole episode per parameter vector, all from the QAT seed ``seed``, their env steps taken from the
        unspent budget; returns (the episodes' returns, env steps taken)."""
        returns, steps = [], 0
        for theta in thetas:
            episode_return, episode_steps = self._episode(theta, seed)
            returns.append(episode_return)
            steps += episode_steps
        self._unspent_steps -= steps
        return returns, steps

    def _next_seed(self) -> int:
        """The QAT seed of the next batch of episodes: the agent's seed first, then draws from its generator."""
        seed = int(self.rng.integers(0, SEED_RANGE)) if self._seed_used or self.seed is None else self.seed
        self._seed_used = True
        return seed

    def learn(self, total_steps: int, callback=None) -> "ParameterSearchAgent":
        raise NotImplementedError(f"{type(self).__name__} implements no search (learn)")

    def policy(self, theta: np.ndarray, grids: np.ndarray) -> np.ndarray:
        """Actions of the policy with parameters ``theta`` on grids (B, 4, 8, 8), in the env's action space."""
        return self.policy_class.actions(theta, grids)

    def act_batch(self, grids, deterministic=False):
        return self.policy(self.mu, grids)

    def _episode(self, theta: np.ndarray, seed: int) -> tuple[float, int]:
        """One whole episode with fixed parameters from the QAT seed; returns (return, env steps taken)."""
        result = run_loop(self.env, lambda grids, info: self.policy(theta, grids), math.inf,
                          lambda: self.env.reset(seed=seed), agent=self, until_episode_end=True)
        self._measured_episode_steps = result.steps_done
        return result.episode_return, result.steps_done

    def policy_parameters(self) -> dict[str, float]:
        """Linear: the mean weights of the z-scored channels, ``w_<channel>`` (0.25 each = ``heuristic_combined``);
        gated: those, the gate's slopes ``gate_<channel>`` and ``gate_bias``; cnn: the norm of the mean parameter
        vector (the weights are in the saved policy file)."""
        return self.policy_class.named(self.mu)

    def save(self, path: str | Path) -> None:
        """The policy file: ``mu`` (the parameters the agent acts with) and the config (not the search state)."""
        save_policy_file(path, self.mu, asdict(self.config))

    def load(self, path: str | Path) -> "ParameterSearchAgent":
        """Act with a policy file's parameters and config (load_policy_file's checks; config keys the agent's config
        class does not have are dropped)."""
        self.mu, config = load_policy_file(path)
        known = {f.name for f in fields(self.config_class)}
        self.config = self.config_class(**{key: value for key, value in config.items() if key in known})
        self.policy_class = self._policy_class()
        return self
