from pathlib import Path

import numpy as np
import pytest

from spark_env.data import load_pairs, random_crop, write_image
from spark_env.data.io import read_image
from spark_env.errors import DatasetError


def make_images(folder: Path, names: list[str], size: tuple[int, int], rng) -> None:
    for name in names:
        write_image(folder / name, rng.random((*size, 3)).astype(np.float32))


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_pairs("sr_x2", folder=tmp_path / "Set5")


def test_empty_folder_is_named(tmp_path):
    with pytest.raises(DatasetError, match=f"no images .* '{tmp_path}'"):
        load_pairs("sr_x2", folder=tmp_path)


def test_corrupt_image_is_named(tmp_path, rng):
    make_images(tmp_path, ["good.png"], (24, 24), rng)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    with pytest.raises(DatasetError, match="could not decode image .*broken.png.*corrupt"):
        load_pairs("sr_x2", folder=tmp_path)


def test_missing_image_file_is_named(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        read_image(tmp_path / "nope.png")


def test_image_smaller_than_crop_is_named(tmp_path, rng):
    make_images(tmp_path, ["small.png"], (20, 20), rng)
    pair = load_pairs("sr_x2", folder=tmp_path)[0]
    with pytest.raises(DatasetError, match="'small' is 10x10, smaller than the crop size 16x16"):
        random_crop(pair, 16, 2, rng)


def test_hr_only_folder_generates_lr(tmp_path, rng):
    make_images(tmp_path / "HR", ["a.png", "b.png"], (30, 41), rng)
    pairs = load_pairs("sr_x3", folder=tmp_path)
    assert [p.name for p in pairs] == ["a", "b"]
    assert pairs[0].hr.shape == (30, 39, 3) and pairs[0].lq.shape == (10, 13, 3)


def test_div2k_layout_uses_shipped_lr(tmp_path, rng):
    make_images(tmp_path / "DIV2K_valid_HR", ["0801.png"], (32, 32), rng)
    lr = np.full((16, 16, 3), 0.5, np.float32)
    write_image(tmp_path / "DIV2K_valid_LR_bicubic" / "X2" / "0801x2.png", lr)
    pair = load_pairs("sr_x2", folder=tmp_path)[0]
    np.testing.assert_allclose(pair.lq, np.round(0.5 * 255) / 255, atol=1e-6)


def test_lr_with_wrong_size_is_named(tmp_path, rng):
    make_images(tmp_path / "HR", ["baby.png"], (32, 32), rng)
    make_images(tmp_path / "LR_bicubic" / "X2", ["babyx2.png"], (10, 10), rng)
    with pytest.raises(DatasetError, match="LR image .*babyx2.png' is 10x10.*needs 16x16"):
        load_pairs("sr_x2", folder=tmp_path)


def test_grey_and_alpha_images_become_rgb(tmp_path):
    import cv2
    cv2.imwrite(str(tmp_path / "grey.png"), np.full((8, 8), 128, np.uint8))
    cv2.imwrite(str(tmp_path / "rgba.png"), np.full((8, 8, 4), 255, np.uint8))
    assert read_image(tmp_path / "grey.png").shape == (8, 8, 3)
    assert read_image(tmp_path / "rgba.png").shape == (8, 8, 3)
