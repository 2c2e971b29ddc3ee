"""The training images of a QAT run: aligned crops with their cached teacher output and static difficulty map.

The frozen teacher's output and the static Laplacian map of a training image are computed once, on the image's
first use, and kept in a process-wide cache keyed by (teacher, task, data, device, precision): every session of a
grid that shares them pays the teacher forward pass once (the last ``SHARED_IMAGE_CACHES`` keys are kept).

Memory per image (what paper-scale training sets of hundreds of DIV2K photographs need): the pair as 8-bit codes
where that is exact (``spark_env.data.pairs.pack_8bit``), the teacher's output in ``teacher_dtype`` (float32, or
float16 at half the memory) and one float32 map at the input's size (``experiments/bench_memory.py`` measures it).
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from spark_env.data import ImagePair
from spark_env.data.io import to_tensor
from spark_env.data.pairs import check_crop_fits, random_crop
from spark_env.difficulty import StaticDifficulty

SHARED_IMAGE_CACHES = 4
_image_caches: OrderedDict[tuple, dict[int, "TrainingImage"]] = OrderedDict()


@dataclass
class CropBatch:
    """Aligned training crops; tensors on the session's device, ``c`` the crop side in LR pixels, ``s`` the scale."""

    lq: torch.Tensor            # (N, 3, c, c) degraded input
    hr: torch.Tensor            # (N, 3, c*s, c*s) ground truth
    teacher: torch.Tensor       # (N, 3, c*s, c*s) cached teacher output
    static_grid: torch.Tensor   # (N, 2, 8, 8) raw Laplacian / pixel variance (CPU)


@dataclass
class TrainingImage:
    """One training pair with the teacher's output on it ((3, H, W), CPU, float32 or float16) and its static
    difficulty map."""

    pair: ImagePair
    teacher: torch.Tensor
    static: StaticDifficulty


def _shared_cache(key: tuple) -> dict[int, TrainingImage]:
    if key not in _image_caches:
        _image_caches[key] = {}
        while len(_image_caches) > SHARED_IMAGE_CACHES:
            _image_caches.popitem(last=False)
    _image_caches.move_to_end(key)
    return _image_caches[key]


class TrainingSet:
    """Samples aligned training crops of side ``crop_size`` (LR pixels) from ``pairs``.

    ``teacher_output(lq)`` maps a (1, 3, h, w) input to the frozen teacher's (1, 3, H, W) output, kept in
    ``teacher_dtype`` (crops are served as float32); ``cache_key`` names what the cached outputs depend on
    (sessions with equal keys share them; the precision is added to it).
    """

    def __init__(self, pairs: list[ImagePair], crop_size: int, scale: int, device: torch.device,
                 teacher_output: Callable[[torch.Tensor], torch.Tensor], cache_key: tuple,
                 teacher_dtype: torch.dtype = torch.float32) -> None:
        for pair in pairs:
            check_crop_fits(pair.name, *pair.lq_size, crop_size)
        self.pairs = pairs
        self.crop_size = crop_size
        self.scale = scale
        self.device = device
        self._teacher_output = teacher_output
        self._teacher_dtype = teacher_dtype
        self._images = _shared_cache((*cache_key, str(teacher_dtype)))

    def image(self, index: int) -> TrainingImage:
        """Training image ``index`` with its teacher output and static Laplacian map (computed on first use)."""
        if index not in self._images:
            pair = self.pairs[index]
            lq = pair.lq
            teacher = self._teacher_output(to_tensor(lq))[0].to("cpu", self._teacher_dtype)
            self._images[index] = TrainingImage(pair, teacher, StaticDifficulty(lq))
        return self._images[index]

    def sample(self, count: int, rng: np.random.Generator) -> CropBatch:
        """``count`` random crops: for each, an image index then a position, drawn from ``rng``."""
        size, scale = self.crop_size, self.scale
        lq, hr, teacher, static = [], [], [], []
        for _ in range(count):
            image = self.image(int(rng.integers(0, len(self.pairs))))
            lq_crop, hr_crop, (top, left) = random_crop(image.pair, size, scale, rng)
            lq.append(to_tensor(lq_crop)[0])
            hr.append(to_tensor(hr_crop)[0])
            teacher.append(image.teacher[:, top * scale:(top + size) * scale, left * scale:(left + size) * scale])
            static.append(image.static.grid(top, left, lq[-1]))
        return CropBatch(torch.stack(lq).to(self.device), torch.stack(hr).to(self.device),
                         torch.stack(teacher).to(self.device, torch.float32), torch.stack(static))
