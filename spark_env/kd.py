"""Knowledge-distillation losses: the per-pixel KD loss, weight maps from actions, the spatial KD term, and the
feature KD terms of the baselines (attention transfer ``at``, feature affinity ``fakd``) on body features.

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


# ---- feature distillation (the non-spatial KD baselines) ------------------------------------------------------
def attention_map(features: torch.Tensor) -> torch.Tensor:
    """Spatial attention of a feature map (Zagoruyko & Komodakis, 2017): the channel mean of squared activations,
    flattened and L2-normalised per sample. (N, C, H, W) -> (N, H*W)."""
    return F.normalize(features.pow(2).mean(1).flatten(1), dim=1)


def attention_transfer_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the normalised attention maps (the AT term used by PAMS-style quantized SR)."""
    return (attention_map(student) - attention_map(teacher.detach())).pow(2).mean()


def feature_affinity(features: torch.Tensor) -> torch.Tensor:
    """Spatial affinity of a feature map (FAKD, He et al., 2020): cosine similarity between the feature vectors of
    every pair of positions. (N, C, H, W) -> (N, H*W, H*W), values in [-1, 1]."""
    flat = F.normalize(features.flatten(2), dim=1)  # (N, C, HW), unit vector per position
    return flat.transpose(1, 2) @ flat


class _AffinityL1(torch.autograd.Function):
    """``mean |Xs^T Xs - Xt^T Xt|`` over (N, P, P) for (N, C, P) unit-column features ``Xs`` (student) and ``Xt``
    (teacher, not differentiated), with the gradient computed in the same pass, one sample at a time.

    The affinity difference ``D`` is symmetric, so ``dL/dXs = Xs (G + G^T) = 2 Xs sign(D) / (N P^2)``: one matrix
    product per sample instead of autograd's two, and no (N, P, P) intermediate kept for the backward pass (about
    3x faster at P = 1024; the gradient equals autograd's within float32 rounding, a relative 1e-6: to the last bit
    where the scale factors are powers of 2 on AVX512 kernels, within about one unit in the last place on AVX2 ones,
    whose matrix products sum in another order; tests/models/test_feature_kd.py). The gradient is a constant of the
    backward pass: differentiable once, which is all the lookahead needs (the term does not depend on the KD weight
    map).
    """

    @staticmethod
    def forward(ctx, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        count = student.shape[0] * student.shape[2] ** 2
        sums = []
        grad = torch.empty_like(student) if student.requires_grad else None
        for i in range(student.shape[0]):
            xs, xt = student[i], teacher[i]
            diff = torch.addmm(xt.T @ xt, xs.T, xs, beta=-1)
            sums.append(diff.abs().sum())
            if grad is not None:
                torch.mm(xs, diff.sign_(), out=grad[i])
        ctx.save_for_backward(None if grad is None else grad.mul_(2.0 / count))
        return torch.stack(sums).sum() / count

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, None]:
        grad, = ctx.saved_tensors
        return (None if grad is None else grad_output * grad), None


def feature_affinity_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of the spatial affinity matrices (FAKD's L1 form):
    ``mean |feature_affinity(student) - feature_affinity(teacher)|``, the teacher not differentiated."""
    return _AffinityL1.apply(F.normalize(student.flatten(2), dim=1), F.normalize(teacher.detach().flatten(2), dim=1))


FEATURE_KD_LOSSES = {"at": attention_transfer_loss, "fakd": feature_affinity_loss}


def matched_layers(n_student: int, n_teacher: int) -> list[tuple[int, int]]:
    """Pairs (student index, teacher index) of body features to match: one per student block, teacher blocks
    spread evenly when the depths differ (the last block always matches the last)."""
    if n_student < 1 or n_teacher < 1:
        raise ValueError(f"feature KD needs body features on both sides; got {n_student} student and "
                         f"{n_teacher} teacher feature maps")
    return [(i, round((i + 1) * n_teacher / n_student) - 1) for i in range(n_student)]


def feature_kd_loss(student: list[torch.Tensor], teacher: list[torch.Tensor], kind: str) -> torch.Tensor:
    """Feature KD term (``at`` or ``fakd``) averaged over matched body layers; spatial sizes must agree."""
    if kind not in FEATURE_KD_LOSSES:
        raise ValueError(f"unknown feature KD loss '{kind}'; allowed: {', '.join(FEATURE_KD_LOSSES)}")
    loss_fn = FEATURE_KD_LOSSES[kind]
    pairs = matched_layers(len(student), len(teacher))
    for s, t in pairs:
        if student[s].shape[-2:] != teacher[t].shape[-2:]:
            raise ValueError(f"student feature {s} has spatial size {tuple(student[s].shape[-2:])} but teacher "
                             f"feature {t} has {tuple(teacher[t].shape[-2:])}; feature KD needs equal sizes")
    return torch.stack([loss_fn(student[s], teacher[t]) for s, t in pairs]).mean()
