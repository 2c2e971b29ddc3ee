"""The embedded default data: real photographs shipped with the package, and their fixed splits.

Every photograph, its licence, author, source package and the changes made to it are listed in
``images/manifest.csv`` (rendered as ``images/ATTRIBUTION.md``). Two image sets exist:

=====  ============================================================================  ==============================
set    splits                                                                         env id
=====  ============================================================================  ==============================
v1     train: 13 photographs (whole); val: 4 other photographs (whole; the reward's   ``SparkKD-v2`` (default),
       probe and the validation split read them); test: 24 further photographs of     ``SparkKD-v1`` (earlier probe)
       varied content (faces, animals, foliage, architecture, text, texture, smooth
       gradients, low light, objects), each at most 0.26 megapixels (the 21 new ones at most 0.1). The three
       splits are disjoint by photograph.
v0     train / val: the top 75 % / bottom 25 % of the rows of six photographs         ``SparkKD-v0`` (the earlier
       (chelsea, rocket, hubble_deep_field, camera, brick, grass; the row boundary a   protocol, kept for comparison)
       multiple of 24); test: astronaut, coffee, gravel.
=====  ============================================================================  ==============================

Nothing trains or selects on a test split: it scores the final tables only. The shipped teachers were trained on
the v0 training split (a subset of the v1 training photographs).
"""
from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import numpy as np

from spark_env.data.io import read_image
from spark_env.errors import ConfigError

IMAGE_DIR = Path(__file__).resolve().parent / "images"
MANIFEST = IMAGE_DIR / "manifest.csv"
IMAGE_SETS = ("v1", "v0")
DEFAULT_IMAGE_SET = "v1"
SPLITS = ("train", "val", "test")
VAL_FRACTION = 0.25  # v0: the share of a training photograph's rows that forms its validation region
ROW_ALIGN = 24


@lru_cache(maxsize=None)
def manifest() -> tuple[dict[str, str], ...]:
    """The rows of ``images/manifest.csv``: name, file, v0_split, v1_split, category, content, licence, author,
    source, path_in_package, licence_where, changes. A split lists its photographs in manifest order (the order
    training crops index them)."""
    with MANIFEST.open(newline="") as handle:
        return tuple(csv.DictReader(handle))


def split_names(split: str, image_set: str = DEFAULT_IMAGE_SET) -> tuple[str, ...]:
    """Names of the photographs of one split (v0's train and val splits share their photographs)."""
    check_split(split, image_set)
    wanted = {"v0": {"test": "test"}.get(split, "train+val"), "v1": split}[image_set]
    return tuple(row["name"] for row in manifest() if row[f"{image_set}_split"] == wanted)


def check_split(split: str, image_set: str) -> None:
    if split not in SPLITS:
        raise ConfigError(f"unknown split '{split}'; available: {', '.join(SPLITS)}")
    if image_set not in IMAGE_SETS:
        raise ConfigError(f"unknown image set '{image_set}'; available: {', '.join(IMAGE_SETS)}")


@lru_cache(maxsize=None)
def load_image(name: str) -> np.ndarray:
    """A photograph of the manifest as a read-only float32 RGB (H, W, 3) array in [0, 1]."""
    files = {row["name"]: row["file"] for row in manifest()}
    if name not in files:
        raise ConfigError(f"unknown embedded image '{name}'; available: {', '.join(files)}")
    image = read_image(IMAGE_DIR / files[name])
    image.setflags(write=False)
    return image


def split_row(height: int) -> int:
    """v0: first row of the validation region of a training photograph of the given height."""
    return int(height * (1.0 - VAL_FRACTION)) // ROW_ALIGN * ROW_ALIGN


def embedded_images(split: str, image_set: str = DEFAULT_IMAGE_SET) -> list[tuple[str, np.ndarray]]:
    """(name, image) pairs of one split of an image set; images are read-only float32 RGB (H, W, 3) in [0, 1]."""
    names = split_names(split, image_set)
    if image_set == "v1" or split == "test":
        return [(name, load_image(name)) for name in names]
    regions = []
    for name in names:
        image = load_image(name)
        row = split_row(image.shape[0])
        regions.append((f"{name}[{split}]", image[:row] if split == "train" else image[row:]))
    return regions
