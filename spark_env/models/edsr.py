"""EDSR (Lim et al., 2017): residual blocks without batch norm, residual scaling, sub-pixel tail.

``edsr`` is the project's variant (RGB in [0, 1], a residual over a bilinear global skip: small CPU-trained
teachers converge fast). ``edsr_official`` is the network of the official code (EDSR-PyTorch, ``src/model/edsr.py``)
exactly: the DIV2K mean subtracted on the [0, 255] scale before the head and added back after the tail, no global
skip, the same head / body / tail / upsampler shapes, so its checkpoints load (``spark_env.models.import_edsr``). It
still takes and returns RGB in [0, 1] (scaled to [0, 255] inside), like every network here. Defaults are
EDSR-baseline (64 features, 16 blocks).
"""
from __future__ import annotations

import torch
from torch import nn

from spark_env.models.common import ResidualTrunk, RestorationNet, conv3x3, pixel_shuffle_upsampler

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)  # EDSR-PyTorch's MeanShift, on [0, 1]
RGB_RANGE = 255.0


class ResBlock(nn.Module):
    """conv - ReLU - conv, scaled by ``res_scale`` and added to the input."""

    def __init__(self, n_feats: int, res_scale: float) -> None:
        super().__init__()
        self.conv1 = conv3x3(n_feats, n_feats)
        self.act = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(n_feats, n_feats)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.conv2(self.act(self.conv1(x)))


class EDSR(RestorationNet):
    """EDSR-style SR / restoration network. Paper's EDSR-baseline is n_feats=64, n_blocks=16."""

    def __init__(self, scale: int, n_feats: int = 32, n_blocks: int = 4, res_scale: float = 1.0) -> None:
        super().__init__(scale, n_feats=n_feats, n_blocks=n_blocks, res_scale=res_scale)
        self.head = conv3x3(3, n_feats)
        self.body = ResidualTrunk([ResBlock(n_feats, res_scale) for _ in range(n_blocks)], n_feats)
        self.tail = nn.Sequential(pixel_shuffle_upsampler(n_feats, scale), conv3x3(n_feats, 3))

    def forward_features(self, x):
        h, features = self.body(self.head(x))
        return self.tail(h), features


class EDSROfficial(EDSR):
    """The official EDSR (see the module docstring); EDSR-baseline by default."""

    has_global_skip = False

    def __init__(self, scale: int, n_feats: int = 64, n_blocks: int = 16, res_scale: float = 1.0) -> None:
        super().__init__(scale, n_feats=n_feats, n_blocks=n_blocks, res_scale=res_scale)
        self.register_buffer("rgb_mean", torch.tensor(DIV2K_RGB_MEAN).view(1, 3, 1, 1) * RGB_RANGE)

    def forward_features(self, x):
        out, features = super().forward_features(x * RGB_RANGE - self.rgb_mean)
        return (out + self.rgb_mean) / RGB_RANGE, features
