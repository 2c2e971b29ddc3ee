"""The rgb_array panel of SparkKD: the four difficulty channels, the weight map, and student / teacher / ground
truth of the current crop."""
from __future__ import annotations

import cv2
import numpy as np
import torch

from spark_env.difficulty import CHANNEL_TITLES

TILE = 128


def _heatmap(grid: np.ndarray, low: float, high: float) -> np.ndarray:
    scaled = np.clip((grid - low) / max(high - low, 1e-12), 0, 1)
    tile = cv2.resize((scaled * 255).astype(np.uint8), (TILE, TILE), interpolation=cv2.INTER_NEAREST)
    return cv2.cvtColor(cv2.applyColorMap(tile, cv2.COLORMAP_VIRIDIS), cv2.COLOR_BGR2RGB)


def _photo(image: torch.Tensor) -> np.ndarray:
    array = (image.detach().cpu().clamp(0, 1).numpy().transpose(1, 2, 0) * 255).round().astype(np.uint8)
    return cv2.resize(array, (TILE, TILE), interpolation=cv2.INTER_NEAREST)


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    tile = tile.copy()
    cv2.rectangle(tile, (0, 0), (TILE, 14), (0, 0, 0), -1)
    cv2.putText(tile, text, (2, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def render_panel(observation: np.ndarray, weights: np.ndarray, student: torch.Tensor, teacher: torch.Tensor,
                 target: torch.Tensor) -> np.ndarray:
    """(2*128, 4*128, 3) uint8 image. ``observation`` (4, 8, 8) in [0, 1]; ``weights`` (8, 8); images (3, H, W)."""
    top = [_label(_heatmap(observation[c], 0.0, max(float(observation[c].max()), 1e-6)), title)
           for c, title in enumerate(CHANNEL_TITLES)]
    bottom = [_label(_heatmap(weights, 0.0, max(float(weights.max()), 1.0)), f"weights max {weights.max():.2f}"),
              _label(_photo(student), "student"), _label(_photo(teacher), "teacher"),
              _label(_photo(target), "ground truth")]
    return np.concatenate([np.concatenate(top, 1), np.concatenate(bottom, 1)], 0)
