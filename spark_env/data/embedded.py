"""The embedded default dataset: nine CC0 / public-domain photographs shipped with the package (see
``images/ATTRIBUTION.md``), and its fixed split.

=========  ==============================================================  ==================================
split      images                                                          used for
=========  ==============================================================  ==================================
train      top 75 % of chelsea, rocket, hubble_deep_field, camera, brick,  teacher training, QAT crops
           grass (rows ``[0, b)``, ``b`` a multiple of 24)
val        bottom 25 % of the same six images (rows ``[b, H)``)            rewards (probe set), early choices
test       astronaut, coffee, gravel, whole                                every reported table; nothing
                                                                           trains or selects on them
=========  ==============================================================  ==================================

Train and validation regions of one image never overlap; test images are different photographs altogether.
The row boundary is a multiple of 24 so that it is aligned for every SR scale (2, 3, 4) and for 8x8 JPEG blocks.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from spark_env.data.io import read_image
from spark_env.errors import ConfigError

IMAGE_DIR = Path(__file__).resolve().parent / "images"
IMAGE_FILES = {
    "astronaut": "astronaut.png", "chelsea": "chelsea.png", "coffee": "coffee.png", "rocket": "rocket.jpg",
    "hubble_deep_field": "hubble_deep_field.jpg", "camera": "camera.png", "brick": "brick.png",
    "grass": "grass.png", "gravel": "gravel.png",
}
TRAIN_IMAGES = ("chelsea", "rocket", "hubble_deep_field", "camera", "brick", "grass")
TEST_IMAGES = ("astronaut", "coffee", "gravel")
SPLITS = ("train", "val", "test")
VAL_FRACTION = 0.25
ROW_ALIGN = 24


@lru_cache(maxsize=None)
def _load(name: str) -> np.ndarray:
    image = read_image(IMAGE_DIR / IMAGE_FILES[name])
    image.setflags(write=False)
    return image


def split_row(height: int) -> int:
    """First row of the validation region of a training image of the given height."""
    return int(height * (1.0 - VAL_FRACTION)) // ROW_ALIGN * ROW_ALIGN


def embedded_images(split: str) -> list[tuple[str, np.ndarray]]:
    """(name, image) pairs of one split; images are read-only float32 RGB (H, W, 3) in [0, 1]."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split '{split}'; available: {', '.join(SPLITS)}")
    if split == "test":
        return [(name, _load(name)) for name in TEST_IMAGES]
    regions = []
    for name in TRAIN_IMAGES:
        image = _load(name)
        row = split_row(image.shape[0])
        regions.append((f"{name}[{split}]", image[:row] if split == "train" else image[row:]))
    return regions
