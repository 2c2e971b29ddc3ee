import numpy as np
import pytest

from spark_env.data import SPLITS, TEST_IMAGES, TRAIN_IMAGES, embedded_images
from spark_env.data.embedded import IMAGE_DIR, IMAGE_FILES, ROW_ALIGN, _load, split_row
from spark_env.errors import ConfigError


def test_every_embedded_image_ships_with_attribution():
    attribution = (IMAGE_DIR / "ATTRIBUTION.md").read_text()
    for filename in IMAGE_FILES.values():
        assert (IMAGE_DIR / filename).is_file()
        assert filename in attribution


def test_test_images_are_not_training_images():
    assert set(TEST_IMAGES).isdisjoint(TRAIN_IMAGES)
    assert set(TEST_IMAGES) | set(TRAIN_IMAGES) == set(IMAGE_FILES)
    train_pixels = {_load(name).tobytes() for name in TRAIN_IMAGES}
    for name in TEST_IMAGES:
        assert _load(name).tobytes() not in train_pixels


def test_train_and_val_regions_partition_each_training_image_without_overlap():
    train, val = embedded_images("train"), embedded_images("val")
    assert len(train) == len(val) == len(TRAIN_IMAGES)
    for name, (_, top), (_, bottom) in zip(TRAIN_IMAGES, train, val):
        full = _load(name)
        row = split_row(full.shape[0])
        assert row % ROW_ALIGN == 0 and 0 < row < full.shape[0]
        assert top.shape[0] + bottom.shape[0] == full.shape[0]
        np.testing.assert_array_equal(np.concatenate([top, bottom]), full)
        # the regions are separate memory ranges of the image: no row is in both
        assert top.shape[0] == row and bottom.shape[0] == full.shape[0] - row


@pytest.mark.parametrize("split", SPLITS)
def test_split_images_are_rgb_floats_in_unit_range(split):
    for name, image in embedded_images(split):
        assert image.dtype == np.float32 and image.ndim == 3 and image.shape[2] == 3, name
        assert 0.0 <= image.min() and image.max() <= 1.0
        assert not image.flags.writeable


def test_unknown_split_names_the_allowed_ones():
    with pytest.raises(ConfigError, match="unknown split 'training'.*train, val, test"):
        embedded_images("training")
