"""Wrappers that keep what an experiment needs from a QAT run while any agent (built-in or SB3) drives it."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch


@dataclass
class WeightMapExample:
    """One step's weight map with the crop it weighted."""

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


class QATRunRecorder(gym.Wrapper):
    """Records the first episode of a single SparkKD env: the probe-PSNR curve, a copy of the final student, and
    the weight maps of the steps listed in ``example_steps`` (1-based env steps) with their crops.

    Online agents (SB3 algorithms especially) may reset the env right after the run ends; the copy of the final
    student is taken before that, so the run's outcome is never lost. Later episodes pass through unrecorded.
    """

    def __init__(self, env: gym.Env, example_steps: tuple[int, ...] = ()) -> None:
        super().__init__(env)
        self.example_steps = set(example_steps)
        self.run = RecordedRun()
        self._recording = False
        self._obs: np.ndarray | None = None

    @property
    def finished(self) -> bool:
        return self.run.final_student is not None

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._recording = not self.finished
        if self._recording:
            self.run = RecordedRun(start_psnr=float(info["probe_psnr"]))
        self._obs = obs
        return obs, info

    def step(self, action):
        target = None
        if self._recording and (len(self.run.curve) + 1) in self.example_steps:
            target = self.env.unwrapped.episode.crops.hr[0].detach().cpu().numpy().transpose(1, 2, 0)
        seen = self._obs
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._obs = obs
        if self._recording:
            self.run.curve.append({"env_step": info["env_step"], "qat_step": info["qat_step"],
                                   "probe_psnr": float(info["probe_psnr"]), "reward": float(reward),
                                   "rec_loss": info["rec_loss"], "kd_loss": info["kd_loss"],
                                   "feat_loss": info["feat_loss"]})
            if target is not None:
                self.run.examples.append(WeightMapExample(info["qat_step"], np.asarray(info["weight_map"]),
                                                          np.clip(target, 0, 1), np.asarray(seen)))
            if terminated or truncated:
                self.run.error = info.get("error", "")
                self.run.final_student = copy.deepcopy(self.env.unwrapped.session.student).eval()
                self._recording = False
        return obs, reward, terminated, truncated, info
