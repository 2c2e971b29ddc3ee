"""Aligned (degraded input, clean target) pairs and random crops of them."""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from spark_env.data.embedded import DEFAULT_IMAGE_SET, embedded_images
from spark_env.data.folders import iter_benchmark_folder
from spark_env.data.tasks import Task, get_task
from spark_env.errors import DatasetError


def pack_8bit(image: np.ndarray) -> np.ndarray:
    """A float32 image as uint8 codes when every value is some ``k / 255`` (then ``unpack`` returns the same float32
    values), else the image itself (any other dtype too): a quarter of the memory for 8-bit content."""
    if image.dtype != np.float32:
        return image
    codes = np.clip(np.round(image * np.float32(255.0)), 0, 255).astype(np.uint8)
    return codes if np.array_equal(unpack(codes), image) else image


def unpack(stored: np.ndarray) -> np.ndarray:
    """float32 values of an array that ``pack_8bit`` returned (uint8 codes decode as ``k / 255`` in float32)."""
    if stored.dtype == np.uint8:
        return stored.astype(np.float32) / np.float32(255.0)
    return stored


@dataclass(frozen=True)
class ImagePair:
    """One image of a dataset: ``lq`` (h, w, 3) is the network input, ``hr`` (h*s, w*s, 3) the target.

    Both are float32 RGB. They are stored as given, or as 8-bit codes when ``make_pair`` packed them
    (``pack_8bit``): ``lq`` / ``hr`` then decode the whole image on each access, ``crop`` only the crop.
    """

    name: str
    lq_stored: np.ndarray
    hr_stored: np.ndarray

    @property
    def lq(self) -> np.ndarray:
        return unpack(self.lq_stored)

    @property
    def hr(self) -> np.ndarray:
        return unpack(self.hr_stored)

    @property
    def lq_size(self) -> tuple[int, int]:
        """(height, width) of the input in pixels."""
        return self.lq_stored.shape[0], self.lq_stored.shape[1]

    def crop(self, top: int, left: int, lq_size: int, scale: int) -> tuple[np.ndarray, np.ndarray]:
        """The aligned float32 crops (lq (lq_size, lq_size, 3), hr (lq_size*scale, ...)) at LR position (top, left)."""
        lq = self.lq_stored[top:top + lq_size, left:left + lq_size]
        hr = self.hr_stored[top * scale:(top + lq_size) * scale, left * scale:(left + lq_size) * scale]
        return unpack(lq), unpack(hr)


def image_rng(seed: int, name: str) -> np.random.Generator:
    """The generator for one image's random degradation: fixed by (seed, image name), independent of order."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def make_pair(name: str, hr: np.ndarray, task: Task, seed: int = 0, lq: np.ndarray | None = None) -> ImagePair:
    """Modcrop ``hr`` and degrade it with the task (unless a ready-made ``lq`` is given); both are kept as 8-bit
    codes where that loses nothing (``pack_8bit``: SR and JPEG inputs and 8-bit targets; denoising inputs stay float)."""
    hr = task.modcrop(hr)
    if lq is None:
        lq = task.degrade(hr, image_rng(seed, name))
    return ImagePair(name, np.ascontiguousarray(pack_8bit(lq)), np.ascontiguousarray(pack_8bit(hr)))


@lru_cache(maxsize=32)
def _embedded_pairs(task: Task, split: str, seed: int, image_set: str) -> tuple[ImagePair, ...]:
    """The pairs of an embedded split, degraded once per process (read-only arrays: sessions share them)."""
    pairs = tuple(make_pair(name, image, task, seed) for name, image in embedded_images(split, image_set))
    for pair in pairs:
        pair.lq_stored.setflags(write=False)
        pair.hr_stored.setflags(write=False)
    return pairs


def load_pairs(task: Task | str, split: str = "test", folder: str | Path | None = None,
               seed: int = 0, image_set: str = DEFAULT_IMAGE_SET) -> list[ImagePair]:
    """The pairs of a split of an embedded image set, or of a benchmark folder when ``folder`` is given.

    ``seed`` fixes the noise of denoising tasks, so the same (task, split, seed) always gives the same inputs.
    """
    task = get_task(task) if isinstance(task, str) else task
    if folder is None:
        return list(_embedded_pairs(task, split, seed, image_set))
    # one image at a time: each is packed before the next is read, so no float copy of the whole folder exists
    return [make_pair(name, hr, task, seed, lq) for name, hr, lq in iter_benchmark_folder(folder, task.scale)]


def check_crop_fits(name: str, height: int, width: int, crop: int) -> None:
    """Raise DatasetError when an image is smaller than the crop it must yield."""
    if height < crop or width < crop:
        raise DatasetError(f"image '{name}' is {height}x{width}, smaller than the crop size {crop}x{crop}; "
                           "use a smaller crop or drop the image")


def random_crop(pair: ImagePair, lq_size: int, scale: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """An aligned random crop: (lq (lq_size, lq_size, 3), hr (lq_size*scale, ...), (top, left) in lq pixels)."""
    height, width = pair.lq_size
    check_crop_fits(pair.name, height, width, lq_size)
    top = int(rng.integers(0, height - lq_size + 1))
    left = int(rng.integers(0, width - lq_size + 1))
    lq, hr = pair.crop(top, left, lq_size, scale)
    return lq, hr, (top, left)


def augment(hr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random flip / 90-degree rotation (the 8 dihedral transforms), the usual SR training augmentation."""
    hr = np.rot90(hr, int(rng.integers(0, 4)))
    if rng.integers(0, 2):
        hr = hr[:, ::-1]
    return np.ascontiguousarray(hr)


def fresh_training_batch(images: list[tuple[str, np.ndarray]], task: Task, lq_size: int, batch: int,
                         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sample HR crops, augment them and degrade each crop afresh (new noise every time).

    Used for teacher training; images are float32 in [0, 1] or uint8 (spark_env.data.folders.training_images).
    Returns (lq, hr) arrays of shape (batch, 3, lq_size, lq_size) and
    (batch, 3, lq_size*scale, lq_size*scale). HR crops start at multiples of 8*scale so JPEG blocks stay aligned.
    """
    hr_size = lq_size * task.scale
    align = 8 * task.scale
    lq_batch, hr_batch = [], []
    for _ in range(batch):
        name, image = images[int(rng.integers(0, len(images)))]
        check_crop_fits(name, image.shape[0], image.shape[1], hr_size)
        top = int(rng.integers(0, (image.shape[0] - hr_size) // align + 1)) * align
        left = int(rng.integers(0, (image.shape[1] - hr_size) // align + 1)) * align
        crop = image[top:top + hr_size, left:left + hr_size]
        hr = augment(crop.astype(np.float32) / 255.0 if crop.dtype == np.uint8 else crop, rng)
        lq_batch.append(task.degrade(hr, rng).transpose(2, 0, 1))
        hr_batch.append(hr.transpose(2, 0, 1))
    return np.stack(lq_batch).astype(np.float32), np.stack(hr_batch).astype(np.float32)


def crop_batch(pairs: list[ImagePair], lq_size: int, batch: int, scale: int,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``batch`` aligned random crops from random pairs: (lq (B, 3, s, s), hr (B, 3, s*scale, s*scale)) arrays."""
    lqs, hrs = [], []
    for _ in range(batch):
        lq, hr, _ = random_crop(pairs[int(rng.integers(0, len(pairs)))], lq_size, scale, rng)
        lqs.append(lq.transpose(2, 0, 1))
        hrs.append(hr.transpose(2, 0, 1))
    return np.stack(lqs).astype(np.float32), np.stack(hrs).astype(np.float32)
