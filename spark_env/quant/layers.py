"""A convolution whose input and weight are fake-quantized; the wrapped full-precision convolution keeps the
shadow weights that quantization-aware training updates."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spark_env.quant.quantizers import WeightQuantizer, make_activation_quantizer


class QuantConv2d(nn.Module):
    """Wraps an ``nn.Conv2d`` or ``nn.ConvTranspose2d``: ``conv(Qa(x), Qw(W)) + b`` (the bias stays in full precision).

    Args:
        conv: the full-precision layer; its weight and bias are reused (not copied).
        w_bits, a_bits: bit widths (2..8) of the weight and of the layer's input.
        activation_quantizer: ``"lsq"`` or ``"pams"``.
        per_channel: per-output-channel weight steps (else one per tensor).
        weight_init: ``"mse"`` or ``"minmax"`` initialisation of the weight step.
    """

    def __init__(self, conv: nn.Conv2d | nn.ConvTranspose2d, w_bits: int, a_bits: int,
                 activation_quantizer: str = "lsq", per_channel: bool = True, weight_init: str = "mse") -> None:
        super().__init__()
        self.conv = conv
        self.transposed = isinstance(conv, nn.ConvTranspose2d)
        self.weight_quantizer = WeightQuantizer(conv.weight, w_bits, axis=1 if self.transposed else 0,
                                                per_channel=per_channel, init=weight_init)
        self.input_quantizer = make_activation_quantizer(activation_quantizer, a_bits)
        self.to(conv.weight.device)  # the quantizers' steps live where the layer does (a CUDA model stays on CUDA)

    @property
    def bits(self) -> tuple[int, int]:
        """(weight bits, activation bits)."""
        return self.weight_quantizer.bits, self.input_quantizer.bits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_quantizer(x)
        weight = self.weight_quantizer(self.conv.weight)
        if self.transposed:
            c = self.conv
            return F.conv_transpose2d(x, weight, c.bias, c.stride, c.padding, c.output_padding, c.groups, c.dilation)
        return self.conv._conv_forward(x, weight, self.conv.bias)

    def extra_repr(self) -> str:
        return f"w_bits={self.bits[0]}, a_bits={self.bits[1]}, quantizer={type(self.input_quantizer).__name__}"
