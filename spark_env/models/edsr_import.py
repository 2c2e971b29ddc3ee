"""Import checkpoints of the official EDSR code (EDSR-PyTorch, ``src/model/edsr.py``) as ``edsr_official`` weights.

The official pretrained files (``edsr_baseline_x2-1bc95232.pt``, ``..._x3-abf2a44e.pt``, ``..._x4-6b446fab.pt``) are
plain state dicts with this key layout (``n`` blocks; ``module.`` prefixes of DataParallel checkpoints are
stripped)::

    sub_mean.weight / .bias            MeanShift: identity / -255 * DIV2K mean (checked, not loaded: fixed here)
    head.0.weight / .bias              -> head
    body.{i}.body.0 / .body.2          -> body.blocks.{i}.conv1 / .conv2      (i < n)
    body.{n}.weight / .bias            -> body.conv
    tail.0.0 (and tail.0.2 for x4)     -> tail.0.0 (tail.0.2): the sub-pixel upsampler's convolutions
    tail.1.weight / .bias              -> tail.1
    add_mean.weight / .bias            MeanShift back: identity / +255 * DIV2K mean (checked)

Loading is safe (``torch.load(weights_only=True)``); a missing or unexpected key, a shape that does not fit the
task's scale, or a mean shift other than DIV2K's raises ConfigError naming the key.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch

from spark_env.data.tasks import get_task
from spark_env.errors import ConfigError
from spark_env.models.edsr import DIV2K_RGB_MEAN, RGB_RANGE, EDSROfficial
from spark_env.models.teachers import save_weights

ARCH = "edsr_official"
_BLOCK = re.compile(r"body\.(\d+)\.body\.0\.weight")


def official_key_map(n_blocks: int, scale: int) -> dict[str, str]:
    """Official parameter name -> the ``edsr_official`` module's name (weights and biases)."""
    mapping = {"head.0": "head", f"body.{n_blocks}": "body.conv", "tail.1": "tail.1", "tail.0.0": "tail.0.0"}
    if scale == 4:
        mapping["tail.0.2"] = "tail.0.2"
    for i in range(n_blocks):
        mapping[f"body.{i}.body.0"] = f"body.blocks.{i}.conv1"
        mapping[f"body.{i}.body.2"] = f"body.blocks.{i}.conv2"
    return {f"{old}.{kind}": f"{new}.{kind}" for old, new in mapping.items() for kind in ("weight", "bias")}


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ConfigError(f"EDSR checkpoint '{path}' does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001  (pickle / zip errors of a corrupt or non-torch file)
        raise ConfigError(f"EDSR checkpoint '{path}' cannot be read safely as a torch state dict: {error}") from None
    if isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        payload = payload["state_dict"]
    if not isinstance(payload, dict) or not all(isinstance(v, torch.Tensor) for v in payload.values()):
        raise ConfigError(f"EDSR checkpoint '{path}' is not a state dict of tensors (EDSR-PyTorch's format)")
    return {key.removeprefix("module."): value for key, value in payload.items()}


def _check_mean_shift(state: dict[str, torch.Tensor], path: Path) -> None:
    expected = torch.tensor(DIV2K_RGB_MEAN) * RGB_RANGE
    for name, sign in (("sub_mean", -1.0), ("add_mean", 1.0)):
        for kind in ("weight", "bias"):
            if f"{name}.{kind}" not in state:
                raise ConfigError(f"EDSR checkpoint '{path}' lacks key '{name}.{kind}' (EDSR-PyTorch's MeanShift)")
        weight, bias = state[f"{name}.weight"].reshape(3, 3), state[f"{name}.bias"]
        if not torch.allclose(weight, torch.eye(3), atol=1e-4):
            raise ConfigError(f"EDSR checkpoint '{path}': key '{name}.weight' is not the identity (rgb_std other than "
                              "1 is not supported)")
        if bias.shape != (3,) or not torch.allclose(bias, sign * expected, atol=1e-2):
            raise ConfigError(f"EDSR checkpoint '{path}': key '{name}.bias' = {bias.tolist()} is not the DIV2K "
                              f"mean shift {(sign * expected).tolist()} on [0, 255]")


def convert_official_state_dict(state: dict[str, torch.Tensor], scale: int,
                                source: str = "checkpoint") -> EDSROfficial:
    """An ``edsr_official`` network holding the official weights (sizes read from the state dict)."""
    path = Path(source)
    if "head.0.weight" not in state:
        raise ConfigError(f"EDSR checkpoint '{source}' lacks key 'head.0.weight'; is it an EDSR-PyTorch checkpoint?")
    n_feats = state["head.0.weight"].shape[0]
    n_blocks = sum(1 for key in state if _BLOCK.fullmatch(key))
    _check_mean_shift(state, path)
    model = EDSROfficial(scale, n_feats=n_feats, n_blocks=n_blocks)
    mapping = official_key_map(n_blocks, scale)
    unexpected = sorted(set(state) - set(mapping) - {f"{m}.{k}" for m in ("sub_mean", "add_mean")
                                                     for k in ("weight", "bias")})
    if unexpected:
        raise ConfigError(f"EDSR checkpoint '{source}' has key(s) an EDSR-baseline x{scale} does not: "
                          f"{', '.join(unexpected[:5])}" + (" ..." if len(unexpected) > 5 else ""))
    target = model.state_dict()
    converted = {"rgb_mean": target["rgb_mean"]}
    for old, new in mapping.items():
        if old not in state:
            raise ConfigError(f"EDSR checkpoint '{source}' lacks key '{old}' (needed for x{scale} with "
                              f"{n_blocks} blocks)")
        if state[old].shape != target[new].shape:
            raise ConfigError(f"EDSR checkpoint '{source}': key '{old}' has shape {tuple(state[old].shape)}, but an "
                              f"x{scale} EDSR with {n_feats} features needs {tuple(target[new].shape)} (wrong scale?)")
        converted[new] = state[old].float()
    model.load_state_dict(converted, strict=True)
    return model.eval()


def import_official_edsr(checkpoint: str | Path, task: str, out: str | Path) -> str:
    """Convert an EDSR-PyTorch checkpoint for ``task`` (an SR task; its scale must match the checkpoint's) into a
    project weight file at ``out`` (``teacher_weights`` of an ``edsr_official`` config); returns its SHA-256."""
    scale = get_task(task).scale
    if scale == 1:
        raise ConfigError(f"task '{task}' is not super-resolution; the official EDSR checkpoints are x2 / x3 / x4")
    model = convert_official_state_dict(_read_state_dict(Path(checkpoint)), scale, str(checkpoint))
    return save_weights(model, ARCH, task, out)
