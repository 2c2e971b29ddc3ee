"""SRResNet-style network (Ledig et al., 2017) without batch norm: 9x9 head, PReLU residual blocks."""
from __future__ import annotations

import torch
from torch import nn

from spark_env.models.common import ResidualTrunk, RestorationNet, conv3x3, pixel_shuffle_upsampler


class PReLUBlock(nn.Module):
    """conv - PReLU - conv, added to the input (SRResNet's block, batch norm removed as in later SR work)."""

    def __init__(self, n_feats: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(n_feats, n_feats)
        self.act = nn.PReLU(n_feats)
        self.conv2 = conv3x3(n_feats, n_feats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


class SRResNet(RestorationNet):
    """SRResNet-style network. The original has n_feats=64, n_blocks=16."""

    def __init__(self, scale: int, n_feats: int = 32, n_blocks: int = 4) -> None:
        super().__init__(scale, n_feats=n_feats, n_blocks=n_blocks)
        self.head = nn.Sequential(nn.Conv2d(3, n_feats, 9, padding=4), nn.PReLU(n_feats))
        self.body = ResidualTrunk([PReLUBlock(n_feats) for _ in range(n_blocks)], n_feats)
        self.tail = nn.Sequential(pixel_shuffle_upsampler(n_feats, scale, act=nn.ReLU),
                                  nn.Conv2d(n_feats, 3, 9, padding=4))

    def forward_features(self, x):
        h, features = self.body(self.head(x))
        return self.tail(h), features
