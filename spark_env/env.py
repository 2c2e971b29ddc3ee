"""SparkKD-v2 (and v1, v0): spatially adaptive knowledge distillation for low-bit QAT, as a Gymnasium environment."""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from spark_env import protocols
from spark_env.action_spaces import get_action_space
from spark_env.config import SparkConfig, make_config
from spark_env.difficulty import GRID
from spark_env.errors import ConfigError
from spark_env.episode import Episode, EpisodeSeeds
from spark_env.render import render_panel


def observation_space(shape_prefix: tuple[int, ...] = ()) -> spaces.Box:
    return spaces.Box(0.0, 1.0, (*shape_prefix, 4, GRID, GRID), np.float32)


def action_space(config: SparkConfig, shape_prefix: tuple[int, ...] = ()) -> spaces.Box:
    """The Box of the config's ``action_space`` (spark_env.action_spaces), ``shape_prefix`` actions of it."""
    return get_action_space(config.action_space).box(shape_prefix)


def build_config(preset: str, config: SparkConfig | None, overrides: dict[str, Any],
                 protocol: str | None = None) -> SparkConfig:
    """The env's config (a given SparkConfig, or a preset with overrides under the env id's ``protocol``, see
    spark_env.protocols); applies its torch thread count. A config or override whose image set is not the
    protocol's is an error."""
    if config is not None and overrides:
        raise ValueError("pass either a SparkConfig or preset overrides, not both")
    if config is None:
        config = (protocols.protocol_config(protocol, preset, overrides) if protocol
                  else make_config(preset, **overrides))
    elif protocol is not None and config.image_set != protocols.protocol(protocol).image_set:
        raise ConfigError(f"image_set={config.image_set!r} contradicts SparkKD-{protocol}, whose protocol is image "
                          f"set {protocols.protocol(protocol).image_set!r}; use "
                          f"{protocols.latest_env_id(config.image_set)}")
    if config.torch_threads is not None:
        torch.set_num_threads(config.torch_threads)
    return config


class SparkKDEnv(gym.Env):
    """
    ## Description
    One episode is one quantization-aware-training (QAT) run of a low-bit image-restoration student distilled
    from a frozen full-precision teacher (the SPARK method, arXiv 2606.15243). At every step the agent sees where
    the current training crop is hard and chooses an 8x8 map that weights the per-pixel distillation loss::

        L = L1(S(x), y) + lambda_kd * mean( upsample(W(a)) * l_kd(S(x), T(x)) )

    then the student takes ``inner_steps`` optimizer steps under that map.

    ## Action Space
    Chosen by ``action_space`` (spark_env.action_spaces). ``map`` (default): ``Box(-1, 1, (8, 8), float32)``, the
    action map itself. ``channel_weights``: ``Box(-1, 1, (4,), float32)``, weights of the four z-scored difficulty
    channels of the observation, mapped to the action map ``clip(sum_c w_c z_c, -1, 1)`` (the heuristics' family:
    0 = uniform KD, 0.25 each = the combined heuristic). The action map goes through ``action_mapping``
    (spark_env.kd) to the weight map. The default (softmax) keeps the mean weight at 1, so the KD budget is fixed
    and only its spatial allocation is learned; the zero action is exactly uniform output KD in both spaces. Values
    outside [-1, 1] are clipped. A wrong shape, a non-float dtype or a NaN / infinite value raises ValueError
    naming the expected shape and range. ``decision_interval`` (default 1; 0 = the whole run) holds each action for
    that many QAT steps, each on fresh crops; the env step's reward is the sum of theirs (with a divergence, the
    held steps' rewards so far plus ``divergence_penalty``). ``episodes_per_seed`` (default 1) lets that many
    consecutive episodes start from one QAT seed (common random numbers: an agent comparing actions within such a
    group sees no seed-to-seed spread); a reset with an explicit seed or ``options={"new_seed_group": True}``
    starts a new group.

    ## Observation Space
    ``Box(0, 1, (4, 8, 8), float32)``: per 8x8 cell of the crop, [0] Laplacian variance and [1] pixel variance of
    the degraded input, [2] student reconstruction error |S(x) - y|, [3] teacher-student gap |S(x) - T(x)|, each
    ``min(log1p(raw) / log1p(R_c), 1)`` of the raw value in 8-bit luma units (spark_env.difficulty). Raw values
    are in ``info["raw_grid"]``. Channels 2 and 3 come from the student forward pass that the step trains on.

    ## Rewards
    ``reward_scale * reward(context)``; default ``probe_psnr_gain``, the PSNR-Y gain (dB) of the student on a
    fixed probe set of validation crops (spark_env.probe), measured every ``probe_every`` env steps and on the
    last (0 between; SparkKD-v2's quick preset: every 16 of 64 steps). The return is the run's probe gain. Other
    named rewards and user callables: spark_env.rewards.

    ## Starting State
    ``reset(seed)`` quantizes the student from full-precision weights, calibrates its quantizers on seeded
    training crops, creates a fresh optimizer and samples the first crop: the PTQ student is the start state.

    ## Episode End
    After ``episode_steps`` QAT steps (``config.episode_env_steps`` env steps) the QAT run is over:
    ``terminated=True``. This is termination, not truncation: the fixed budget is part of the task (the run's final
    student is its outcome), so no value should be bootstrapped past it. A non-finite loss or student output ends
    the episode early with ``terminated=True``, reward ``divergence_penalty`` and ``info["error"]``; it never
    raises. ``step()`` after the end raises RuntimeError. ``truncated`` is always False (add a TimeLimit wrapper for
    shorter horizons).

    ## Info
    ``probe_psnr`` (at the last probe evaluation), ``teacher_psnr``, ``gap_to_teacher``, ``start_psnr`` (dB);
    ``rec_loss``, ``kd_loss``, ``feat_loss`` (the feature KD term, 0 unless ``feature_kd`` is set), ``loss``;
    ``weight_map`` (8, 8); ``raw_grid`` (4, 8, 8); ``qat_step`` (optimizer steps done), ``env_step`` (decisions taken).
    With ``lookahead_info=True`` also ``lookahead_scores`` (8, 8): per cell of the observed crop, the first-order
    probe-PSNR change (dB per unit weight) of the coming step if that cell's KD weight rose from uniform
    (spark_env.lookahead; a dense per-cell credit signal that makes a step several times as long, off by default;
    its cost: docs/lookahead.md). Nothing wall-clock: per-phase timings are in ``env.unwrapped.timings``.

    ## Arguments
    ``gymnasium.make("SparkKD-v2", preset="quick", **overrides)`` with overrides naming SparkConfig fields
    (spark_env.config), or ``config=SparkConfig(...)``; ``render_mode="rgb_array"``. The env id's protocol
    (spark_env.protocols) fixes the image set and sets the probe under the preset and the overrides.

    ## Version History
    * v2: the default. Image set v1; the reward's probe is 32 validation crops of 48 LR pixels whose squared
      errors are pooled per validation image (v1's probe ranked reference policies against the test photographs:
      docs/results.md, probe design).
    * v1: image set v1 (spark_env.data.embedded): 13 training, 4 validation (the reward's probe) and 24 test
      photographs, disjoint by photograph; probe: 4 crops of 32 LR pixels, the mean of the crops' PSNRs.
    * v0: image set v0: training and validation regions of the same six photographs, three test photographs
      (astronaut, coffee, gravel). Everything else as v1.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, preset: str = "quick", config: SparkConfig | None = None, render_mode: str | None = None,
                 protocol: str | None = None, **overrides: Any) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r} is not supported; allowed: rgb_array or None")
        self.config = build_config(preset, config, overrides, protocol)
        self.render_mode = render_mode
        self.observation_space = observation_space()
        self.action_space = action_space(self.config)
        self.episode = Episode(self.config, num_crops=1)
        self.seeds = EpisodeSeeds(self.config.episodes_per_seed)
        self._last_obs: np.ndarray | None = None

    @property
    def timings(self) -> dict[str, float]:
        """Accumulated wall-clock seconds per phase of ``step``/``reset`` ('qat', 'reward', 'observe', 'lookahead')."""
        return self.episode.timings

    @property
    def session(self):
        """The underlying QATSession (student, optimizer, teacher, data)."""
        return self.episode.session

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        obs, info = self.episode.reset(self.seeds.for_reset(self.np_random, seed, options))
        self._last_obs = obs[0]
        return self._last_obs, info

    def step(self, action):
        obs, reward, over, info = self.episode.step(action)
        self._last_obs = obs[0]
        return self._last_obs, float(reward), over, False, info

    def render(self) -> np.ndarray | None:
        if self.render_mode is None or self.episode.crops is None:
            return None
        crops = self.episode.crops
        return render_panel(self._last_obs, self.episode.last_weights[0].numpy(), self.episode.student_pass.output[0],
                            crops.teacher[0], crops.hr[0])
