"""Calibration of activation ranges from a few batches: min-max, percentile, or an MSE search."""
from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from spark_env.errors import ConfigError
from spark_env.quant.model import quantized_layers
from spark_env.quant.quantizers import ActivationQuantizer

CALIBRATION_METHODS = ("minmax", "percentile", "mse")
SAMPLE_CAP = 1 << 18


class RangeObserver:
    """Running min / max of the values a quantizer sees, and a bounded random sample of them."""

    def __init__(self, generator: torch.Generator) -> None:
        self.min = float("inf")
        self.max = float("-inf")
        self.samples: list[torch.Tensor] = []
        self.generator = generator

    def update(self, x: torch.Tensor) -> None:
        flat = x.detach().flatten().float().cpu()
        self.min = min(self.min, float(flat.min()))
        self.max = max(self.max, float(flat.max()))
        if flat.numel() > SAMPLE_CAP // 4:
            flat = flat[torch.randint(flat.numel(), (SAMPLE_CAP // 4,), generator=self.generator)]
        self.samples.append(flat)

    def sample(self) -> torch.Tensor:
        values = torch.cat(self.samples)
        return values[-SAMPLE_CAP:]


def choose_range(quantizer: ActivationQuantizer, observer: RangeObserver, method: str,
                 percentile: float = 99.99) -> tuple[float, bool]:
    """(max_value, signed) for one quantizer from what its observer saw."""
    signed = observer.min < 0
    magnitudes = observer.sample().abs() if signed else observer.sample().clamp_min(0)
    max_value = max(abs(observer.min), abs(observer.max)) if signed else observer.max
    if method == "percentile":
        return float(torch.quantile(magnitudes, percentile / 100.0)), signed
    if method == "mse":  # the candidate ranges are tried where the quantizer lives (its step on CUDA for a GPU run)
        values = observer.sample().to(next(quantizer.parameters()).device)
        best, best_err = max_value, float("inf")
        with torch.no_grad():
            for ratio in torch.linspace(0.05, 1.0, 40).tolist():
                quantizer.set_range(max_value * ratio, signed)
                err = float(((quantizer.quantize(values.view(1, -1)) - values) ** 2).mean())
                if err < best_err:
                    best, best_err = max_value * ratio, err
        return best, signed
    return max_value, signed


@torch.no_grad()
def calibrate(student: nn.Module, batches: Iterable[torch.Tensor], method: str = "mse",
              percentile: float = 99.99, seed: int = 0) -> nn.Module:
    """Set every activation quantizer's range from the full-precision activations on ``batches``.

    Args:
        student: a model returned by ``quantize_model``.
        batches: input tensors (N, 3, H, W), a few crops are enough.
        method: ``"minmax"`` (largest magnitude), ``"percentile"`` (that percentile of magnitudes) or ``"mse"``
            (clip that minimises the squared quantization error of the observed values).
    Returns the student, in the training mode it had, with quantizers enabled.
    """
    if method not in CALIBRATION_METHODS:
        raise ConfigError(f"unknown calibration method '{method}'; allowed: {', '.join(CALIBRATION_METHODS)}")
    if not 0 < percentile <= 100:
        raise ConfigError(f"percentile={percentile} must be in (0, 100]")
    quantizers = [layer.input_quantizer for layer in quantized_layers(student).values()]
    if not quantizers:
        raise ConfigError("calibrate() needs a model from quantize_model(): it has no quantized layers")
    generator = torch.Generator().manual_seed(seed)
    for quantizer in quantizers:
        quantizer.enabled = False
        quantizer.observer = RangeObserver(generator)
    was_training = student.training
    student.eval()
    seen = 0
    try:
        for batch in batches:
            student(batch)
            seen += 1
    finally:
        for quantizer in quantizers:
            quantizer.enabled = True
    if seen == 0:
        raise ConfigError("calibrate() got no batches")
    for quantizer in quantizers:
        quantizer.set_range(*choose_range(quantizer, quantizer.observer, method, percentile))
        quantizer.observer = None
    return student.train(was_training)
