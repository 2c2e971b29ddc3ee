"""Reading images from disk with clear errors, and converting between numpy images and torch tensors.

Images inside spark_env are float32 numpy arrays of shape (H, W, 3), RGB, values in [0, 1] (degraded inputs such as
noisy images may leave that range). Grey images are replicated to three channels; alpha channels are dropped.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from spark_env.errors import DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def _decode_rgb(path: str | Path) -> np.ndarray:
    """The file's pixels as RGB (H, W, 3), uint8 or uint16 as stored."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"image file '{path}' does not exist")
    raw = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED) if raw.size else None
    if image is None:
        raise DatasetError(f"could not decode image '{path}': the file is corrupt or not an image "
                           f"(readable formats: {', '.join(IMAGE_SUFFIXES)})")
    if image.dtype not in (np.uint8, np.uint16):
        raise DatasetError(f"image '{path}' has unsupported pixel type {image.dtype}; allowed: uint8, uint16")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as float32 RGB in [0, 1], shape (H, W, 3).

    Raises:
        DatasetError: the file does not exist, or cannot be decoded as an image (corrupt or not an image).
    """
    image = _decode_rgb(path)
    scale = 65535.0 if image.dtype == np.uint16 else 255.0
    return np.ascontiguousarray(image.astype(np.float32) / scale)


def read_image_8bit(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 RGB (H, W, 3) (16-bit files rounded to 8 bits): a quarter of the memory of
    ``read_image``, for large training sets kept in memory. Errors as ``read_image``."""
    image = _decode_rgb(path)
    if image.dtype == np.uint16:
        image = np.round(image.astype(np.float32) / 257.0).astype(np.uint8)
    return np.ascontiguousarray(image)


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write a float RGB image in [0, 1] (values are clipped) as an 8-bit file; the suffix picks the format."""
    array = np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(array, cv2.COLOR_RGB2BGR)):
        raise DatasetError(f"could not write image '{path}' (allowed suffixes: {', '.join(IMAGE_SUFFIXES)})")


def quantize_8bit(image: np.ndarray) -> np.ndarray:
    """Round to the 256 levels of an 8-bit file, as a degraded input stored as PNG would be."""
    return (np.clip(np.round(image * 255.0), 0, 255) / 255.0).astype(np.float32)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) float image -> (1, 3, H, W) float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).unsqueeze(0).float()


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) tensor -> (H, W, 3) float32 numpy image (not clipped)."""
    if tensor.dim() == 4:
        if tensor.shape[0] != 1:
            raise ValueError(f"to_image takes one image, got a batch of {tensor.shape[0]}")
        tensor = tensor[0]
    return tensor.detach().cpu().float().numpy().transpose(1, 2, 0).copy()
