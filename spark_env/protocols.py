"""The env ids' protocols: what each ``SparkKD-vN`` fixes and sets by default.

A protocol fixes the embedded image set (asking an env id for another is an error) and sets some SparkConfig
values by default: under the preset (a preset that sets a value wins, so ``tiny`` and ``paper`` keep their own
probe) and under the user's overrides. Figures are comparable only within one env id; a change to the default
images or reward is a new version. The newest version is the default (``ENV_ID``).

| env id | image set | probe (quick preset) | why it changed |
|---|---|---|---|
| ``SparkKD-v0`` | v0: 3 test photographs | 4 crops of 32 LR px, mean of the crops' PSNRs, every step | first protocol |
| ``SparkKD-v1`` | v1: 24 test photographs | as v0 | a yardstick of varied photographs |
| ``SparkKD-v2`` | v1 | 32 crops of 48 LR px, errors pooled per validation image, every 16 env steps and the last | v1's probe ranked reference policies against the test photographs (docs/results.md, probe design) |

The SparkConfig defaults are the newest protocol's values.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spark_env.config import PRESETS, SparkConfig, make_config
from spark_env.errors import ConfigError


@dataclass(frozen=True)
class Protocol:
    """``image_set``: the embedded images the env id fixes; ``defaults``: SparkConfig values it sets under the
    preset and the overrides."""

    image_set: str
    defaults: Mapping[str, Any]


_CROP_PROBE = {"probe_crops": 4, "probe_crop_size": 32, "probe_pooling": "crop", "probe_every": 1}
PROTOCOLS: dict[str, Protocol] = {
    "v0": Protocol("v0", _CROP_PROBE),
    "v1": Protocol("v1", _CROP_PROBE),
    "v2": Protocol("v1", {"probe_crops": 32, "probe_crop_size": 48, "probe_pooling": "image", "probe_every": 16}),
}
LATEST = "v2"
ENV_ID = f"SparkKD-{LATEST}"


def env_id(version: str) -> str:
    return f"SparkKD-{version}"


def protocol(version: str) -> Protocol:
    """The protocol of a version (``"v2"``); an unknown one raises ConfigError listing the versions."""
    if version not in PROTOCOLS:
        raise ConfigError(f"unknown SparkKD protocol {version!r}; allowed: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[version]


def latest_env_id(image_set: str) -> str:
    """The newest env id whose protocol uses ``image_set`` (``"v1"`` -> ``SparkKD-v2``)."""
    versions = [version for version, p in PROTOCOLS.items() if p.image_set == image_set]
    if not versions:
        raise ConfigError(f"no SparkKD protocol uses image set {image_set!r}; allowed: "
                          f"{', '.join(sorted({p.image_set for p in PROTOCOLS.values()}))}")
    return env_id(versions[-1])


def protocol_config(version: str, preset: str, overrides: dict[str, Any]) -> SparkConfig:
    """A preset with overrides under a protocol: the protocol's defaults apply where neither the preset nor the
    overrides set the value; an ``image_set`` other than the protocol's raises ConfigError."""
    fixed = protocol(version)
    defaults = {key: value for key, value in fixed.defaults.items() if key not in PRESETS.get(preset, {})}
    config = make_config(preset, **{**defaults, "image_set": fixed.image_set, **overrides})
    if config.image_set != fixed.image_set:
        raise ConfigError(f"image_set={config.image_set!r} contradicts {env_id(version)}, whose protocol is image "
                          f"set {fixed.image_set!r}; use {latest_env_id(config.image_set)} or drop the image_set "
                          "setting")
    return config
