"""The one environment-agent loop every agent's ``learn`` runs: reset, act, step, hooks, resets, callback.

It hides the difference between the single env (one (4, 8, 8) observation, a scalar reward; the loop resets it
after an episode ends) and the natively batched vector env (B observations and rewards; it autoresets in the same
step): agents see batched arrays only. Actions are clipped to [-1, 1] before the env sees them (the env would clip
them too).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# callback(locals_dict) -> bool; returning False stops learning early (SB3's convention). The loop's dict holds
# "agent" (when given), "step" (the last Step) and "steps_done".
Callback = Callable[[dict], bool]


@dataclass
class Step:
    """One env step as a learning agent sees it; arrays are batched (B = 1 for the single env)."""

    obs: np.ndarray         # (B, 4, 8, 8) observation that was acted on
    info: dict              # the info that came with ``obs``
    action: np.ndarray      # (B, *action shape) the agent's action, before clipping
    reward: np.ndarray      # (B,) float64
    done: np.ndarray        # (B,) bool: terminated or truncated
    next_info: dict
    steps_done: int         # env steps so far, this one included (every crop of a batch counts)


@dataclass
class LoopResult:
    steps_done: int          # env steps taken
    episode_return: float    # sum of the first sub-env's rewards over the steps taken


def as_batch(obs: np.ndarray) -> tuple[np.ndarray, bool]:
    """(4, 8, 8) -> ((1, 4, 8, 8), True); (B, 4, 8, 8) -> (same, False)."""
    obs = np.asarray(obs, dtype=np.float32)
    if obs.ndim == 3:
        return obs[None], True
    if obs.ndim != 4 or obs.shape[1:] != (4, 8, 8):
        raise ValueError(f"observation has shape {obs.shape}; expected (4, 8, 8) or (B, 4, 8, 8)")
    return obs, False


def run_loop(env, choose: Callable[[np.ndarray, dict], np.ndarray], total_steps: float,
             reset: Callable[[], tuple], on_step: Callable[[Step], None] | None = None,
             callback: Callback | None = None, agent=None, until_episode_end: bool = False) -> LoopResult:
    """Interact with ``env`` for ``total_steps`` env steps (``math.inf`` with ``until_episode_end``).

    ``reset()`` gives the first (obs, info) (e.g. a seeded ``env.reset``); ``choose(grids, info)`` maps (B, 4, 8, 8)
    grids to (B, *action shape) actions; ``on_step(step)`` sees every step (updates, buffers); ``callback``
    returning False stops the loop. With ``until_episode_end`` the loop ends when the first sub-env's episode does
    (one whole QAT run); otherwise a finished single env is reset (unseeded) while steps remain.
    """
    obs, info = reset()
    steps_done, episode_return = 0, 0.0
    while steps_done < total_steps:
        grids, single = as_batch(obs)
        action = np.asarray(choose(grids, info), dtype=np.float32)
        clipped = np.clip(action, -1.0, 1.0)
        next_obs, reward, terminated, truncated, next_info = env.step(clipped[0] if single else clipped)
        rewards = np.atleast_1d(np.asarray(reward, dtype=np.float64))
        done = np.atleast_1d(np.logical_or(terminated, truncated))
        steps_done += rewards.size
        episode_return += float(rewards[0])
        step = Step(grids, info, action, rewards, done, next_info, steps_done)
        if on_step is not None:
            on_step(step)
        obs, info = next_obs, next_info
        if until_episode_end and done[0]:
            break
        if single and done[0] and steps_done < total_steps:
            obs, info = env.reset()
        if callback is not None and callback({"agent": agent, "step": step, "steps_done": steps_done}) is False:
            break
    return LoopResult(steps_done, episode_return)


__all__ = ["Callback", "LoopResult", "Step", "as_batch", "run_loop"]
