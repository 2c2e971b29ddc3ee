"""Building blocks shared by the restoration networks.

Every network in this package follows one layout, which the quantization toolkit relies on:

* ``head``: the first convolution(s) from RGB to features (kept in full precision by default when quantizing);
* ``body``: the feature-space trunk (the part the quantized-SR literature quantizes);
* ``tail``: upsampling and the last convolution back to RGB (kept in full precision by default).

``forward(x, return_features=True)`` also returns the list of intermediate body features (one tensor per block)
that feature-distillation baselines match between student and teacher. Every network predicts a residual over a
global skip: the input itself for scale 1, its bilinear upsampling for SR. Inputs and outputs are RGB in [0, 1],
shape (N, 3, H, W) -> (N, 3, H*scale, W*scale).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SCALES = (1, 2, 3, 4)


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=1)


def global_skip(x: torch.Tensor, scale: int) -> torch.Tensor:
    """The global residual path: identity for scale 1, bilinear upsampling otherwise."""
    if scale == 1:
        return x
    return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


def pixel_shuffle_upsampler(n_feats: int, scale: int, act: type[nn.Module] | None = None) -> nn.Sequential:
    """Sub-pixel upsampling of features by ``scale`` (x4 as two x2 stages); empty for scale 1."""
    stages = [2, 2] if scale == 4 else ([scale] if scale > 1 else [])
    layers: list[nn.Module] = []
    for factor in stages:
        layers += [conv3x3(n_feats, n_feats * factor * factor), nn.PixelShuffle(factor)]
        if act is not None:
            layers.append(act())
    return nn.Sequential(*layers)


def run_blocks(blocks: nn.ModuleList, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Apply blocks in sequence; return the last output and every block's output (the KD features)."""
    features = []
    for block in blocks:
        x = block(x)
        features.append(x)
    return x, features


class ResidualTrunk(nn.Module):
    """Blocks, then a 3x3 convolution, plus a long skip from the trunk's input (EDSR / SRResNet body)."""

    def __init__(self, blocks: list[nn.Module], n_feats: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.conv = conv3x3(n_feats, n_feats)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h, features = run_blocks(self.blocks, x)
        return x + self.conv(h), features


class RestorationNet(nn.Module):
    """Base class: holds ``scale`` and the constructor arguments (``config``) needed to rebuild the network.
    ``has_global_skip`` (True) adds the global skip to ``forward_features``' output; a network that reproduces an
    architecture without one (edsr_official) sets it False."""

    has_global_skip = True

    def __init__(self, scale: int, **config: int | float) -> None:
        super().__init__()
        self.scale = scale
        self.config = dict(config)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Residual output before the global skip (the output itself without one), and the body features."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, return_features: bool = False):
        out, features = self.forward_features(x)
        if self.has_global_skip:
            out = out + global_skip(x, self.scale)
        return (out, features) if return_features else out
