"""The interface every agent of the benchmark implements."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from agents.loop import Callback, Step, as_batch, run_loop


class Agent:
    """Acts in SparkKD (or its batched vector env). Subclasses override what they need.

    * ``act(obs, deterministic=False)``: (4, 8, 8) -> one action, or (B, 4, 8, 8) -> (B, *action shape); float32
      in [-1, 1]. The action shape is the env's action space's (``action_space_name``, spark_env.action_spaces):
      (8, 8) for ``map``, (4,) for ``channel_weights``. Implement ``act_batch`` (always batched) and ``act``
      handles both shapes, or override ``act`` itself.
    * ``learn(total_steps, callback=None)``: interact for ``total_steps`` env steps (vector steps count once per
      sub-env) through ``agents.loop.run_loop``; returns self. The first reset uses the agent's ``seed``, so agents
      built with the same seed start from the same QAT run; a later ``learn`` continues from there
      (``reset_env``). The default acts with ``choose`` and learns with ``observe``: a learning agent overrides
      ``observe`` (and ``choose`` when it explores differently from ``act``); fixed agents learn nothing but still
      act, so ``learn`` runs their QAT.
    * ``save(path)`` / ``load(path)``: parameters, loaded safely (``weights_only=True``).
    """

    name = "agent"

    def __init__(self, env, seed: int | None = None) -> None:
        self.env = env
        self.seed = seed
        self._seed_used = False

    @property
    def action_space_name(self) -> str:
        """The env's action space (spark_env.action_spaces): its config's ``action_space``, ``map`` for an env
        without a SparkConfig."""
        config = getattr(getattr(self.env, "unwrapped", self.env), "config", None)
        return getattr(config, "action_space", "map")

    def require_map_space(self) -> None:
        """Raise ValueError unless the env's action space is ``map`` (for agents whose policy outputs 8x8 maps)."""
        if self.action_space_name != "map":
            raise ValueError(f"{type(self).__name__} outputs 8x8 maps; the env's action_space is "
                             f"{self.action_space_name!r} (allowed: map)")

    def reset_env(self):
        """``env.reset``: with the agent's seed the first time, unseeded later, so that a ``learn`` called again
        continues the env's sequence of QAT runs instead of replaying it."""
        seed, self._seed_used = (None if self._seed_used else self.seed), True
        return self.env.reset(seed=seed)

    def learn(self, total_steps: int, callback: Callback | None = None) -> "Agent":
        run_loop(self.env, self.choose, total_steps, self.reset_env, self.observe, callback, agent=self)
        return self

    def choose(self, grids: np.ndarray, info: dict) -> np.ndarray:
        """The action taken while learning, for batched grids (B, 4, 8, 8) and the info that came with them."""
        return self.act(grids)

    def observe(self, step: Step) -> None:
        """What the agent learns from one env step (nothing, for a fixed agent)."""

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        grids, single = as_batch(obs)
        actions = self.act_batch(grids, deterministic)
        return actions[0] if single else actions

    def act_batch(self, grids: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """(B, 4, 8, 8) grids -> (B, *action shape) float32 actions in [-1, 1]."""
        raise NotImplementedError(f"{type(self).__name__} implements neither act nor act_batch")

    def policy_parameters(self) -> dict[str, float]:
        """The policy's parameters worth a results column (name -> value), recorded with every measured run of the
        agent; none by default (a network's weights are saved with ``save``, not tabulated)."""
        return {}

    def save(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(self.name + "\n")

    def load(self, path: str | Path) -> "Agent":
        return self


ConfigT = TypeVar("ConfigT")


def agent_config(config_class: type[ConfigT], config: ConfigT | None, seed: int | None,
                 overrides: dict[str, Any]) -> ConfigT:
    """An agent's config dataclass: ``config`` or one built from keyword ``overrides`` (not both), with ``seed``
    (when given) replacing the config's seed."""
    if config is not None and overrides:
        raise ValueError(f"pass a {config_class.__name__} or keyword overrides {sorted(overrides)}, not both")
    config = config if config is not None else config_class(**overrides)
    return config if seed is None else dataclasses.replace(config, seed=seed)


__all__ = ["Agent", "Callback", "Step", "agent_config", "as_batch"]
