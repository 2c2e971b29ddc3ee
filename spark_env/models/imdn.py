"""IMDN-style lightweight network (Hui et al., 2019): information multi-distillation blocks with contrast-aware
channel attention, and a one-convolution sub-pixel tail."""
from __future__ import annotations

import torch
from torch import nn

from spark_env.models.common import RestorationNet, conv3x3, run_blocks


class ContrastChannelAttention(nn.Module):
    """CCA: channel weights from the per-channel contrast (std + mean) through a 1x1 bottleneck."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.gate = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(hidden, channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True).add(1e-8).sqrt()
        return x * self.gate(mean + std)


class IMDBlock(nn.Module):
    """Three progressive refinement steps, each keeping ``distilled`` channels aside; fused by CCA and a 1x1 conv."""

    def __init__(self, n_feats: int, distill_rate: float) -> None:
        super().__init__()
        self.distilled = max(int(n_feats * distill_rate), 1)
        self.remaining = n_feats - self.distilled
        self.c1 = conv3x3(n_feats, n_feats)
        self.c2 = conv3x3(self.remaining, n_feats)
        self.c3 = conv3x3(self.remaining, n_feats)
        self.c4 = conv3x3(self.remaining, self.distilled)
        self.act = nn.LeakyReLU(0.05, inplace=True)
        self.cca = ContrastChannelAttention(self.distilled * 4)
        self.fuse = nn.Conv2d(self.distilled * 4, n_feats, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept = []
        h = x
        for conv in (self.c1, self.c2, self.c3):
            d, h = torch.split(self.act(conv(h)), (self.distilled, self.remaining), dim=1)
            kept.append(d)
        kept.append(self.c4(h))
        return x + self.fuse(self.cca(torch.cat(kept, dim=1)))


class IMDNBody(nn.Module):
    def __init__(self, n_feats: int, n_blocks: int, distill_rate: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(IMDBlock(n_feats, distill_rate) for _ in range(n_blocks))
        self.fuse = nn.Sequential(nn.Conv2d(n_feats * n_blocks, n_feats, 1), nn.LeakyReLU(0.05, inplace=True),
                                  conv3x3(n_feats, n_feats))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        _, features = run_blocks(self.blocks, x)
        return x + self.fuse(torch.cat(features, dim=1)), features


class IMDN(RestorationNet):
    """IMDN-style network. The original has n_feats=64, n_blocks=6."""

    def __init__(self, scale: int, n_feats: int = 32, n_blocks: int = 3, distill_rate: float = 0.25) -> None:
        super().__init__(scale, n_feats=n_feats, n_blocks=n_blocks, distill_rate=distill_rate)
        self.head = conv3x3(3, n_feats)
        self.body = IMDNBody(n_feats, n_blocks, distill_rate)
        self.tail = nn.Sequential(conv3x3(n_feats, 3 * scale * scale), nn.PixelShuffle(scale))

    def forward_features(self, x):
        h, features = self.body(self.head(x))
        return self.tail(h), features
