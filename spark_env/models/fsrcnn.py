"""FSRCNN-style network (Dong et al., 2016): extract, shrink, map, expand, transposed-convolution upsampling."""
from __future__ import annotations

import torch
from torch import nn

from spark_env.models.common import RestorationNet, conv3x3


class FSRCNNBody(nn.Module):
    """Shrink (1x1) - ``m`` mapping 3x3 convs - expand (1x1), PReLU after each."""

    def __init__(self, d: int, s: int, m: int) -> None:
        super().__init__()
        self.shrink = nn.Sequential(nn.Conv2d(d, s, 1), nn.PReLU(s))
        self.mapping = nn.ModuleList(nn.Sequential(conv3x3(s, s), nn.PReLU(s)) for _ in range(m))
        self.expand = nn.Sequential(nn.Conv2d(s, d, 1), nn.PReLU(d))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h = self.shrink(x)
        features = []
        for layer in self.mapping:
            h = layer(h)
            features.append(h)
        return self.expand(h), features


class FSRCNN(RestorationNet):
    """FSRCNN(d, s, m) on RGB. The original is d=56, s=12, m=4; kernel 9 transposed conv with stride = scale."""

    def __init__(self, scale: int, d: int = 56, s: int = 12, m: int = 4) -> None:
        super().__init__(scale, d=d, s=s, m=m)
        self.head = nn.Sequential(nn.Conv2d(3, d, 5, padding=2), nn.PReLU(d))
        self.body = FSRCNNBody(d, s, m)
        self.tail = nn.ConvTranspose2d(d, 3, 9, stride=scale, padding=4, output_padding=scale - 1)

    def forward_features(self, x):
        h, features = self.body(self.head(x))
        return self.tail(h), features
