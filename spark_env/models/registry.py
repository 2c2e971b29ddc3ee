"""Restoration architectures by name, with validated constructor arguments."""
from __future__ import annotations

import inspect

from spark_env.errors import ConfigError
from spark_env.models.common import SCALES, RestorationNet
from spark_env.models.edsr import EDSR, EDSROfficial
from spark_env.models.fsrcnn import FSRCNN
from spark_env.models.imdn import IMDN
from spark_env.models.srresnet import SRResNet

ARCHITECTURES: dict[str, type[RestorationNet]] = {"edsr": EDSR, "edsr_official": EDSROfficial, "srresnet": SRResNet,
                                                  "fsrcnn": FSRCNN, "imdn": IMDN}


def architecture_options(name: str) -> dict[str, int | float]:
    """The constructor options of an architecture and their defaults (everything but ``scale``)."""
    cls = _lookup(name)
    params = inspect.signature(cls.__init__).parameters
    return {key: p.default for key, p in params.items() if key not in ("self", "scale")}


def _lookup(name: str) -> type[RestorationNet]:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ConfigError(f"unknown architecture '{name}'; available: {', '.join(ARCHITECTURES)}") from None


def build_model(name: str, scale: int, **options: int | float) -> RestorationNet:
    """Build a full-precision network with random weights.

    Args:
        name: one of ``ARCHITECTURES`` (edsr, edsr_official, srresnet, fsrcnn, imdn).
        scale: 1 (denoising, JPEG) or the SR factor 2, 3, 4.
        options: architecture options (see ``architecture_options(name)``), e.g. ``n_feats=32, n_blocks=4``.
    Raises:
        ConfigError: unknown name, unsupported scale, unknown option or a non-positive size.
    """
    cls = _lookup(name)
    if scale not in SCALES:
        raise ConfigError(f"scale {scale!r} is not supported by '{name}'; allowed: {', '.join(map(str, SCALES))}")
    allowed = architecture_options(name)
    for key, value in options.items():
        if key not in allowed:
            raise ConfigError(f"'{name}' has no option '{key}'; allowed: "
                              + ", ".join(f"{k} (default {v})" for k, v in allowed.items()))
        expected = type(allowed[key])
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or \
                (expected is int and int(value) != value):
            kind = "a positive integer" if expected is int else "a positive number"
            raise ConfigError(f"'{name}' option {key}={value!r} is invalid; it must be {kind}")
        options[key] = expected(value)
    return cls(scale, **options)
