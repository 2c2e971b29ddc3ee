import numpy as np
import pytest
from PIL import Image

from spark_env.data import imresize


def pillow_bicubic(channel: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Pillow's antialiased bicubic (a=-0.5) on a float image: an independent implementation of the same filter."""
    return np.asarray(Image.fromarray(channel.astype(np.float32), mode="F").resize(size, Image.BICUBIC))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_downscaling_matches_pillow_away_from_borders(scale, rng):
    image = rng.random((96, 120)).astype(np.float32)
    ours = imresize(image, 1.0 / scale)
    theirs = pillow_bicubic(image, (120 // scale, 96 // scale))
    assert ours.shape == theirs.shape == (96 // scale, 120 // scale)
    margin = 3
    np.testing.assert_allclose(ours[margin:-margin, margin:-margin], theirs[margin:-margin, margin:-margin],
                               atol=1e-5)


def test_upscaling_matches_pillow_away_from_borders(rng):
    image = rng.random((20, 24)).astype(np.float32)
    np.testing.assert_allclose(imresize(image, 2.0)[4:-4, 4:-4], pillow_bicubic(image, (48, 40))[4:-4, 4:-4],
                               atol=1e-5)


def test_constant_image_stays_constant_including_borders():
    out = imresize(np.full((30, 30, 3), 0.3, np.float32), 1 / 3)
    assert out.shape == (10, 10, 3)
    np.testing.assert_allclose(out, 0.3, atol=1e-6)


def test_bad_scale_is_rejected():
    with pytest.raises(ValueError, match="positive finite"):
        imresize(np.zeros((4, 4)), 0.0)
