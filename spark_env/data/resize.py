"""MATLAB-compatible bicubic ``imresize`` (antialiased when downscaling), the convention of the SR literature.

The LR images of DIV2K, Set5, Set14, B100 and Urban100 were made with MATLAB's ``imresize(hr, 1/s, 'bicubic')``:
cubic kernel with a = -0.5, the kernel stretched by the scale factor when downscaling (antialiasing), pixel centres
mapped with ``u = x / s + 0.5 * (1 - 1 / s)``, and symmetric (mirror) padding at the borders. This module
implements that algorithm in float64 numpy as one weight matrix per axis. It agrees with Pillow's antialiased
bicubic resize (same kernel and centres, different border rule) to about 1e-6 away from the borders
(tests/test_resize.py); MATLAB's own rounding to uint8 is done by the caller (``io.quantize_8bit``).
"""
from __future__ import annotations

import math

import numpy as np


def _cubic(x: np.ndarray) -> np.ndarray:
    absx = np.abs(x)
    absx2, absx3 = absx ** 2, absx ** 3
    near = (1.5 * absx3 - 2.5 * absx2 + 1.0) * (absx <= 1)
    far = (-0.5 * absx3 + 2.5 * absx2 - 4.0 * absx + 2.0) * ((absx > 1) & (absx <= 2))
    return near + far


def resize_weights(in_length: int, out_length: int, scale: float, antialias: bool = True) -> np.ndarray:
    """Dense (out_length, in_length) matrix M such that ``M @ signal`` resizes a 1-D signal like MATLAB."""
    kernel_width = 4.0
    stretch = scale < 1 and antialias
    if stretch:
        kernel_width /= scale
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - kernel_width / 2.0)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]
    distance = u[:, None] - indices
    weights = scale * _cubic(scale * distance) if stretch else _cubic(distance)
    weights /= weights.sum(axis=1, keepdims=True)
    mirrored = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    source = mirrored[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    matrix = np.zeros((out_length, in_length), dtype=np.float64)
    np.add.at(matrix, (np.repeat(np.arange(out_length), taps), source.ravel()), weights.ravel())
    return matrix


def imresize(image: np.ndarray, scale: float, antialias: bool = True) -> np.ndarray:
    """Resize an (H, W) or (H, W, C) float image by ``scale`` with MATLAB's bicubic ``imresize``.

    Args:
        image: float array, any range (no clipping or rounding is applied).
        scale: output size / input size, e.g. 0.5 for x2 downscaling; the output size is ``ceil(H * scale)``.
        antialias: stretch the kernel when downscaling, as MATLAB does by default.
    Returns:
        float32 array of shape (ceil(H * scale), ceil(W * scale)[, C]).
    """
    if scale <= 0 or not math.isfinite(scale):
        raise ValueError(f"imresize scale must be a positive finite number, got {scale}")
    height, width = image.shape[:2]
    out_h, out_w = int(math.ceil(height * scale)), int(math.ceil(width * scale))
    rows = resize_weights(height, out_h, scale, antialias)
    cols = resize_weights(width, out_w, scale, antialias)
    data = image.astype(np.float64)
    if data.ndim == 2:
        return (rows @ data @ cols.T).astype(np.float32)
    return np.einsum("oh,hwc,pw->opc", rows, data, cols, optimize=True).astype(np.float32)
