"""PSNR and SSIM as the image-restoration literature reports them.

Conventions (those of EDSR, RCAN, BasicSR and the quantized-SR papers):

* inputs are RGB images in [0, 1]; the network output is clipped to [0, 1] and rounded to 8-bit levels first
  (``quantize=True``), as if saved to PNG;
* ``y_channel=True`` (default) measures the luma of ITU-R BT.601, ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` on a
  0..255 scale; ``y_channel=False`` measures all three RGB channels on a 0..255 scale;
* ``border`` pixels are shaved from every side before measuring (the SR scale for SR, 0 otherwise);
* PSNR = 10 log10(255^2 / MSE) in dB; SSIM is Wang et al. (2004) with an 11x11 Gaussian window (sigma 1.5),
  K1 = 0.01, K2 = 0.03, over the 'valid' region of the window, averaged over channels.

Images may be numpy arrays (H, W, 3) or torch tensors (3, H, W) / (N, 3, H, W); batches give the mean over
images of the per-image value.
"""
from __future__ import annotations

import math

import cv2

import numpy as np
import torch

BT601 = torch.tensor([65.481, 128.553, 24.966], dtype=torch.float64)


def _as_batch(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(np.array(image, dtype=np.float64))
    tensor = image.detach().to("cpu", torch.float64)
    if tensor.dim() == 3 and tensor.shape[-1] == 3 and tensor.shape[0] != 3:
        tensor = tensor.permute(2, 0, 1)  # numpy layout (H, W, 3)
    if tensor.dim() == 3:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() != 4 or tensor.shape[1] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), (3, H, W) or (N, 3, H, W), got shape {tuple(tensor.shape)}")
    return tensor


def _prepare(output, target, border: int, y_channel: bool, quantize: bool) -> tuple[torch.Tensor, torch.Tensor]:
    out, ref = _as_batch(output), _as_batch(target)
    if out.shape != ref.shape:
        raise ValueError(f"output shape {tuple(out.shape)} differs from target shape {tuple(ref.shape)}")
    if quantize:
        out = torch.round(out.clamp(0, 1) * 255.0) / 255.0
    if y_channel:
        weights = BT601.view(1, 3, 1, 1)
        out = 16.0 + (out * weights).sum(1, keepdim=True)
        ref = 16.0 + (ref * weights).sum(1, keepdim=True)
    else:
        out, ref = out * 255.0, ref * 255.0
    if border > 0:
        out = out[..., border:-border, border:-border]
        ref = ref[..., border:-border, border:-border]
    return out, ref


def squared_errors(output, target, border: int = 0, y_channel: bool = True, quantize: bool = True) -> torch.Tensor:
    """Per image of the batch: the mean squared error on the 0..255 scale (shape (batch,), float)."""
    return _squared_errors_of(*_prepare(output, target, border, y_channel, quantize))


def _squared_errors_of(out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return ((out - ref) ** 2).flatten(1).mean(1)


def psnr_of_mse(mse: float) -> float:
    """PSNR in dB of a mean squared error on the 0..255 scale; ``inf`` for 0."""
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def psnr(output, target, border: int = 0, y_channel: bool = True, quantize: bool = True) -> float:
    """PSNR in dB (mean over the batch of each image's PSNR). ``inf`` for identical images."""
    return _psnr_of(squared_errors(output, target, border, y_channel, quantize))


def _psnr_of(mse: torch.Tensor) -> float:
    """Mean over the batch of each image's PSNR, from the (batch,) mean squared errors."""
    return float(np.mean([psnr_of_mse(m) for m in mse.tolist()]))


WINDOW, SIGMA = 11, 1.5


def _gaussian_1d(size: int = WINDOW, sigma: float = SIGMA) -> np.ndarray:
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(coords ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _blur_valid(image: np.ndarray) -> np.ndarray:
    """Separable Gaussian filter of a 2-D float64 array, valid region only."""
    g = _gaussian_1d()
    half = WINDOW // 2
    return cv2.sepFilter2D(image, cv2.CV_64F, g, g)[half:-half, half:-half]


def ssim(output, target, border: int = 0, y_channel: bool = True, quantize: bool = True) -> float:
    """SSIM in [-1, 1] (mean over the batch and channels); 11x11 Gaussian window (sigma 1.5), valid region only."""
    return _ssim_of(*_prepare(output, target, border, y_channel, quantize))


def psnr_and_ssim(output, target, border: int = 0, y_channel: bool = True,
                  quantize: bool = True) -> tuple[float, float]:
    """``(psnr(...), ssim(...))`` with one conversion of the images (the same values as the two calls)."""
    out, ref = _prepare(output, target, border, y_channel, quantize)
    return _psnr_of(_squared_errors_of(out, ref)), _ssim_of(out, ref)


def _ssim_of(out: torch.Tensor, ref: torch.Tensor) -> float:
    """SSIM of prepared (N, C, H, W) float64 images on the 0..255 scale."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for x, y in zip(out.numpy().reshape(-1, *out.shape[-2:]), ref.numpy().reshape(-1, *ref.shape[-2:])):
        mu_x, mu_y = _blur_valid(x), _blur_valid(y)
        var_x, var_y = _blur_valid(x * x) - mu_x ** 2, _blur_valid(y * y) - mu_y ** 2
        cov = _blur_valid(x * y) - mu_x * mu_y
        ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
        values.append(ssim_map.mean())
    return float(np.mean(values))
