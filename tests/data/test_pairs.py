"""Image pairs kept as 8-bit codes where that is exact: the same float32 values, a quarter of the memory."""
import numpy as np
import pytest

from spark_env.data import get_task, load_pairs, make_pair, random_crop, write_image
from spark_env.data.io import read_image
from spark_env.data.pairs import pack_8bit, unpack


def test_8bit_content_packs_to_codes_that_decode_to_the_same_floats(rng):
    codes = rng.integers(0, 256, (17, 23, 3)).astype(np.uint8)
    image = codes.astype(np.float32) / 255.0  # how read_image and the SR / JPEG degradations make 8-bit floats
    packed = pack_8bit(image)
    assert packed.dtype == np.uint8 and np.array_equal(packed, codes)
    assert unpack(packed).dtype == np.float32 and np.array_equal(unpack(packed), image)


@pytest.mark.parametrize("change", [lambda x: x + np.float32(1e-4), lambda x: x * np.float32(1.5),
                                    lambda x: np.where(x > 0.5, np.nan, x).astype(np.float32)])
def test_other_content_stays_float32_unchanged(rng, change):
    image = change(rng.integers(0, 256, (9, 11, 3)).astype(np.float32) / 255.0)
    packed = pack_8bit(image)
    assert packed.dtype == np.float32
    np.testing.assert_array_equal(unpack(packed), image)


def test_sr_pairs_are_packed_and_denoising_inputs_are_not():
    sr = load_pairs("sr_x2", "val")[0]
    assert sr.lq_stored.dtype == np.uint8 and sr.hr_stored.dtype == np.uint8
    noisy = load_pairs("denoise_s25", "val")[0]
    assert noisy.lq_stored.dtype == np.float32 and noisy.hr_stored.dtype == np.uint8


def test_a_packed_pair_yields_the_floats_an_unpacked_one_does(tmp_path, rng):
    write_image(tmp_path / "a.png", rng.random((40, 52, 3)).astype(np.float32))
    hr = read_image(tmp_path / "a.png")
    task = get_task("sr_x2")
    packed = load_pairs(task, folder=tmp_path)[0]
    plain_lq = task.degrade(task.modcrop(hr))
    assert packed.lq_size == plain_lq.shape[:2]
    np.testing.assert_array_equal(packed.lq, plain_lq)
    np.testing.assert_array_equal(packed.hr, task.modcrop(hr))
    lq, crop_hr, (top, left) = random_crop(packed, 8, 2, np.random.default_rng(3))
    np.testing.assert_array_equal(lq, plain_lq[top:top + 8, left:left + 8])
    np.testing.assert_array_equal(crop_hr, hr[top * 2:top * 2 + 16, left * 2:left * 2 + 16])
    assert make_pair("b", hr, task).lq_stored.nbytes * 4 == plain_lq.nbytes
