"""Named reward functions for SparkKD, and the context they read.

A reward is a callable ``reward(context) -> float`` (one number per env step; multiplied by ``reward_scale`` by the
env). ``REWARDS`` maps names to the built-in ones; the ``reward`` config value is one of those names, a user
callable with that signature, or ``"package.module:function"`` naming one (``resolve_reward``). The context
computes what a reward asks for lazily and caches it, so each reward pays only for what it reads.

=====================  ===================================================================  ====================
name                   value                                                                extra cost per step
=====================  ===================================================================  ====================
probe_psnr_gain        PSNR-Y on the probe set after the step minus before (dB); default    none (*)
                       (0 on the steps between probe evaluations, ``probe_every``)
crop_psnr_gain         PSNR-Y of the current crop after the step minus before (dB)          1 crop forward
gap_potential          potential-based shaping, gamma * Phi(s') - Phi(s), with              none (*)
                       Phi = student probe PSNR - teacher probe PSNR (minus the gap), gamma
                       = 0.99 (Ng et al., 1999: leaves optimal policies unchanged)
ssim_gain              SSIM-Y on the probe set after minus before (x100, percentage points)  1 snapshot, 2 probe
                                                                                            forwards
final_psnr             0 on every step but the last; there, final probe PSNR minus the      none (*)
                       probe PSNR at the start of the episode (dB)
counterfactual_uniform probe PSNR after this step minus probe PSNR after a step with the    1 snapshot, 1 extra
                       uniform map from the same state (student and optimizer forked)       QAT step, 1 probe
                                                                                            forward
paired_uniform_gain    probe_psnr_gain minus the same QAT step's probe gain in the uniform-    1 uniform-KD run per
                       KD run of the same seed (same calibration, same crops): the return   new seed (cached
                       is the run's final probe PSNR minus that run's; the seed-to-seed     per env)
                       spread of a run's gain cancels (a control variate that does not
                       depend on the action, so it leaves the policy gradient unbiased)
val_psnr_gain          PSNR-Y over the whole validation images (the test tables' metric on  1 validation pass
                       the validation split) minus its value at the previous evaluation     per evaluation, +1
                       (dB); evaluated every ``val_reward_every`` env steps and on the      at reset
                       last step, 0 on the steps between. The return is the run's gain on
                       the validation split, whatever the frequency
=====================  ===================================================================  ====================

Attributes a reward may declare: ``needs_snapshot = True`` (it reads the pre-step state: the env snapshots student
and optimizer before every step), ``needs_val_start = True`` (the env evaluates the validation split at reset,
so that ``session.val_history`` holds the start value) and ``needs_uniform_reference = True`` (at reset the env runs
the episode's seed with uniform KD first and puts that run's probe PSNR after every QAT step in
``context.uniform_reference``).

(*) The env measures the probe PSNR every ``probe_every`` env steps and on the last step anyway (it is reported in
``info``; carried over between evaluations), so rewards built on it add nothing; that probe forward pass is part of
the step's cost. The return of ``probe_psnr_gain`` is the run's probe gain whatever ``probe_every`` is.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Union

import torch

from spark_env.errors import ConfigError
from spark_env.imports import import_object, is_import_spec

if TYPE_CHECKING:
    from spark_env.qat import QATSession, RunState
    from spark_env.training_set import CropBatch

GAMMA = 0.99


class RewardContext:
    """What a reward can read about one env step. Values are computed on first access and cached.

    Attributes:
        session: the QAT session (student after the step; read-only use expected).
        crops: the step's training crops.
        weights: the (N, 8, 8) weight map that was applied.
        psnr_before: probe PSNR before the step (dB; carried over from the last probe evaluation).
        episode_start_psnr: probe PSNR right after calibration, before any QAT step (dB).
        last: True on the episode's final step.
        step_index: 0-based index of this env step.
        probe_due: True when the probe is evaluated after this step (every ``probe_every`` steps and the last);
            otherwise ``psnr_after`` is ``psnr_before``.
        uniform_reference: for rewards with ``needs_uniform_reference``, the probe PSNR (dB) of the same seed's
            uniform-KD run at the start and after each QAT step (carried between probe evaluations); else None.
    """

    def __init__(self, session: "QATSession", crops: "CropBatch", student_out_before: torch.Tensor,
                 weights: torch.Tensor, psnr_before: float, episode_start_psnr: float, last: bool,
                 step_index: int, undo_state: "RunState | None" = None, probe_due: bool = True,
                 uniform_reference: "Sequence[float] | None" = None) -> None:
        self.session = session
        self.crops = crops
        self.weights = weights
        self.psnr_before = psnr_before
        self.episode_start_psnr = episode_start_psnr
        self.last = last
        self.step_index = step_index
        self.probe_due = probe_due
        self.uniform_reference = uniform_reference
        self._student_out_before = student_out_before
        self._undo_state = undo_state
        self._cache: dict[str, object] = {}

    def _cached(self, key: str, compute: Callable[[], object]):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    @property
    def psnr_after(self) -> float:
        """Probe PSNR after the step (dB) when the probe is due, else ``psnr_before`` (carried over)."""
        return self.probe_psnr_now if self.probe_due else self.psnr_before

    @property
    def probe_psnr_now(self) -> float:
        """Probe PSNR after the step (dB), evaluated whether the probe is due or not."""
        return self._cached("psnr_after", self.session.probe_psnr)

    @property
    def teacher_psnr(self) -> float:
        return self.session.teacher_probe_psnr

    @property
    def crop_psnr_before(self) -> list[float]:
        return self._cached("crop_before", lambda: self.session.crop_psnr(self.crops, self._student_out_before))

    @property
    def crop_psnr_after(self) -> list[float]:
        return self._cached("crop_after", lambda: self.session.crop_psnr(self.crops))

    @property
    def ssim_before(self) -> float:
        """Probe SSIM before the step (needs the pre-step state: computed from the undo snapshot)."""
        return self._cached("ssim_before", lambda: self._with_state_before(self.session.probe_ssim))

    @property
    def ssim_after(self) -> float:
        return self._cached("ssim_after", self.session.probe_ssim)

    @property
    def uniform_psnr_after(self) -> float:
        """Probe PSNR had the step used the uniform map from the same state (student and optimizer forked)."""
        def compute() -> float:
            def uniform_step() -> float:
                self.session.optimize(self.crops, self.session.forward(self.crops), None)
                return self.session.probe_psnr()
            return self._with_state_before(uniform_step)
        return self._cached("uniform_after", compute)

    def _with_state_before(self, fn: Callable[[], float]) -> float:
        if self._undo_state is None:
            raise RuntimeError("this reward needs the pre-step state; the env keeps it for rewards that declare "
                               "needs_snapshot = True")
        after = self.session.snapshot()
        self.session.rollback(self._undo_state)
        try:
            return fn()
        finally:
            self.session.rollback(after)


def probe_psnr_gain(ctx: RewardContext) -> float:
    return ctx.psnr_after - ctx.psnr_before


def crop_psnr_gain(ctx: RewardContext) -> float:
    return float(sum(a - b for a, b in zip(ctx.crop_psnr_after, ctx.crop_psnr_before)) / len(ctx.crop_psnr_after))


def gap_potential(ctx: RewardContext) -> float:
    return GAMMA * (ctx.psnr_after - ctx.teacher_psnr) - (ctx.psnr_before - ctx.teacher_psnr)


def ssim_gain(ctx: RewardContext) -> float:
    return 100.0 * (ctx.ssim_after - ctx.ssim_before)


def final_psnr(ctx: RewardContext) -> float:
    return ctx.psnr_after - ctx.episode_start_psnr if ctx.last else 0.0


def counterfactual_uniform(ctx: RewardContext) -> float:
    return ctx.probe_psnr_now - ctx.uniform_psnr_after


def paired_uniform_gain(ctx: RewardContext) -> float:
    if ctx.uniform_reference is None:
        raise RuntimeError("paired_uniform_gain needs the uniform-KD reference run; a reward that reads it must "
                           "declare needs_uniform_reference = True")
    reference = ctx.uniform_reference[ctx.step_index + 1] - ctx.uniform_reference[ctx.step_index]
    return ctx.psnr_after - ctx.psnr_before - reference


def val_psnr_gain(ctx: RewardContext) -> float:
    every = ctx.session.config.val_reward_every
    if not (ctx.last or (every and (ctx.step_index + 1) % every == 0)):
        return 0.0
    if not ctx.session.val_history:
        raise RuntimeError("val_psnr_gain needs the validation PSNR at reset; a reward that calls it must declare "
                           "needs_val_start = True")
    before = ctx.session.val_history[-1][1]
    return ctx.session.val_psnr() - before


for _needs_snapshot in (ssim_gain, counterfactual_uniform):
    _needs_snapshot.needs_snapshot = True  # type: ignore[attr-defined]
val_psnr_gain.needs_val_start = True  # type: ignore[attr-defined]
paired_uniform_gain.needs_uniform_reference = True  # type: ignore[attr-defined]

REWARDS: dict[str, Callable[[RewardContext], float]] = {
    "probe_psnr_gain": probe_psnr_gain, "crop_psnr_gain": crop_psnr_gain, "gap_potential": gap_potential,
    "ssim_gain": ssim_gain, "final_psnr": final_psnr, "counterfactual_uniform": counterfactual_uniform,
    "val_psnr_gain": val_psnr_gain, "paired_uniform_gain": paired_uniform_gain,
}


RewardSpec = Union[str, Callable[[RewardContext], float]]


def resolve_reward(reward: RewardSpec) -> Callable[[RewardContext], float]:
    """The reward a spec names: a registered name (``REWARDS``), ``"package.module:function"`` (a user's
    callable(context) -> float, importable where the run executes), or a callable passed through. Errors name the
    bad value and what is allowed."""
    if callable(reward):
        return reward
    if is_import_spec(reward):
        function = import_object(reward, "reward")
        if not callable(function):
            raise ConfigError(f"reward '{reward}' names a {type(function).__name__}, not a callable(context)")
        return function
    try:
        return REWARDS[reward]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown reward {reward!r}; available: {', '.join(REWARDS)}, "
                          "'package.module:function' or a callable(context)") from None
