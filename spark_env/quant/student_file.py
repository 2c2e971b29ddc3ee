"""Low-bit student files: a trained fake-quantized network saved with what rebuilds it, loaded safely.

A student file is a ``torch.save``-d dict of plain types and tensors, loaded with ``torch.load(weights_only=True)``:
``{"format_version": 1, "kind": "student", "arch": str, "task": str, "scale": int, "config": dict (architecture
options), "quant": dict (QuantSettings fields), "layer_bits": {layer: [w_bits, a_bits]}, "state_dict": dict}``.
The state dict holds the shadow weights and every learned quantizer parameter (weight steps, activation steps or
clips, signed flags), so a loaded student computes what the saved one did, to the last bit, without calibration.
"""
from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import torch
from torch import nn

from spark_env.errors import ConfigError
from spark_env.models.common import RestorationNet
from spark_env.models.registry import ARCHITECTURES
from spark_env.models.teachers import cpu_state_dict, rebuild_network
from spark_env.quant.model import quantize_model, quantized_layers
from spark_env.quant.student import QuantSettings

FORMAT_VERSION = 1
KIND = "student"


def architecture_name(model: nn.Module) -> str:
    """The registry name of a network's class (``ARCHITECTURES``); a ConfigError for an unregistered class."""
    for name, cls in ARCHITECTURES.items():
        if type(model) is cls:
            return name
    raise ConfigError(f"network class {type(model).__name__} is not a registered architecture; registered: "
                      f"{', '.join(ARCHITECTURES)}")


def student_payload(student: RestorationNet, task: str, settings: QuantSettings) -> dict:
    """The dict a student file holds (see the module docstring) for a fake-quantized ``student`` of ``task``."""
    layers = quantized_layers(student)
    if not layers:
        raise ConfigError("the network has no quantized layer: it is not a student (quantize it with "
                          "spark_env.quant.quantize_model or make_student)")
    return {"format_version": FORMAT_VERSION, "kind": KIND, "arch": architecture_name(student), "task": task,
            "scale": student.scale, "config": dict(student.config), "quant": dataclasses.asdict(settings),
            "layer_bits": {name: list(layer.bits) for name, layer in layers.items()},
            "state_dict": cpu_state_dict(student)}


def save_student(student: RestorationNet, task: str, settings: QuantSettings, path: str | Path) -> Path:
    """Write a student file; returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(student_payload(student, task, settings), path)
    return path


def student_bytes(student: RestorationNet, task: str, settings: QuantSettings) -> bytes:
    """The bytes of a student file (what ``save_student`` writes), e.g. to store it beside a run's results."""
    buffer = io.BytesIO()
    torch.save(student_payload(student, task, settings), buffer)
    return buffer.getvalue()


def load_student(path: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild a student from its file (safe load): (the student in eval mode, the file's metadata without its
    weights). Errors name what is wrong: a missing file, another kind of file, a state that does not fit."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"student file '{path}' does not exist")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("kind") != KIND or payload.get("format_version") != FORMAT_VERSION:
        raise ConfigError(f"'{path}' is not a spark_env student file of format version {FORMAT_VERSION} (a teacher "
                          "weight file loads with spark_env.models.load_weights)")
    settings = QuantSettings(**payload["quant"])
    fp_model = rebuild_network(payload["arch"], payload["scale"], payload["config"])
    student = quantize_model(fp_model, settings.w_bits, settings.a_bits, settings.activation_quantizer,
                             settings.per_channel, "minmax", settings.quantize_head, settings.quantize_tail,
                             bit_widths={name: tuple(bits) for name, bits in payload["layer_bits"].items()})
    try:
        student.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as error:
        raise ConfigError(f"student file '{path}' does not fit architecture '{payload['arch']}' quantized with "
                          f"{settings}: {error}") from None
    return student.eval(), {k: v for k, v in payload.items() if k != "state_dict"}
