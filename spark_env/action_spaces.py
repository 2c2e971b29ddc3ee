"""Named action spaces (``SparkConfig.action_space``): what an agent's action is and how it becomes the 8x8 map.

==================  =======  ========  ===================================================================
name                shape    bounds    action map ``m`` in [-1, 1]^(8x8) of a crop
==================  =======  ========  ===================================================================
``map`` (default)   (8, 8)   [-1, 1]   the action itself (the paper's action: one value per grid cell)
``channel_weights`` (4,)     [-1, 1]   ``m = clip(sum_c w_c * z_c, -1, 1)``, ``z_c`` the z-score over the
                                       64 cells of difficulty channel ``c`` (laplacian, variance, error,
                                       gap) of the crop's observation
==================  =======  ========  ===================================================================

``channel_weights`` is the family of the difficulty heuristics (agents.fixed): ``w = 0`` is uniform KD, ``w_c =
0.25`` for every channel is ``heuristic_combined``, one ``w_c = 1`` a single-channel heuristic. It is the space in
which PGPE searches, offered so that any Box-action algorithm can act in it. The map then goes through
``action_mapping`` (spark_env.kd, softmax by default) to the KD weight map, as in the ``map`` space.

How often the agent decides is ``decision_interval`` (QAT steps per env step): with ``k > 1`` an action is held
for ``k`` QAT steps, each on fresh crops (a ``channel_weights`` action is mapped through each step's own grid, a
``map`` action is reapplied as it is), and the env step's reward is the sum of theirs. ``decision_interval =
episode_steps`` makes the run one decision: exploration noise an agent draws per action is then held for the
whole run and judged by the run's return (``decision_interval = 0`` says the same for any ``episode_steps``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from spark_env.difficulty import CHANNELS, GRID


def zscore(grids: np.ndarray) -> np.ndarray:
    """Per-map z-score over the 64 cells: (B, 8, 8) -> (B, 8, 8)."""
    mean = grids.mean(axis=(1, 2), keepdims=True)
    std = grids.std(axis=(1, 2), keepdims=True)
    return (grids - mean) / (std + 1e-6)


def channel_weights_map(weights: np.ndarray, observations: np.ndarray) -> np.ndarray:
    """Action maps of channel weights: ``weights`` (4,) or (B, 4), observations (B, 4, 8, 8) -> (B, 8, 8) float32
    in [-1, 1], ``clip(sum_c w_c * z_c(obs), -1, 1)``."""
    weights = np.asarray(weights, dtype=np.float64)
    per_crop = weights if weights.ndim == 2 else np.broadcast_to(weights, (observations.shape[0], len(CHANNELS)))
    score = sum(per_crop[:, c, None, None] * zscore(observations[:, c]) for c in range(len(CHANNELS)))
    return np.clip(score, -1.0, 1.0).astype(np.float32)


def identity_map(actions: np.ndarray, observations: np.ndarray) -> np.ndarray:
    """The ``map`` space: the actions (B, 8, 8) are the action maps."""
    return actions


@dataclass(frozen=True)
class ActionSpace:
    """A named action space: ``shape`` and bounds of one crop's action, and ``to_map(actions (B, *shape),
    observations (B, 4, 8, 8)) -> (B, 8, 8)`` action maps in [-1, 1]."""

    name: str
    shape: tuple[int, ...]
    to_map: Callable[[np.ndarray, np.ndarray], np.ndarray]
    low: float = -1.0
    high: float = 1.0

    def box(self, shape_prefix: tuple[int, ...] = ()) -> spaces.Box:
        """The Gymnasium space of ``shape_prefix`` actions (``(B,)`` for the batched env)."""
        return spaces.Box(self.low, self.high, (*shape_prefix, *self.shape), np.float32)


ACTION_SPACES: dict[str, ActionSpace] = {
    "map": ActionSpace("map", (GRID, GRID), identity_map),
    "channel_weights": ActionSpace("channel_weights", (len(CHANNELS),), channel_weights_map),
}


def get_action_space(name: str) -> ActionSpace:
    """The ActionSpace called ``name``; an unknown name is a ValueError listing the allowed ones."""
    if name not in ACTION_SPACES:
        raise ValueError(f"unknown action_space {name!r}; allowed: {', '.join(ACTION_SPACES)}")
    return ACTION_SPACES[name]


def check_actions(actions, space: ActionSpace, num_crops: int) -> np.ndarray:
    """Validate a batch of actions of ``space``: shape (num_crops, *space.shape) (or space.shape when num_crops is
    1), real floats, finite. Values outside the bounds are clipped (documented behaviour, like a Box action);
    anything else is a ValueError naming the expected shape and range. Returns (num_crops, *space.shape) float32.
    """
    expected = space.shape if num_crops == 1 else (num_crops, *space.shape)
    allowed = f"expected {expected} with values in [{space.low:g}, {space.high:g}] ({space.name} action space)"
    array = actions.detach().cpu().numpy() if hasattr(actions, "detach") else np.asarray(actions)
    if array.shape != expected and not (num_crops == 1 and array.shape == (1, *space.shape)):
        raise ValueError(f"action has shape {array.shape}; {allowed}")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"action has dtype {array.dtype}; {allowed}")
    if not np.isfinite(array).all():
        raise ValueError(f"action contains NaN or infinite values; {allowed}")
    return np.clip(array, space.low, space.high).astype(np.float32).reshape(num_crops, *space.shape)
