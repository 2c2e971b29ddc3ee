"""The embedded image sets: every photograph licensed and attributed, splits disjoint by photograph (v1) or by
rows (v0), images of modest size, and the package within its size budget."""

import numpy as np
import pytest

from spark_env.data import IMAGE_SETS, SPLITS, embedded_images, split_names
from spark_env.data.embedded import IMAGE_DIR, ROW_ALIGN, load_image, manifest, split_row
from spark_env.errors import ConfigError

CLEAN_LICENCES = {"CC0-1.0", "public-domain", "CC-BY-2.0", "CC-BY-4.0", "CC-BY-SA-3.0", "CC-BY-SA-4.0"}


def test_every_image_file_is_in_the_manifest_with_a_licence_and_an_attribution_line():
    rows = manifest()
    listed = {row["file"] for row in rows}
    shipped = {str(p.relative_to(IMAGE_DIR)) for p in IMAGE_DIR.rglob("*") if p.suffix in (".png", ".jpg")}
    assert shipped == listed
    attribution = (IMAGE_DIR / "ATTRIBUTION.md").read_text().splitlines()
    for row in rows:
        assert row["licence"] in CLEAN_LICENCES, row
        assert row["author"] and row["source"] and row["path_in_package"], row
        line = next(line for line in attribution if line.startswith(f"| {row['file']} |"))
        assert row["licence"] in line and row["author"].replace("|", "/") in line
    assert not any("opencv" in row["source"].lower() for row in rows)  # OpenCV's samples are an external check


def test_v1_splits_are_disjoint_by_photograph_and_by_pixels():
    names = {split: set(split_names(split, "v1")) for split in SPLITS}
    assert len(names["test"]) >= 20 and len(names["train"]) > 6 and len(names["val"]) >= 4
    assert not names["train"] & names["val"] and not names["train"] & names["test"] and not names["val"] & names["test"]
    pixels = {split: {load_image(n).tobytes() for n in names[split]} for split in SPLITS}
    assert not pixels["train"] & pixels["val"] and not (pixels["train"] | pixels["val"]) & pixels["test"]


def test_v1_test_split_is_varied_and_each_image_modest():
    rows = [row for row in manifest() if row["v1_split"] == "test"]
    categories = {row["category"] for row in rows}
    assert {"faces", "animals", "foliage", "architecture", "text", "texture", "smooth", "lowlight",
            "objects"} <= categories
    for row in rows:
        height, width = load_image(row["name"]).shape[:2]
        assert height * width <= 0.27e6, row["name"]


def test_the_package_ships_at_most_30_mb_of_images():
    assert sum(p.stat().st_size for p in IMAGE_DIR.rglob("*") if p.is_file()) <= 30e6


def test_v0_train_and_val_regions_partition_each_training_image_without_overlap():
    names = split_names("train", "v0")
    train, val = embedded_images("train", "v0"), embedded_images("val", "v0")
    assert names == ("chelsea", "rocket", "hubble_deep_field", "camera", "brick", "grass")
    assert split_names("test", "v0") == ("astronaut", "coffee", "gravel")
    for name, (_, top), (_, bottom) in zip(names, train, val):
        full = load_image(name)
        row = split_row(full.shape[0])
        assert row % ROW_ALIGN == 0 and 0 < row < full.shape[0]
        np.testing.assert_array_equal(np.concatenate([top, bottom]), full)
        assert top.shape[0] == row and bottom.shape[0] == full.shape[0] - row


@pytest.mark.parametrize("image_set", IMAGE_SETS)
@pytest.mark.parametrize("split", SPLITS)
def test_split_images_are_rgb_floats_in_unit_range(split, image_set):
    for name, image in embedded_images(split, image_set):
        assert image.dtype == np.float32 and image.ndim == 3 and image.shape[2] == 3, name
        assert 0.0 <= image.min() and image.max() <= 1.0
        assert not image.flags.writeable


def test_unknown_split_or_image_set_names_the_allowed_ones():
    with pytest.raises(ConfigError, match="unknown split 'training'.*train, val, test"):
        embedded_images("training")
    with pytest.raises(ConfigError, match="unknown image set 'v2'; available: v1, v0"):
        embedded_images("test", "v2")
