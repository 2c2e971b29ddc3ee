"""Knowledge-distillation losses: the per-pixel KD loss, weight maps from actions, and the spatial KD term.

Action -> weight map (``action_mapping``), for an action ``a`` in [-1, 1]^(8x8):

==========  =====================================================  ==============================================
mapping     weights                                                notes
==========  =====================================================  ==============================================
softmax     ``64 * softmax(temperature * a)``                       default; mean exactly 1, all weights > 0
linear      ``(1 + a) / mean(1 + a)``                               mean 1; weights in [0, 64]; all -1 -> uniform
raw         ``1 + a``                                               weights in [0, 2]; the KD budget is not fixed
==========  =====================================================  ==============================================

All three map the zero action to the uniform map (every weight 1), i.e. plain output KD.
The 8x8 map is upsampled to the output resolution by repeating each cell over its block of pixels (nearest), so a
cell's weight multiplies exactly the pixels of that cell and the mean weight is kept.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from spark_env.difficulty import GRID


def action_to_weights(action: torch.Tensor, mapping: str = "softmax", temperature: float = 2.0) -> torch.Tensor:
    """(N, 8, 8) actions in [-1, 1] -> (N, 8, 8) non-negative weight maps (see module docstring)."""
    if mapping == "softmax":
        flat = torch.softmax(temperature * action.flatten(1), dim=1) * (GRID * GRID)
        return flat.view_as(action)
    if mapping == "linear":
        shifted = 1.0 + action
        mean = shifted.flatten(1).mean(1).view(-1, 1, 1)
        return torch.where(mean > 0, shifted / mean.clamp_min(1e-12), torch.ones_like(shifted))
    if mapping == "raw":
        return 1.0 + action
    raise ValueError(f"unknown action mapping '{mapping}'; allowed: softmax, linear, raw")


def upsample_weights(weights: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(N, 8, 8) -> (N, 1, height, width), each cell repeated over its block of pixels."""
    return F.interpolate(weights.unsqueeze(1), size=(height, width), mode="nearest")


def pixel_kd_loss(student: torch.Tensor, teacher: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Per-pixel distillation loss (N, 1, H, W), averaged over colour channels; the teacher is not differentiated."""
    diff = student - teacher.detach()
    if kind == "l1":
        per_channel = diff.abs()
    elif kind == "l2":
        per_channel = diff ** 2
    elif kind == "charbonnier":
        per_channel = torch.sqrt(diff ** 2 + 1e-6)
    else:
        raise ValueError(f"unknown KD loss '{kind}'; allowed: l1, l2, charbonnier")
    return per_channel.mean(1, keepdim=True)


def spatial_kd_loss(student: torch.Tensor, teacher: torch.Tensor, weights: torch.Tensor | None,
                    kind: str = "l1") -> torch.Tensor:
    """``mean(upsample(W) * l_kd(S(x), T(x)))``; ``weights=None`` is uniform output KD."""
    per_pixel = pixel_kd_loss(student, teacher, kind)
    if weights is None:
        return per_pixel.mean()
    return (upsample_weights(weights, *per_pixel.shape[-2:]) * per_pixel).mean()
