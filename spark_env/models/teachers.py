"""Full-precision teacher weights: saving, safe loading, and the teachers shipped with the package.

A weight file is a ``torch.save``-d dict of plain types and tensors, loaded with ``torch.load(weights_only=True)``:
``{"format_version": 1, "arch": str, "task": str, "scale": int, "config": dict, "state_dict": dict}``. Shipped
files are listed in ``weights/manifest.json`` with their SHA-256; loading a shipped teacher checks the hash, then
the architecture and options recorded in the file, then loads the state dict strictly, so a file never silently
mismatches its network.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import torch

from spark_env.data.tasks import get_task
from spark_env.errors import ConfigError
from spark_env.models.common import RestorationNet
from spark_env.models.registry import build_model

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MANIFEST = WEIGHTS_DIR / "manifest.json"
FORMAT_VERSION = 1


def teacher_filename(arch: str, task: str) -> str:
    return f"{arch}_{task}.pt"


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_file_sha256(path: str | Path, expected: str, what: str, remedy: str) -> None:
    """Raise ConfigError unless the file at ``path`` has the SHA-256 ``expected`` (64 hex digits); ``what`` names
    the file's kind in the message, ``remedy`` says what to do about a mismatch."""
    if not isinstance(expected, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", expected):
        raise ConfigError(f"expected SHA-256 {expected!r} of {what} '{path}' is invalid; allowed: 64 hex digits")
    found = file_sha256(path)
    if found != expected.lower():
        raise ConfigError(f"{what} '{path}' does not match the SHA-256 recorded for it (found {found}, recorded "
                          f"{expected.lower()}): it was modified or replaced; {remedy}")


def cpu_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A network's state dict as detached CPU copies (what a weight or student file stores)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def rebuild_network(arch: str, scale: int, config: dict) -> RestorationNet:
    """A network of a weight file's architecture and options, with random weights that its state dict overwrites;
    the caller's global torch generator is left as it was."""
    with torch.random.fork_rng(devices=[]):
        return build_model(arch, scale, **config)


def save_weights(model: RestorationNet, arch: str, task: str, path: str | Path) -> str:
    """Save a network with the metadata needed to rebuild it; returns the file's SHA-256."""
    payload = {"format_version": FORMAT_VERSION, "arch": arch, "task": task, "scale": model.scale,
               "config": dict(model.config),
               "state_dict": cpu_state_dict(model)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    return file_sha256(path)


def load_weights(path: str | Path, expected_sha256: str | None = None) -> tuple[RestorationNet, dict]:
    """Rebuild a network from a weight file (safe load). Returns (model in eval mode, metadata without weights)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"weight file '{path}' does not exist")
    if expected_sha256 is not None:
        check_file_sha256(path, expected_sha256, "weight file", "retrain it with experiments/train_teacher.py")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION:
        raise ConfigError(f"weight file '{path}' is not a spark_env weight file of format version {FORMAT_VERSION}")
    model = rebuild_network(payload["arch"], payload["scale"], payload["config"])
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as error:
        raise ConfigError(f"weight file '{path}' does not fit architecture '{payload['arch']}' with options "
                          f"{payload['config']}: {error}") from None
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    return model.eval(), meta


def read_manifest() -> dict[str, dict]:
    if not MANIFEST.is_file():
        return {}
    return json.loads(MANIFEST.read_text())


def shipped_teachers() -> list[tuple[str, str]]:
    """(arch, task) pairs with shipped weights."""
    return sorted((entry["arch"], entry["task"]) for entry in read_manifest().values())


def load_teacher(arch: str, task: str, path: str | Path | None = None) -> RestorationNet:
    """A frozen full-precision teacher: from ``path`` if given, else the shipped weights for (arch, task).

    The returned model is in eval mode with ``requires_grad=False`` on every parameter.
    """
    get_task(task)
    if path is None:
        filename = teacher_filename(arch, task)
        entry = read_manifest().get(filename)
        if entry is None:
            shipped = ", ".join(f"{a}/{t}" for a, t in shipped_teachers()) or "none"
            raise ConfigError(f"no shipped teacher for architecture '{arch}' and task '{task}'; shipped: "
                              f"{shipped}. Train one with experiments/train_teacher.py (edsr_official: or import the "
                              "official weights with experiments/import_edsr.py) and pass its path")
        model, meta = load_weights(WEIGHTS_DIR / filename, entry["sha256"])
    else:
        model, meta = load_weights(path)
    if meta["arch"] != arch or meta["task"] != task:
        raise ConfigError(f"weight file holds a teacher for {meta['arch']}/{meta['task']}, not {arch}/{task}")
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model
