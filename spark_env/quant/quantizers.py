"""Fake quantizers with straight-through gradients: weights (symmetric, per-channel or per-tensor, learned step) and
activations (LSQ learned step size, or PAMS learnable clip).

All quantizers here are uniform and symmetric around zero (zero point 0). Integer grids, for ``b`` bits:

* weights: narrow signed grid ``[-(2^(b-1) - 1), 2^(b-1) - 1]`` (2 bits -> ternary), per output channel by default;
* LSQ activations: signed ``[-2^(b-1), 2^(b-1) - 1]``, or unsigned ``[0, 2^b - 1]`` when calibration saw no negative
  value (inputs after a ReLU);
* PAMS activations: clip to ``[-alpha, alpha]`` (or ``[0, alpha]`` when unsigned), then a uniform grid of
  ``2^(b-1) - 1`` (``2^b - 1``) steps per side.

Weights and LSQ compute what PyTorch's learnable fake-quantize operators (``torch._fake_quantize_learnable_per_{channel,
tensor}_affine``) compute: LSQ gradients for the step and the straight-through estimator with a clipping mask for the
input. ``learnable_fake_quantize`` runs their forward as three vectorised torch ops (about 4x faster on a CPU than the
operator's scalar loop; the same values to the last bit) and their backward through the operators' own backward
kernels (the same gradients to the last bit), tests/models/test_quant.py.
PAMS is written with plain torch ops: a clamp whose gradient reaches ``alpha`` from clipped values (PACT-style, as
in the PAMS paper) and a rounding whose gradient is passed straight through.

PyTorch's learnable fake-quantize operators have no second derivative. Inside ``twice_differentiable()`` the weight
and LSQ quantizers use ``lsq_fake_quantize`` instead: the same forward values and the same LSQ / straight-through
gradients written with plain torch ops, so a gradient can be differentiated again (spark_env.lookahead needs it).
Training keeps the fused operators.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator

import torch
from torch import nn

from spark_env.errors import ConfigError

MIN_BITS, MAX_BITS = 2, 8
_EPS = 1e-8


def check_bits(bits: int, what: str = "bits") -> int:
    """Validate a bit width: an integer in [2, 8]."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
        raise ConfigError(f"{what}={bits!r} is not supported; allowed: integers {MIN_BITS}..{MAX_BITS}")
    return bits


def signed_grid(bits: int, narrow: bool) -> tuple[int, int]:
    qmax = 2 ** (bits - 1) - 1
    return (-qmax if narrow else -qmax - 1), qmax


_twice_differentiable = contextvars.ContextVar("twice_differentiable", default=False)


@contextlib.contextmanager
def twice_differentiable() -> Iterator[None]:
    """Within this block the weight and LSQ quantizers run ``lsq_fake_quantize`` (plain torch ops, differentiable
    twice) instead of PyTorch's fused learnable fake-quantize operators."""
    token = _twice_differentiable.set(True)
    try:
        yield
    finally:
        _twice_differentiable.reset(token)


def _broadcast(scale: torch.Tensor, x: torch.Tensor, axis: int | None) -> torch.Tensor:
    """A per-tensor ``scale`` as it is; a per-channel one viewed to broadcast along ``axis`` of ``x``."""
    if axis is None:
        return scale
    shape = [1] * x.dim()
    shape[axis] = -1
    return scale.view(shape)


def lsq_fake_quantize(x: torch.Tensor, scale: torch.Tensor, qmin: int, qmax: int, grad_factor: float,
                      axis: int | None = None) -> torch.Tensor:
    """``clamp(round(x / scale), qmin, qmax) * scale`` with the gradients of PyTorch's learnable fake-quantize
    operators (zero point 0): ``dx`` passes straight through where the rounded value is inside the grid and is 0
    outside; ``dscale`` is ``round(x/s) - x/s`` inside and ``qmin`` / ``qmax`` outside, times ``grad_factor``.
    ``scale`` is per tensor (one element) or per channel along ``axis``. Differentiable twice."""
    scale = _broadcast(scale, x, axis)
    scale = scale * grad_factor + (scale - scale * grad_factor).detach()  # value scale, gradient times grad_factor
    scaled = x * (1.0 / scale)
    rounded = torch.round(scaled.detach())
    inside = ((rounded >= qmin) & (rounded <= qmax)).to(x.dtype)
    level = rounded.clamp(qmin, qmax)
    return scale * (level + inside * (scaled - scaled.detach()))


_LEARNABLE_BACKWARD = {
    False: torch.ops.aten._fake_quantize_learnable_per_tensor_affine_backward,
    True: torch.ops.aten._fake_quantize_learnable_per_channel_affine_backward,
}


class _LearnableFakeQuantize(torch.autograd.Function):
    """PyTorch's learnable fake-quantize operator (zero point 0) with a vectorised forward pass: ``clamp(round(x *
    (1 / scale)), qmin, qmax) * scale``, rounding half to even, as the operator's kernel computes it; the backward
    pass is the operator's own."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, axis: int | None, qmin: int,
                qmax: int, grad_factor: float) -> torch.Tensor:
        ctx.save_for_backward(x, scale, zero_point)
        ctx.settings = (axis, qmin, qmax, grad_factor)
        scale = _broadcast(scale, x, axis)
        return torch.round(x * (1.0 / scale)).clamp_(qmin, qmax).mul_(scale)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        x, scale, zero_point = ctx.saved_tensors
        axis, qmin, qmax, grad_factor = ctx.settings
        per_channel = axis is not None
        position = (axis,) if per_channel else ()
        dx, dscale, _ = _LEARNABLE_BACKWARD[per_channel](grad_output, x, scale, zero_point, *position, qmin, qmax,
                                                          grad_factor)
        return dx, dscale, None, None, None, None, None


def learnable_fake_quantize(x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, qmin: int, qmax: int,
                            grad_factor: float, axis: int | None = None) -> torch.Tensor:
    """``torch._fake_quantize_learnable_per_tensor_affine`` (``axis=None``, one-element ``scale``) or ``_per_channel``
    (``scale`` per channel along ``axis``) with zero points 0: the same values and gradients, a faster forward pass.
    Differentiable once (see ``lsq_fake_quantize`` for twice)."""
    return _LearnableFakeQuantize.apply(x, scale, zero_point, axis, qmin, qmax, grad_factor)


class WeightQuantizer(nn.Module):
    """Symmetric weight fake-quantizer with a learned step (LSQ), per output channel or per tensor.

    The step is initialised from the weights: ``minmax`` (largest magnitude) or ``mse`` (per-channel search of the
    clipping ratio that minimises the squared quantization error, better at 2-4 bits).
    """

    def __init__(self, weight: torch.Tensor, bits: int, axis: int = 0, per_channel: bool = True,
                 init: str = "mse") -> None:
        super().__init__()
        self.bits = check_bits(bits, "w_bits")
        self.axis = axis
        self.per_channel = per_channel
        self.qmin, self.qmax = signed_grid(bits, narrow=True)
        channels = weight.shape[axis] if per_channel else 1
        self.scale = nn.Parameter(torch.ones(channels, device=weight.device))
        self.register_buffer("zero_point", torch.zeros(channels, device=weight.device))
        self.init_from(weight, init)

    def _channels_last(self, weight: torch.Tensor) -> torch.Tensor:
        """(channels, elements) view of the weight."""
        if not self.per_channel:
            return weight.reshape(1, -1)
        return weight.transpose(0, self.axis).reshape(weight.shape[self.axis], -1)

    @torch.no_grad()
    def init_from(self, weight: torch.Tensor, method: str = "mse") -> None:
        if method not in ("minmax", "mse"):
            raise ConfigError(f"unknown weight init '{method}'; allowed: minmax, mse")
        flat = self._channels_last(weight.detach())
        max_abs = flat.abs().amax(dim=1).clamp_min(_EPS)
        best = max_abs / self.qmax
        if method == "mse":
            best_err = torch.full_like(max_abs, math.inf)
            for ratio in torch.linspace(0.2, 1.0, 41):
                step = (max_abs * ratio / self.qmax)[:, None]
                err = ((torch.clamp(torch.round(flat / step), self.qmin, self.qmax) * step - flat) ** 2).mean(1)
                better = err < best_err
                best = torch.where(better, step[:, 0], best)
                best_err = torch.where(better, err, best_err)
        self.scale.copy_(best)

    def effective_scale(self) -> torch.Tensor:
        """The step the quantizer applies (per channel or one element): ``|scale| + eps``."""
        return self.scale.abs() + _EPS

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        scale = self.effective_scale()
        grad_factor = 1.0 / math.sqrt(self._channels_last(weight).shape[1] * self.qmax)
        if _twice_differentiable.get():
            return lsq_fake_quantize(weight, scale, self.qmin, self.qmax, grad_factor,
                                     self.axis if self.per_channel else None)
        return learnable_fake_quantize(weight, scale, self.zero_point, self.qmin, self.qmax, grad_factor,
                                       self.axis if self.per_channel else None)


class ActivationQuantizer(nn.Module):
    """Base of activation quantizers: a learnable range set by calibration, signed or unsigned.

    ``enabled=False`` passes values through unchanged (used while calibrating); ``observer``, when set, sees every
    input (see ``calibration.RangeObserver``).
    """

    def __init__(self, bits: int) -> None:
        super().__init__()
        self.bits = check_bits(bits, "a_bits")
        self.register_buffer("signed", torch.tensor(True))
        self.enabled = True
        self.observer = None

    def set_range(self, max_value: float, signed: bool) -> None:
        """Set the clipping range: ``[-max_value, max_value]`` if signed else ``[0, max_value]``."""
        raise NotImplementedError

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def grid(self) -> tuple[int, int]:
        """(qmin, qmax): the outputs are ``effective_step() * k`` for integers ``qmin <= k <= qmax``."""
        raise NotImplementedError(f"{type(self).__name__} defines no integer grid")

    def effective_step(self) -> torch.Tensor:
        """The step between output levels (one element)."""
        raise NotImplementedError(f"{type(self).__name__} defines no step")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.observer is not None:
            self.observer.update(x)
        return self.quantize(x) if self.enabled else x


class LSQQuantizer(ActivationQuantizer):
    """LSQ (Esser et al., 2020): learned step size with the gradient scale 1/sqrt(features * qmax)."""

    def __init__(self, bits: int) -> None:
        super().__init__(bits)
        self.step = nn.Parameter(torch.ones(1))
        self.register_buffer("zero_point", torch.zeros(1))

    def grid(self) -> tuple[int, int]:
        return signed_grid(self.bits, narrow=False) if bool(self.signed) else (0, 2 ** self.bits - 1)

    @torch.no_grad()
    def set_range(self, max_value: float, signed: bool) -> None:
        """Step = max_value / qmax; the signed grid reaches one step below -max_value (LSQ's grid)."""
        self.signed.fill_(signed)
        self.step.fill_(max(max_value, _EPS) / self.grid()[1])

    def effective_step(self) -> torch.Tensor:
        return self.step.abs() + _EPS

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        qmin, qmax = self.grid()
        grad_factor = 1.0 / math.sqrt(x[0].numel() * qmax)
        if _twice_differentiable.get():
            return lsq_fake_quantize(x, self.effective_step(), qmin, qmax, grad_factor)
        return learnable_fake_quantize(x, self.effective_step(), self.zero_point, qmin, qmax, grad_factor)


class PAMSQuantizer(ActivationQuantizer):
    """PAMS (Li et al., 2020): learnable symmetric clip ``alpha``, PACT-style gradient, straight-through rounding."""

    def __init__(self, bits: int) -> None:
        super().__init__(bits)
        self.alpha = nn.Parameter(torch.ones(1))

    @torch.no_grad()
    def set_range(self, max_value: float, signed: bool) -> None:
        self.signed.fill_(signed)
        self.alpha.fill_(max(max_value, _EPS))

    def grid(self) -> tuple[int, int]:
        """``(-levels, levels)`` signed, ``(0, levels)`` unsigned: ``2^(b-1) - 1`` / ``2^b - 1`` steps per side."""
        if bool(self.signed):
            levels = 2 ** (self.bits - 1) - 1
            return -levels, levels
        return 0, 2 ** self.bits - 1

    def effective_step(self) -> torch.Tensor:
        return (self.alpha.abs() + _EPS) / self.grid()[1]

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha.abs() + _EPS
        clipped = torch.minimum(torch.maximum(x, -alpha), alpha) if bool(self.signed) else \
            torch.minimum(torch.relu(x), alpha)
        step = (alpha / self.grid()[1]).detach()
        return clipped + (torch.round(clipped / step) * step - clipped).detach()


ACTIVATION_QUANTIZERS: dict[str, type[ActivationQuantizer]] = {"lsq": LSQQuantizer, "pams": PAMSQuantizer}


def make_activation_quantizer(name: str, bits: int) -> ActivationQuantizer:
    try:
        cls = ACTIVATION_QUANTIZERS[name]
    except KeyError:
        raise ConfigError(f"unknown activation quantizer '{name}'; allowed: "
                          f"{', '.join(ACTIVATION_QUANTIZERS)}") from None
    return cls(bits)
