"""Lookahead scores: how much one QAT step's probe PSNR would rise if a cell's KD weight rose (a meta-gradient).

The rule of "Learning to Reweight Examples" (Ren et al., 2018) applied to SPARK's 8x8 cells. For the training loss
of a step with weight map ``w`` (N crops x 64 cells)::

    L(theta, w) = L1(S(x), y) + lambda_kd * mean(upsample(w) * l_kd(S(x), T(x))) + lambda_feat * feature term

one Adam update gives ``theta' = theta - lr * u(g)`` with ``g = dL/dtheta``. The score of cell c of crop n is the
first-order change of the PSNR on the lookahead probe (validation crops, ``QATSession.lookahead_probe``; never the
test images) through that
update::

    s[n, c] = d PSNR_probe(theta') / d w[n, c]  at  w = 1 (uniform KD)
            = - sum_p  lr_p * u'(g_p) * dPSNR_probe/dtheta'_p * d g_p / d w[n, c]

Approximations, stated: (1) first order in the weight change (a linearisation of the update around the uniform
map); (2) Adam's update is differentiated exactly per parameter, including its second-moment term
(``u = m_hat / (sqrt(v_hat) + eps)`` with ``m``, ``v`` updated by ``g``; ``u'`` is its diagonal derivative in
``g``), the optimizer's state read from the session and left untouched; (3) the probe PSNR is PSNR-Y of the
clipped outputs without the 8-bit rounding of the metric (rounding has no gradient), and the quantizers' rounding
is differentiated straight through, as in training. Units: dB of probe PSNR per unit of cell weight.

Cost: all ``N x 64`` scores come from one forward pass with a twice-differentiable graph, one backward pass that
keeps its graph, one forward and backward pass on the probe crops at the virtual parameters ``theta'``, and one
double-backward pass (a vector-Jacobian product in the direction ``lr * u' * dPSNR/dtheta'``), whatever N is.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call

from spark_env.difficulty import GRID
from spark_env.metrics import BT601
from spark_env.quant.quantizers import twice_differentiable


def adam_update_and_derivative(optimizer: torch.optim.Adam, parameter: torch.Tensor,
                               grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Adam's next update direction ``u`` (the step is ``-lr * u``) for ``parameter`` given its gradient, and
    ``du/dg`` elementwise, from the optimizer's current state (not modified). Plain Adam (PyTorch's defaults: no
    weight decay, no AMSGrad) is what ``qat_optimizer`` builds; anything else is refused."""
    group = next(g for g in optimizer.param_groups if any(p is parameter for p in g["params"]))
    if group.get("weight_decay", 0) or group.get("amsgrad", False) or group.get("maximize", False):
        raise ValueError("lookahead scores support plain Adam only (no weight_decay, amsgrad or maximize)")
    beta1, beta2 = group["betas"]
    eps = group["eps"]
    state = optimizer.state.get(parameter, {})
    step = int(state["step"]) + 1 if "step" in state else 1
    exp_avg = state.get("exp_avg", torch.zeros_like(grad))
    exp_avg_sq = state.get("exp_avg_sq", torch.zeros_like(grad))
    m = beta1 * exp_avg + (1 - beta1) * grad
    v = beta2 * exp_avg_sq + (1 - beta2) * grad * grad
    bias1, bias2 = 1 - beta1 ** step, 1 - beta2 ** step
    root_v = v.sqrt()
    denom = root_v / math.sqrt(bias2) + eps
    update = m / bias1 / denom
    # d denom / d g = (1 - beta2) g / (sqrt(bias2) sqrt(v)); where v = 0 the gradient is 0 too and the term vanishes
    d_denom = torch.where(root_v > 0, (1 - beta2) * grad / (math.sqrt(bias2) * root_v.clamp_min(1e-30)),
                          torch.zeros_like(grad))
    derivative = (1 - beta1) / (bias1 * denom) - m / bias1 * d_denom / denom ** 2
    return update, derivative


def differentiable_psnr(output: torch.Tensor, target: torch.Tensor, border: int) -> torch.Tensor:
    """Mean over the batch of PSNR-Y (dB) of the clipped output, without 8-bit rounding: the probe metric of
    spark_env.metrics as a differentiable function. (N, 3, H, W) tensors in [0, 1]."""
    weights = BT601.to(output.device, output.dtype).view(1, 3, 1, 1)
    diff = ((output.clamp(0, 1) - target) * weights).sum(1)
    if border > 0:
        diff = diff[..., border:-border, border:-border]
    mse = diff.pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return (10.0 * torch.log10(255.0 ** 2 / mse)).mean()


def lookahead_scores(student: nn.Module, optimizer: torch.optim.Adam,
                     loss_of_weights: Callable[[torch.Tensor], torch.Tensor], num_crops: int,
                     probe_lq: torch.Tensor, probe_hr: torch.Tensor, border: int) -> torch.Tensor:
    """(N, 8, 8) scores, on the CPU, of the student's current state (see the module docstring).

    ``loss_of_weights(w)`` is the step's training loss for a (N, 8, 8) weight map ``w`` (a fresh forward pass of the
    student on the step's crops); it is called inside ``twice_differentiable()``. ``probe_lq`` (P, 3, h, w) on the
    student's device and ``probe_hr`` (P, 3, H, W) are the probe crops, ``border`` the pixels shaved before measuring.
    The student, its optimizer and every random generator are left as they were.
    """
    named = [(name, p) for name, p in student.named_parameters() if p.requires_grad]
    weights = torch.ones(num_crops, GRID, GRID, device=probe_lq.device, requires_grad=True)
    with twice_differentiable():
        loss = loss_of_weights(weights)
        grads = torch.autograd.grad(loss, [p for _, p in named], create_graph=True, allow_unused=True)
    used = [(name, p, g) for (name, p), g in zip(named, grads) if g is not None]
    lrs = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    virtual, derivatives = {}, {}
    with torch.no_grad():
        for name, p, g in used:
            update, derivatives[name] = adam_update_and_derivative(optimizer, p, g.detach())
            virtual[name] = (p - lrs[id(p)] * update).requires_grad_(True)
    was_training = student.training
    student.eval()
    try:
        with twice_differentiable():
            probe_out = functional_call(student, virtual, (probe_lq,))
            probe = differentiable_psnr(probe_out, probe_hr.to(probe_out.device), border)
            probe_grads = torch.autograd.grad(probe, list(virtual.values()), allow_unused=True)
    finally:
        student.train(was_training)
    direction = [(g, -lrs[id(p)] * derivatives[name] * pg)
                 for (name, p, g), pg in zip(used, probe_grads) if pg is not None]
    if not direction:
        return torch.zeros(weights.shape)
    dot = sum((g * d).sum() for g, d in direction)
    scores, = torch.autograd.grad(dot, weights, allow_unused=True)
    return torch.zeros(weights.shape) if scores is None else scores.detach().cpu()
