"""Wrappers that keep what an experiment needs from a QAT run while any agent (built-in or SB3) drives it."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch


@dataclass
class WeightMapExample:
    """One step's weight map with the crop it weighted (the first crop of the batch)."""

    qat_step: int
    weights: np.ndarray       # (8, 8), mean 1 under the default mapping
    target: np.ndarray        # (H, W, 3) float in [0, 1]: the ground-truth crop the map was applied to
    observation: np.ndarray   # (4, 8, 8) normalised difficulty grid the agent saw


@dataclass
class RecordedRun:
    """The first QAT run (episode) a ``QATRunRecorder`` saw end."""

    curve: list[dict] = field(default_factory=list)   # per env step: qat_step, probe_psnr, reward, losses
    start_psnr: float = float("nan")                  # probe PSNR-Y (dB) of the PTQ start state
    final_student: torch.nn.Module | None = None      # a copy of the student when the run ended (eval mode)
    examples: list[WeightMapExample] = field(default_factory=list)
    error: str = ""                                   # info["error"] when the run diverged
    episode_return: float = 0.0                       # sum of the run's rewards (the shared reward of the batch)


def _first(value) -> float | np.ndarray:
    """The first sub-env's entry of a vector info value."""
    return np.asarray(value)[0]


class QATRunRecorder(gym.vector.VectorWrapper):
    """Records the first episode of the batched SparkKD env (``SparkKDVectorEnv``, any ``num_envs``): the probe-PSNR
    curve and return, a copy of the final student, and the weight maps of the steps listed in ``example_steps``
    (1-based env steps) with their crops (first crop of the batch).

    The vector env resets itself on the step that ends a run; the copy of the final student is taken through its
    ``episode_end_hook`` just before that, so the run's outcome is never lost. Later episodes pass through
    unrecorded.
    """

    def __init__(self, env: gym.vector.VectorEnv, example_steps: tuple[int, ...] = ()) -> None:
        super().__init__(env)
        self.example_steps = set(example_steps)
        self.run = RecordedRun()
        self._recording = False
        self._obs: np.ndarray | None = None
        env.unwrapped.episode_end_hook = self._keep_final_student

    @property
    def finished(self) -> bool:
        return self.run.final_student is not None

    def _keep_final_student(self, episode) -> None:
        if self._recording:
            self.run.final_student = copy.deepcopy(episode.session.student).eval()

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._recording = not self.finished
        if self._recording:
            self.run = RecordedRun(start_psnr=float(_first(info["probe_psnr"])))
        self._obs = obs
        return obs, info

    def step(self, actions):
        target = None
        if self._recording and (len(self.run.curve) + 1) in self.example_steps:
            target = self.env.unwrapped.episode.crops.hr[0].detach().cpu().numpy().transpose(1, 2, 0)
        seen = self._obs
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        self._obs = obs
        if self._recording:
            step_info = info.get("final_info", info)
            self.run.episode_return += float(rewards[0])
            self.run.curve.append({"env_step": int(_first(step_info["env_step"])),
                                   "qat_step": int(_first(step_info["qat_step"])),
                                   "probe_psnr": float(_first(step_info["probe_psnr"])), "reward": float(rewards[0]),
                                   **{k: float(_first(step_info[k])) for k in ("rec_loss", "kd_loss", "feat_loss")}})
            if target is not None:
                self.run.examples.append(WeightMapExample(int(_first(step_info["qat_step"])),
                                                          np.asarray(_first(step_info["weight_map"])),
                                                          np.clip(target, 0, 1), np.asarray(seen[0])))
            if terminated[0] or truncated[0]:
                self.run.error = str(_first(step_info["error"])) if "error" in step_info else ""
                self._recording = False
        return obs, rewards, terminated, truncated, info
