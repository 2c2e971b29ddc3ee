"""Named image-restoration tasks: how a clean (HR) image becomes the degraded network input.

=============  =====  ===============================================================================
task name      scale  degradation
=============  =====  ===============================================================================
sr_x2/x3/x4    2/3/4  MATLAB bicubic downscaling with antialiasing (``resize.imresize``), rounded to 8 bit
denoise_s15    1      additive white Gaussian noise, sigma 15/255 per RGB channel, not clipped (DnCNN
denoise_s25           convention for synthetic AWGN)
denoise_s50
jpeg_q10/20/40 1      colour JPEG round trip through OpenCV's libjpeg at quality 10/20/40
=============  =====  ===============================================================================

For SR the HR image is first cropped to a multiple of the scale ("modcrop") so that HR and LR align exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from spark_env.data.io import quantize_8bit
from spark_env.data.resize import imresize
from spark_env.errors import ConfigError


@dataclass(frozen=True)
class Task:
    """One degradation. ``scale`` is output size / input size of the restoration network (1 for denoise and JPEG)."""

    name: str
    kind: str  # "sr", "denoise" or "jpeg"
    scale: int = 1
    level: float = 0.0  # noise sigma in 8-bit units, or JPEG quality

    def modcrop(self, hr: np.ndarray) -> np.ndarray:
        """Crop an (H, W, C) image so both sides are multiples of the scale."""
        height, width = hr.shape[:2]
        return hr[: height - height % self.scale, : width - width % self.scale]

    def degrade(self, hr: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Degrade a (H, W, 3) float RGB image (already modcropped for SR) into the network input.

        ``rng`` draws the noise of denoising tasks (required there); the other tasks are deterministic.
        """
        if self.kind == "sr":
            if hr.shape[0] % self.scale or hr.shape[1] % self.scale:
                raise ValueError(f"{self.name}: HR size {hr.shape[:2]} is not a multiple of {self.scale}; "
                                 "call task.modcrop first")
            return quantize_8bit(imresize(hr, 1.0 / self.scale))
        if self.kind == "denoise":
            if rng is None:
                raise ValueError(f"{self.name}: degrade() needs an rng to draw the noise")
            noise = rng.standard_normal(hr.shape, dtype=np.float32) * np.float32(self.level / 255.0)
            return (hr + noise).astype(np.float32)
        bgr = cv2.cvtColor(np.clip(np.round(hr * 255.0), 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
        ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(self.level)])
        if not ok:
            raise RuntimeError(f"{self.name}: OpenCV failed to JPEG-encode an image of shape {hr.shape}")
        decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
        return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0

    def baseline(self, lq: np.ndarray) -> np.ndarray:
        """The no-learning reference output: bicubic upscaling for SR, the degraded input itself otherwise."""
        if self.kind == "sr":
            return imresize(lq, float(self.scale))
        return lq

    @property
    def baseline_name(self) -> str:
        return {"sr": "bicubic", "denoise": "noisy input", "jpeg": "JPEG input"}[self.kind]


TASKS: dict[str, Task] = {
    **{f"sr_x{s}": Task(f"sr_x{s}", "sr", scale=s) for s in (2, 3, 4)},
    **{f"denoise_s{s}": Task(f"denoise_s{s}", "denoise", level=float(s)) for s in (15, 25, 50)},
    **{f"jpeg_q{q}": Task(f"jpeg_q{q}", "jpeg", level=float(q)) for q in (10, 20, 40)},
}


def get_task(name: str) -> Task:
    """Look a task up by name; an unknown name raises ConfigError listing the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown task '{name}'; available: {', '.join(TASKS)}") from None
