"""Turning a full-precision restoration network into a fake-quantized student."""
from __future__ import annotations

import copy
from collections.abc import Callable, Mapping

from torch import nn

from spark_env.errors import ConfigError
from spark_env.quant.layers import QuantConv2d
from spark_env.quant.quantizers import check_bits

PARTS = ("head", "body", "tail")
BitWidths = int | tuple[int, int]
BitRule = Callable[[str, nn.Module], BitWidths | None]


def quantizable_layers(model: nn.Module, parts: tuple[str, ...] = PARTS) -> dict[str, nn.Module]:
    """Full-precision convolutions of the given parts (``head``/``body``/``tail``), by module name."""
    layers = {}
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) and name.split(".")[0] in parts:
            layers[name] = module
    return layers


def quantized_layers(model: nn.Module) -> dict[str, QuantConv2d]:
    """The QuantConv2d layers of a student, by module name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, QuantConv2d)}


def _as_pair(bits: BitWidths, layer: str) -> tuple[int, int]:
    w_bits, a_bits = (bits, bits) if isinstance(bits, int) else tuple(bits)
    return check_bits(w_bits, f"w_bits of layer '{layer}'"), check_bits(a_bits, f"a_bits of layer '{layer}'")


def set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    """Replace the submodule at dotted ``name`` (e.g. ``body.blocks.0.conv1``) by ``module``."""
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


def quantize_model(model: nn.Module, w_bits: int = 4, a_bits: int = 4, activation_quantizer: str = "lsq",
                   per_channel: bool = True, weight_init: str = "mse", quantize_head: bool = False,
                   quantize_tail: bool = False,
                   bit_widths: Mapping[str, BitWidths] | BitRule | None = None) -> nn.Module:
    """A fake-quantized copy of ``model`` (the original is untouched), starting from its full-precision weights.

    By default the body convolutions and their inputs are quantized and the head and tail stay in full precision,
    as in the quantized-SR literature (PAMS, DAQ, CADyQ). Activation ranges start at a placeholder: call
    ``calibrate`` before use (PTQ is quantize + calibrate; QAT starts from a calibrated student).

    Args:
        w_bits, a_bits: default bit widths, integers 2..8.
        activation_quantizer: ``"lsq"`` (learned step size) or ``"pams"`` (learnable clip).
        per_channel: per-output-channel weight quantization (default) or per tensor.
        weight_init: ``"mse"`` or ``"minmax"`` initial weight step.
        quantize_head, quantize_tail: also quantize the first / last convolutions.
        bit_widths: mixed precision. A mapping from layer name (see ``quantizable_layers``) to ``bits`` or
            ``(w_bits, a_bits)``, or a rule ``f(name, conv) -> bits | (w_bits, a_bits) | None`` (None keeps the
            default). Names not in the model raise ConfigError.
    """
    check_bits(w_bits, "w_bits")
    check_bits(a_bits, "a_bits")
    student = copy.deepcopy(model)
    parts = tuple(p for p, on in zip(PARTS, (quantize_head, True, quantize_tail)) if on)
    layers = quantizable_layers(student, parts)
    if isinstance(bit_widths, Mapping):
        unknown = sorted(set(bit_widths) - set(layers))
        if unknown:
            raise ConfigError(f"layer(s) {', '.join(map(repr, unknown))} in the bit-width map are not quantizable "
                              f"layers of this model; quantizable: {', '.join(layers)}")
    for name, conv in layers.items():
        override = None
        if isinstance(bit_widths, Mapping):
            override = bit_widths.get(name)
        elif bit_widths is not None:
            override = bit_widths(name, conv)
        layer_w, layer_a = _as_pair(override, name) if override is not None else (w_bits, a_bits)
        set_submodule(student, name, QuantConv2d(conv, layer_w, layer_a, activation_quantizer, per_channel,
                                                  weight_init))
    return student
