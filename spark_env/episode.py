"""One episode (one QAT run) over ``num_crops`` parallel training crops that share one student.

This is the logic behind both the single environment (``num_crops=1``) and the natively batched vector
environment (``num_crops=B``): the gymnasium classes are thin shells around it. An env step is one decision: the
action (of the configured action space, spark_env.action_spaces) is held for ``decision_interval`` QAT steps.
"""
from __future__ import annotations

import math
import time
from collections import defaultdict

import numpy as np
import torch

from spark_env.action_spaces import check_actions, get_action_space
from spark_env.config import SparkConfig
from spark_env.difficulty import GRID, normalise
from spark_env.kd import action_to_weights
from spark_env.qat import QATSession, StudentPass
from spark_env.rewards import RewardContext, resolve_reward


SEED_RANGE = 2 ** 31 - 1  # QAT seeds are drawn from [0, SEED_RANGE)


class EpisodeSeeds:
    """The QAT seed of each episode, drawn from the env's generator; ``per_seed`` consecutive episodes share one.

    With ``per_seed = 1`` every episode draws a fresh seed. With ``per_seed = k`` (common random numbers) episodes
    come in groups of k that see the same calibration batch, training crops and probe, so within a group returns
    differ only by what the agent did; a reset with an explicit seed, or with the reset option
    ``{"new_seed_group": True}``, starts a new group.
    """

    def __init__(self, per_seed: int = 1) -> None:
        if per_seed < 1:
            raise ValueError(f"per_seed={per_seed} is invalid; allowed: >= 1")
        self.per_seed = per_seed
        self._seed = 0
        self._left = 0  # episodes the current seed still starts

    def next(self, rng: np.random.Generator, new_group: bool = False) -> int:
        """The seed of the next episode; ``new_group``: draw a fresh one whatever is left of the group."""
        if new_group or self._left == 0:
            self._seed = int(rng.integers(0, SEED_RANGE))
            self._left = self.per_seed
        self._left -= 1
        return self._seed

    def for_reset(self, rng: np.random.Generator, seed: int | None, options: dict | None) -> int:
        """The seed of the episode an env's ``reset(seed=..., options=...)`` starts (the env's generator ``rng``
        already reseeded when ``seed`` is given): a new group with an explicit seed or ``new_seed_group``."""
        return self.next(rng, new_group=seed is not None or bool((options or {}).get("new_seed_group", False)))


class Episode:
    """Drives a QATSession step by step: observation, weight map, QAT step(s), reward, next crops.

    ``timings`` accumulates wall-clock seconds per phase ('qat', 'reward', 'observe', 'lookahead', 'reference'); it
    is kept out of ``info`` so that info stays deterministic.
    """

    def __init__(self, config: SparkConfig, num_crops: int = 1) -> None:
        self.config = config
        self.num_crops = num_crops
        self.space = get_action_space(config.action_space)
        self.reward_fn = resolve_reward(config.reward)
        self.session = QATSession(config)
        self.timings: dict[str, float] = defaultdict(float)
        self.step_index = 0  # QAT steps of the episode
        self.decision_index = 0  # env steps (decisions) of the episode
        self.active = False
        self.crops = None
        self.obs: np.ndarray | None = None  # the normalised grids of the current crops (B, 4, 8, 8)
        self.student_pass: StudentPass | None = None  # the forward pass that built the observation
        self.raw_grid = None
        self.probe_psnr = math.nan
        self.start_psnr = math.nan
        self.last_weights = torch.ones(num_crops, GRID, GRID)
        self._scores: torch.Tensor | None = None
        self.reference: list[float] | None = None  # the uniform-KD run of this episode's seed, when the reward reads it
        self._references: dict[int, list[float]] = {}

    def __getstate__(self) -> dict:
        # The pending forward pass's autograd graph does not pickle; step() recomputes it (same values on CPU).
        return {**self.__dict__, "student_pass": None}

    def _observe(self) -> np.ndarray:
        began = time.perf_counter()
        self.crops = self.session.sample(self.num_crops)
        self.student_pass = self.session.forward(self.crops)
        self.raw_grid = self.session.observe(self.crops, self.student_pass)
        self._scores = None
        self.obs = normalise(self.raw_grid).numpy().astype(np.float32)
        self.timings["observe"] += time.perf_counter() - began
        return self.obs

    def lookahead_scores(self) -> torch.Tensor:
        """(B, 8, 8) lookahead scores (spark_env.lookahead) of the observed crops in the current state: dB of probe
        PSNR per unit of a cell's KD weight, first order, for the coming step. Computed on first request per
        observation (timed as 'lookahead'); the run itself is unchanged."""
        if self.crops is None:
            raise RuntimeError("lookahead_scores() needs an observation; call reset() first")
        if self._scores is None:
            began = time.perf_counter()
            self._scores = self.session.lookahead_scores(self.crops)
            self.timings["lookahead"] += time.perf_counter() - began
        return self._scores

    def _probe_due(self, qat_step: int) -> bool:
        """Whether the probe is evaluated after QAT step ``qat_step`` (1-based): every ``probe_every`` steps and the
        last."""
        return qat_step >= self.config.episode_steps or qat_step % self.config.probe_every == 0

    def uniform_reference(self, seed: int) -> list[float]:
        """The probe PSNR (dB) of the uniform-KD run of ``seed`` at its start and after each QAT step (carried
        between probe evaluations): the same calibration and crops as this episode's run of that seed. Computed on
        first request per seed (timed as 'reference') and cached."""
        if seed not in self._references:
            began = time.perf_counter()
            session, config = self.session, self.config
            session.start(seed)
            uniform = action_to_weights(torch.zeros(self.num_crops, GRID, GRID), config.action_mapping,
                                        config.action_temperature)
            curve = [session.probe_psnr()]
            for step in range(1, config.episode_steps + 1):
                crops = session.sample(self.num_crops)
                session.optimize(crops, session.forward(crops), uniform)
                curve.append(session.probe_psnr() if self._probe_due(step) else curve[-1])
            self._references[seed] = curve
            self.timings["reference"] += time.perf_counter() - began
        return self._references[seed]

    def reset(self, seed: int) -> tuple[np.ndarray, dict]:
        """Start a fresh QAT run; returns (observation (B, 4, 8, 8), info)."""
        needs_reference = getattr(self.reward_fn, "needs_uniform_reference", False)
        self.reference = self.uniform_reference(seed) if needs_reference else None
        self.session.start(seed)
        self.step_index = self.decision_index = 0
        self.start_psnr = self.probe_psnr = self.session.probe_psnr()
        if getattr(self.reward_fn, "needs_val_start", False):
            self.session.val_psnr()
        self.last_weights = torch.ones(self.num_crops, GRID, GRID)
        self.active = True
        obs = self._observe()
        return obs, self._info({"loss": math.nan, "rec_loss": math.nan, "kd_loss": math.nan,
                                      "feat_loss": math.nan})

    def step(self, actions) -> tuple[np.ndarray, float, bool, dict]:
        """Apply one action per crop for ``steps_per_decision`` QAT steps (fewer when the run ends first); returns
        (observation (B, 4, 8, 8), reward (the sum of those QAT steps' rewards), episode_over, info)."""
        if not self.active:
            raise RuntimeError("step() called on an episode that has ended (or never started); call reset() first")
        actions = check_actions(actions, self.space, self.num_crops)
        total = 0.0
        for _ in range(self.config.steps_per_decision):
            reward, over, losses, error = self._qat_step(actions)
            total += reward
            if over:
                break
        self.decision_index += 1
        self.active = not over
        info = self._info(losses)
        if error is not None:
            info["error"] = error
        return self.obs, total, over, info

    def _qat_step(self, actions: np.ndarray) -> tuple[float, bool, dict[str, float], str | None]:
        """One QAT step on the current crops under the actions' maps, its reward, then the next crops' observation;
        returns (reward, episode_over, losses, error message or None)."""
        maps = self.space.to_map(actions, self.obs)
        weights = action_to_weights(torch.from_numpy(maps), self.config.action_mapping,
                                    self.config.action_temperature)
        self.last_weights = weights
        if self.student_pass is None:
            self.student_pass = self.session.forward(self.crops)
        began = time.perf_counter()
        undo = self.session.snapshot() if getattr(self.reward_fn, "needs_snapshot", False) else None
        losses = self.session.optimize(self.crops, self.student_pass, weights)
        self.timings["qat"] += time.perf_counter() - began
        self.step_index += 1
        over = self.step_index >= self.config.episode_steps
        error = None
        began = time.perf_counter()
        if losses["finite"]:
            probe_due = self._probe_due(self.step_index)
            context = RewardContext(self.session, self.crops, self.student_pass.output, weights, self.probe_psnr,
                                    self.start_psnr, over, self.step_index - 1, undo, probe_due, self.reference)
            after = context.psnr_after
            reward = self.config.reward_scale * float(self.reward_fn(context)) if math.isfinite(after) else math.nan
            if math.isfinite(reward):
                self.probe_psnr = after
            else:
                error = f"non-finite student output or reward at QAT step {self.session.steps_done}"
        else:
            error = f"non-finite loss {losses['loss']} at QAT step {self.session.steps_done}"
        self.timings["reward"] += time.perf_counter() - began
        if error is not None:
            self._scores = torch.full((self.num_crops, GRID, GRID), math.nan)  # no scores for a diverged student
            return self.config.divergence_penalty, True, losses, error
        self._observe()
        return reward, over, losses, None

    def _info(self, losses: dict[str, float]) -> dict:
        weights = self.last_weights.numpy()
        if self.config.lookahead_info:
            scores = self.lookahead_scores().numpy()
            extra = {"lookahead_scores": scores[0] if self.num_crops == 1 else scores}
        else:
            extra = {}
        return {**extra,
            "probe_psnr": self.probe_psnr,
            "teacher_psnr": self.session.teacher_probe_psnr,
            "gap_to_teacher": self.session.teacher_probe_psnr - self.probe_psnr,
            "start_psnr": self.start_psnr,
            "rec_loss": losses["rec_loss"],
            "kd_loss": losses["kd_loss"],
            "feat_loss": losses["feat_loss"],
            "loss": losses["loss"],
            "weight_map": weights[0] if self.num_crops == 1 else weights,
            "raw_grid": self.raw_grid.numpy()[0] if self.num_crops == 1 else self.raw_grid.numpy(),
            "qat_step": self.session.steps_done,
            "env_step": self.decision_index,
        }
