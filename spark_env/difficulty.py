"""The four-channel 8x8 difficulty grid that the agent observes.

The grid partitions the current training crop into 8x8 cells. Raw values per cell, in 8-bit intensity units
(0..255), on the BT.601 luma of the images:

====  ==========  ====================  ===========================================================
ch.   key         title                 raw value of a cell
====  ==========  ====================  ===========================================================
0     laplacian   Laplacian variance    variance of the 3x3 Laplacian of the degraded input (static)
1     variance    pixel variance        variance of the degraded input's luma (static)
2     error       reconstruction error  mean |S(x) - y| of the student output against the ground truth
3     gap         knowledge gap         mean |S(x) - T(x)| of the student output against the teacher output
====  ==========  ====================  ===========================================================

The keys name the channels everywhere in code (the heuristics ``heuristic_<key>``, table columns); the titles are
for plots and panels.

Channels 0 and 1 depend on the input only: the Laplacian is computed once per training image, the luma per crop,
and both are pooled per crop. Channels 2 and 3 are pooled from the student forward pass the QAT step trains on.

Normalisation (the observation): ``obs = min(log1p(raw) / log1p(R_c), 1)`` with ``R_c = 255^2`` for the two
variances and ``255`` for the two errors, so every channel lies in [0, 1] and small errors keep resolution.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

GRID = 8
CHANNELS = ("laplacian", "variance", "error", "gap")  # channel keys, in observation order
CHANNEL_TITLES = ("Laplacian variance", "pixel variance", "reconstruction error", "knowledge gap")
RAW_RANGES = torch.tensor([255.0 ** 2, 255.0 ** 2, 255.0, 255.0])
_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)
_LUMA = torch.tensor([65.481, 128.553, 24.966]).view(1, 3, 1, 1)


def luma(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> (N, 1, H, W) BT.601 luma on the 0..255 scale (offset 16 omitted)."""
    return (images * _LUMA.to(images)).sum(1, keepdim=True)


class StaticDifficulty:
    """The per-image map of the Laplacian channel, pooled per crop on demand with the crop's luma.

    Keeps the 3x3 Laplacian ``L`` (1, H, W) of the whole degraded input's luma (replicate padding at the image's
    edges, so a crop's values do not depend on where it was cut); the luma ``g`` of a crop is computed from the crop
    itself (a per-pixel sum). The variance of a cell is ``E[v^2] - E[v]^2`` over the cell's pixels.
    """

    def __init__(self, lq: np.ndarray) -> None:
        image = torch.from_numpy(np.ascontiguousarray(lq.transpose(2, 0, 1))).unsqueeze(0).float()
        self.laplacian = F.conv2d(F.pad(luma(image), (1, 1, 1, 1), mode="replicate"), _LAPLACIAN)[0]  # (1, H, W)

    def grid(self, top: int, left: int, lq_crop: torch.Tensor) -> torch.Tensor:
        """Raw (2, 8, 8) [Laplacian variance, pixel variance] of the square crop at (top, left); ``lq_crop`` (3, c,
        c), on the CPU, is the degraded input there."""
        size = lq_crop.shape[-1]
        lap = self.laplacian[:, top:top + size, left:left + size]
        gray = luma(lq_crop.unsqueeze(0))[0]
        means = F.adaptive_avg_pool2d(torch.cat([lap, lap ** 2, gray, gray ** 2]).unsqueeze(0), GRID)[0]
        variances = means[1::2] - means[0::2] ** 2
        return variances.clamp_min(0.0)


def error_grid(output: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Mean absolute luma difference per cell, (N, 3, H, W) x2 -> (N, 8, 8), 0..255 units."""
    diff = (luma(output.detach()) - luma(reference.detach())).abs()
    return F.adaptive_avg_pool2d(diff, GRID)[:, 0]


def normalise(raw: torch.Tensor) -> torch.Tensor:
    """Raw (N, 4, 8, 8) grid -> observation in [0, 1] (see module docstring)."""
    ranges = RAW_RANGES.to(raw).view(1, 4, 1, 1)
    return (torch.log1p(raw.clamp_min(0)) / torch.log1p(ranges)).clamp(0.0, 1.0)
