"""Whole-image evaluation of a restoration network (or of the no-learning baseline) on a list of pairs."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from spark_env.data.io import to_tensor
from spark_env.data.pairs import ImagePair
from spark_env.data.tasks import Task
from spark_env.metrics import psnr, psnr_and_ssim


def measure_border(task: Task) -> int:
    """Pixels shaved from each side before measuring: the scale for SR (literature convention), else 0."""
    return task.scale if task.kind == "sr" else 0


def model_device(model: nn.Module) -> torch.device:
    """The device of a network's parameters (CPU for a network without any)."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))


@torch.no_grad()
def predict(model: nn.Module, lq: np.ndarray, device: str | torch.device | None = None) -> torch.Tensor:
    """Run a network on one (h, w, 3) image on ``device`` (default: the network's); returns a (1, 3, H, W) CPU
    tensor."""
    return model(to_tensor(lq).to(device or model_device(model))).cpu()


def evaluate_images(model: nn.Module | None, pairs: list[ImagePair], task: Task,
                    device: str | torch.device | None = None, with_ssim: bool = True) -> list[dict[str, float]]:
    """Per pair: ``{"image": name, "psnr": PSNR-Y (dB), "ssim": SSIM-Y}`` (``with_ssim=False``: no SSIM), the
    network run on ``device`` (default: where its parameters are); ``model=None`` measures the task's baseline
    (bicubic / input). The network's train / eval mode is restored."""
    border = measure_border(task)
    rows = []
    was_training = model.training if model is not None else False
    if model is not None:
        model.eval()
    for pair in pairs:
        output = task.baseline(pair.lq) if model is None else predict(model, pair.lq, device)
        if with_ssim:
            value, structure = psnr_and_ssim(output, pair.hr, border=border)
            rows.append({"image": pair.name, "psnr": value, "ssim": structure})
        else:
            rows.append({"image": pair.name, "psnr": psnr(output, pair.hr, border=border)})
    if model is not None:
        model.train(was_training)
    return rows


def evaluate(model: nn.Module | None, pairs: list[ImagePair], task: Task,
             device: str | torch.device | None = None, with_ssim: bool = True) -> dict[str, float]:
    """Mean PSNR-Y (dB) and SSIM-Y over the pairs (``with_ssim=False``: PSNR only, the cheaper part); see
    ``evaluate_images``."""
    rows = evaluate_images(model, pairs, task, device, with_ssim)
    return {"psnr": float(np.mean([r["psnr"] for r in rows])),
            **({"ssim": float(np.mean([r["ssim"] for r in rows]))} if with_ssim else {})}
