"""Loading real benchmark folders (DIV2K, Set5, Set14, B100, Urban100) in their usual layouts.

Recognised layouts, for a root folder ``ROOT`` and SR scale ``s``:

* HR images directly in ``ROOT``;
* ``ROOT/HR`` (Set5/Set14/B100/Urban100 as packaged by EDSR / BasicSR), ``ROOT/GTmod12``, ``ROOT/original``;
* ``ROOT/*_HR`` (DIV2K: ``DIV2K_train_HR``, ``DIV2K_valid_HR``).

LR images, when present, are found in ``LR_bicubic/X{s}`` or ``*_LR_bicubic/X{s}`` (DIV2K) or ``LR/X{s}`` under
``ROOT``, named like the HR file with or without an ``x{s}`` suffix (``0801x2.png`` or ``0801.png``). Where no LR
file exists it is generated with the task's degradation (MATLAB bicubic for SR), so a folder of HR images alone is
enough for every task.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from spark_env.data.io import IMAGE_SUFFIXES, read_image, read_image_8bit
from spark_env.errors import DatasetError

HR_SUBFOLDERS = ("HR", "GTmod12", "original")


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def find_hr_folder(root: Path) -> Path:
    """The folder holding the HR images of a benchmark root (see module docstring for the layouts)."""
    if not root.exists():
        raise DatasetError(f"dataset folder '{root}' does not exist")
    if not root.is_dir():
        raise DatasetError(f"dataset path '{root}' is not a folder")
    candidates = [root / name for name in HR_SUBFOLDERS] + sorted(root.glob("*_HR"))
    for candidate in candidates:
        if candidate.is_dir() and _image_files(candidate):
            return candidate
    if _image_files(root):
        return root
    raise DatasetError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in dataset folder '{root}' "
                       f"nor in its subfolders {', '.join(HR_SUBFOLDERS)}, *_HR")


def find_lr_folder(root: Path, scale: int) -> Path | None:
    """The folder of ready-made bicubic LR images for ``scale``, or None when the benchmark has none."""
    patterns = [f"LR_bicubic/X{scale}", f"*_LR_bicubic/X{scale}", f"LR/X{scale}", f"LR_bicubic/x{scale}"]
    for pattern in patterns:
        for candidate in sorted(root.glob(pattern)):
            if candidate.is_dir():
                return candidate
    return None


def _find_lr_file(lr_folder: Path, stem: str, scale: int) -> Path | None:
    for name in (f"{stem}x{scale}", stem):
        for suffix in IMAGE_SUFFIXES:
            path = lr_folder / f"{name}{suffix}"
            if path.is_file():
                return path
    return None


def iter_benchmark_folder(root: str | Path, scale: int = 1) -> Iterator[tuple[str, np.ndarray, np.ndarray | None]]:
    """Read a benchmark folder one image at a time: (name, hr, lr_or_None), images float32 RGB in [0, 1].

    ``lr`` is the ready-made LR image for SR scales when the folder ships one (its size is checked against the
    HR image), else None and the caller degrades the HR image itself. The folder's layout is checked before the
    first image is read.
    """
    root = Path(root)
    hr_folder = find_hr_folder(root)
    lr_folder = find_lr_folder(root, scale) if scale > 1 else None
    return _read_samples(hr_folder, lr_folder, scale)


def _read_samples(hr_folder: Path, lr_folder: Path | None,
                  scale: int) -> Iterator[tuple[str, np.ndarray, np.ndarray | None]]:
    for path in _image_files(hr_folder):
        hr = read_image(path)
        lr = None
        lr_path = _find_lr_file(lr_folder, path.stem, scale) if lr_folder else None
        if lr_path is not None:
            lr = read_image(lr_path)
            expected = (hr.shape[0] // scale, hr.shape[1] // scale)
            if lr.shape[:2] != expected:
                raise DatasetError(f"LR image '{lr_path}' is {lr.shape[0]}x{lr.shape[1]}, but its HR image "
                                   f"'{path}' needs {expected[0]}x{expected[1]} at scale {scale}")
        yield path.stem, hr, lr


def training_images(root: str | Path) -> list[tuple[str, np.ndarray]]:
    """The HR images of a training folder (any layout above, e.g. DIV2K's ``DIV2K_train_HR``) as (name, uint8 RGB
    image) pairs for ``fresh_training_batch``: 8-bit in memory (DIV2K's 800 training images take about 6.6 GB),
    degraded afresh per crop, so ready-made LR files are not read."""
    hr_folder = find_hr_folder(Path(root))
    return [(path.stem, read_image_8bit(path)) for path in _image_files(hr_folder)]
