"""Typed, validated configuration of a SparkKD episode, named presets, and a YAML round trip (safe loader).

``make_config(preset, **overrides)`` is the one way to build a config: an unknown key or a bad value raises
ConfigError naming it and listing what is allowed.

=========  =======================================================================================================
preset     what it is for
=========  =======================================================================================================
tiny       tests: FSRCNN student on 16-pixel crops, 8 steps per episode, a step takes milliseconds
quick      the CPU default: EDSR-style student (32 features, 4 blocks), 32-pixel LR crops, 100 steps per episode
paper      the official EDSR-baseline (``edsr_official``, 64 features, 16 blocks) on 48-pixel crops, for a GPU; needs
           ``teacher_weights`` (imported official weights, ``experiments/import_edsr.py``, or trained on the user's
           data with ``experiments/train_teacher.py --recipe paper``) and usually ``train_folder``; keeps the
           teacher's outputs in float16 (``teacher_cache``: about 26 MB per DIV2K image instead of 78)
=========  =======================================================================================================
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from spark_env.action_spaces import ACTION_SPACES
from spark_env.data.embedded import IMAGE_SETS
from spark_env.data.tasks import get_task
from spark_env.errors import ConfigError
from spark_env.models.registry import ARCHITECTURES
from spark_env.quant.calibration import CALIBRATION_METHODS
from spark_env.quant.quantizers import ACTIVATION_QUANTIZERS

ACTION_MAPPINGS = ("softmax", "linear", "raw")
KD_LOSSES = ("l1", "l2", "charbonnier")
FEATURE_KD = ("none", "at", "fakd")
DEVICES = ("cpu", "cuda", "auto")
PROBE_POOLINGS = ("crop", "image")  # spark_env.probe: how the probe crops' errors make one PSNR
TEACHER_CACHES = ("float32", "float16")  # spark_env.training_set: precision of the cached teacher outputs


@dataclass(frozen=True)
class SparkConfig:
    """Everything that defines one SparkKD episode (one QAT run). Units and ranges are in the field comments."""

    # task and networks
    task: str = "sr_x2"                      # a name of spark_env.data.TASKS
    arch: str = "edsr"                       # student architecture (spark_env.models.ARCHITECTURES)
    teacher_arch: str | None = None          # teacher architecture; None = same as the student
    arch_options: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"n_feats": 64}; checked by build_model
    teacher_weights: str | None = None       # teacher weight file; None = the shipped teacher for (teacher_arch, task)
    student_weights: str | None = None       # FP initialisation of the student; None = the teacher when archs match
    # quantization (spark_env.quant)
    w_bits: int = 4                          # 2..8
    a_bits: int = 4                          # 2..8
    quantizer: str = "lsq"                   # activation quantizer: lsq | pams
    calibration: str = "mse"                 # minmax | percentile | mse
    per_channel: bool = True
    quantize_head: bool = False
    quantize_tail: bool = False
    # QAT
    episode_steps: int = 100                 # QAT steps per episode (one QAT run; env steps when decision_interval=1)
    inner_steps: int = 1                     # optimizer steps per QAT step (one crop batch, one map)
    crop_size: int = 32                      # LR crop side in pixels, a multiple of 8 (the grid)
    lr: float = 1e-4                         # Adam learning rate of the student's weights
    quant_lr: float = 1e-3                   # Adam learning rate of quantizer steps / clips
    # knowledge distillation
    lambda_kd: float = 1.0                   # weight of the spatial KD term, >= 0
    kd_loss: str = "l1"                      # per-pixel KD loss: l1 | l2 | charbonnier
    action_mapping: str = "softmax"          # action -> weight map: softmax | linear | raw (see spark_env.kd)
    action_temperature: float = 2.0          # softmax sharpness: weights span exp(+-temperature) around the mean
    action_space: str = "map"                # what an action is: map (8x8) | channel_weights (4 weights of the
                                             # z-scored difficulty channels) (spark_env.action_spaces)
    decision_interval: int = 1               # QAT steps per env step (an action is held for this many steps);
                                             # 0 = the whole run: one decision per episode
    episodes_per_seed: int = 1               # common random numbers: this many consecutive episodes start from
                                             # the same QAT seed (calibration, training crops); 1 = a fresh seed each
    feature_kd: str = "none"                 # extra feature KD on body features: none | at | fakd (spark_env.kd)
    lambda_feat: float = 0.0                 # weight of the feature KD term, >= 0 (> 0 when feature_kd is set)
    # reward
    reward: str | Callable = "probe_psnr_gain"  # a REWARDS name, "pkg.module:function" or a callable(context)
    reward_scale: float = 1.0                # reward multiplier
    val_reward_every: int = 0                # val_psnr_gain: env steps between whole-validation-split evaluations;
                                             # 0 = only at the end of the episode
    divergence_penalty: float = -10.0        # reward of a step whose loss is not finite (the episode then ends)
    lookahead_info: bool = False             # put the per-cell lookahead scores (spark_env.lookahead) of the
                                             # observed crops in info["lookahead_scores"] (costly: docs/lookahead.md)
    lookahead_crops: int = 4                 # the lookahead's own probe: this many fixed validation crops of
    lookahead_crop_size: int = 32            # this LR side, mean of their PSNRs (SparkKD-v1's probe; cheap to
                                             # differentiate; the reward's probe is larger)
    # probe set (validation crops used by rewards)
    # (the defaults are SparkKD-v2's; spark_env.protocols pins the earlier env ids' values)
    probe_crops: int = 32                    # number of fixed validation crops
    probe_crop_size: int = 48                # their LR side in pixels (images smaller than that are skipped)
    probe_pooling: str = "image"             # image: squared errors pooled per validation image, then the mean of
                                             # the images' PSNRs; crop: the mean of the crops' PSNRs
    probe_every: int = 16                    # env steps between probe evaluations (and on the last step);
                                             # between them the probe PSNR is carried over (probe_psnr_gain: 0)
    # data
    image_set: str = "v1"                    # embedded images and split (spark_env.data.embedded): v1 or v0
    train_folder: str | None = None          # benchmark folder for training crops; None = embedded train split
    val_folder: str | None = None            # benchmark folder for the probe set; None = embedded val split
    # runtime
    device: str = "cpu"                      # cpu | cuda | auto (cuda when available)
    torch_threads: int | None = 1            # torch CPU threads per env; None leaves torch's setting alone
    channels_last: bool = False              # teacher and student in channels-last memory layout: faster
                                             # convolutions on CPUs (docs/performance.md), figures differ in last bits
    teacher_cache: str = "float32"           # precision of the teacher outputs kept per training image: float32 |
                                             # float16 (half the memory at paper scale; moves the KD target by up to
                                             # 2^-11 relative, so figures differ from float32's)

    def __post_init__(self) -> None:
        _check_types(self)
        checks = [
            (self.crop_size % 8 == 0 and self.crop_size >= 8, "crop_size", "a positive multiple of 8"),
            (self.episode_steps >= 1, "episode_steps", ">= 1"),
            (self.inner_steps >= 1, "inner_steps", ">= 1"),
            (self.decision_interval >= 0, "decision_interval", ">= 0 (QAT steps per env step; 0 = the whole run)"),
            (self.episodes_per_seed >= 1, "episodes_per_seed", ">= 1 (episodes that share one QAT seed)"),
            (self.lr > 0 and math.isfinite(self.lr), "lr", "> 0"),
            (self.quant_lr >= 0 and math.isfinite(self.quant_lr), "quant_lr", ">= 0"),
            (self.lambda_kd >= 0 and math.isfinite(self.lambda_kd), "lambda_kd", ">= 0"),
            (self.action_temperature > 0, "action_temperature", "> 0"),
            (self.lambda_feat >= 0 and math.isfinite(self.lambda_feat), "lambda_feat", ">= 0"),
            (self.feature_kd not in FEATURE_KD[1:] or self.lambda_feat > 0, "lambda_feat",
             f"> 0 when feature_kd={self.feature_kd!r}"),
            (math.isfinite(self.reward_scale), "reward_scale", "a finite number"),
            (math.isfinite(self.divergence_penalty), "divergence_penalty", "a finite number"),
            (self.probe_crops >= 1, "probe_crops", ">= 1"),
            (self.val_reward_every >= 0, "val_reward_every", ">= 0 (0 = only at the end of the episode)"),
            (self.probe_crop_size >= 8, "probe_crop_size", ">= 8"),
            (self.probe_every >= 1, "probe_every", ">= 1 (1 = every env step)"),
            (self.lookahead_crops >= 1, "lookahead_crops", ">= 1"),
            (self.lookahead_crop_size >= 8, "lookahead_crop_size", ">= 8"),
            (self.torch_threads is None or self.torch_threads >= 1, "torch_threads", ">= 1 or None"),
            (2 <= self.w_bits <= 8, "w_bits", "integers 2..8"),
            (2 <= self.a_bits <= 8, "a_bits", "integers 2..8"),
        ]
        for ok, key, allowed in checks:
            if not ok:
                raise ConfigError(f"{key}={getattr(self, key)!r} is invalid; allowed: {allowed}")
        choices = {"action_mapping": ACTION_MAPPINGS, "action_space": tuple(ACTION_SPACES), "kd_loss": KD_LOSSES,
                   "device": DEVICES, "feature_kd": FEATURE_KD,
                   "arch": tuple(ARCHITECTURES), "quantizer": tuple(ACTIVATION_QUANTIZERS),
                   "calibration": CALIBRATION_METHODS, "image_set": IMAGE_SETS,
                   "probe_pooling": PROBE_POOLINGS, "teacher_cache": TEACHER_CACHES}
        if self.teacher_arch is not None:
            choices["teacher_arch"] = tuple(ARCHITECTURES)
        get_task(self.task)
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"{key}={getattr(self, key)!r} is invalid; allowed: {', '.join(allowed)}")
        object.__setattr__(self, "arch_options", dict(self.arch_options))

    @property
    def steps_per_decision(self) -> int:
        """QAT steps an action is held for: ``decision_interval``, or ``episode_steps`` when it is 0."""
        return self.decision_interval or self.episode_steps

    @property
    def episode_env_steps(self) -> int:
        """Env steps (decisions) per episode: ``ceil(episode_steps / steps_per_decision)``."""
        return -(-self.episode_steps // self.steps_per_decision)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (dict(v) if isinstance(v := getattr(self, f.name), Mapping) else v)
                for f in dataclasses.fields(self)}

    def to_yaml(self, path: str | Path | None = None) -> str:
        """YAML text of the config (written to ``path`` when given). A callable reward cannot be written."""
        if callable(self.reward):
            raise ConfigError("a config with a callable reward cannot be written to YAML; name it "
                              "'package.module:function' instead")
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @property
    def teacher_architecture(self) -> str:
        return self.teacher_arch or self.arch


PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"arch": "fsrcnn", "crop_size": 16, "episode_steps": 8, "probe_crops": 2, "probe_crop_size": 16,
             "probe_every": 1, "lookahead_crops": 2, "lookahead_crop_size": 16},
    "quick": {},
    "paper": {"arch": "edsr_official", "arch_options": {"n_feats": 64, "n_blocks": 16}, "crop_size": 48, "episode_steps": 1000,
              "probe_crops": 16, "probe_crop_size": 96, "lookahead_crops": 16, "lookahead_crop_size": 96,
              "device": "auto", "torch_threads": None, "teacher_cache": "float16"},
}


def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(SparkConfig)


def _matches(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is not None:  # Mapping[...] / Callable[...]
        return isinstance(value, Mapping) if origin is Mapping or origin is dict else callable(value)
    if annotation is Callable:
        return callable(value)
    return isinstance(value, annotation)


def _check_types(config: SparkConfig) -> None:
    for name, annotation in _field_types().items():
        value = getattr(config, name)
        if not _matches(value, annotation):
            raise ConfigError(f"{name}={value!r} has the wrong type; expected {annotation}")
        if annotation is float or (isinstance(value, int) and not isinstance(value, bool) and float in
                                    typing.get_args(annotation)):
            object.__setattr__(config, name, float(value))


def make_config(preset: str = "quick", **overrides: Any) -> SparkConfig:
    """A preset with overrides applied. Unknown presets or keys raise ConfigError listing what exists."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset '{preset}'; available: {', '.join(PRESETS)}")
    allowed = [f.name for f in dataclasses.fields(SparkConfig)]
    unknown = [key for key in overrides if key not in allowed]
    if unknown:
        raise ConfigError(f"unknown config key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}")
    return SparkConfig(**{**PRESETS[preset], **overrides})


def load_config(path: str | Path) -> SparkConfig:
    """Read a YAML config written by ``to_yaml`` (or by hand); an optional ``preset`` key picks the base."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as error:  # the safe loader refuses python/object tags: a ConstructorError
        raise ConfigError(f"config file '{path}' is not valid safe YAML: {error}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping of keys to values, got {type(data).__name__}")
    preset = data.pop("preset", "quick")
    return make_config(preset, **data)
