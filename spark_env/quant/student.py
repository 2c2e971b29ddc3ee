"""A calibrated low-bit student and its QAT optimizer, built from a full-precision network."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from spark_env.quant.calibration import calibrate
from spark_env.quant.model import quantize_model

QUANTIZER_PARAMETER_SUFFIXES = (".scale", ".step", ".alpha")


@dataclass(frozen=True)
class QuantSettings:
    """How a student is quantized. Bits are integers 2..8; see ``quantize_model`` and ``calibrate``."""

    w_bits: int = 4
    a_bits: int = 4
    activation_quantizer: str = "lsq"
    per_channel: bool = True
    weight_init: str = "mse"
    calibration: str = "mse"
    quantize_head: bool = False
    quantize_tail: bool = False


def make_student(fp_model: nn.Module, settings: QuantSettings, calibration_batches: Iterable[torch.Tensor],
                 seed: int = 0) -> nn.Module:
    """Quantize a copy of ``fp_model`` and calibrate its activation ranges: the PTQ model, or QAT's starting point.

    The student's parameters are trainable (the FP model's ``requires_grad`` flags are not inherited).
    """
    student = quantize_model(fp_model, settings.w_bits, settings.a_bits, settings.activation_quantizer,
                             settings.per_channel, settings.weight_init, settings.quantize_head,
                             settings.quantize_tail)
    for parameter in student.parameters():
        parameter.requires_grad_(True)
    return calibrate(student, calibration_batches, settings.calibration, seed=seed)


def qat_optimizer(student: nn.Module, lr: float, quant_lr: float) -> torch.optim.Optimizer:
    """Adam with two groups: network weights at ``lr`` and quantizer steps / clips at ``quant_lr``."""
    quant, weights = [], []
    for name, parameter in student.named_parameters():
        (quant if name.endswith(QUANTIZER_PARAMETER_SUFFIXES) else weights).append(parameter)
    return torch.optim.Adam([{"params": weights, "lr": lr, "name": "weights"},
                             {"params": quant, "lr": quant_lr, "name": "quantizers"}])
