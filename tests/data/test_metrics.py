import numpy as np
import pytest
import torch
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from spark_env.data import load_pairs
from spark_env.metrics import psnr, psnr_and_ssim, ssim


def reference_y(image: np.ndarray, border: int) -> np.ndarray:
    """scikit-image's BT.601 luma (an independent implementation), 8-bit rounded output, border shaved."""
    y = rgb2ycbcr(image)[..., 0]
    return y[border:-border, border:-border] if border else y


def eight_bit(image: np.ndarray) -> np.ndarray:
    return np.round(np.clip(image, 0, 1) * 255) / 255


def image_pairs(rng):
    clean = rng.random((40, 36, 3))
    yield clean, eight_bit(clean + rng.normal(0, 0.05, clean.shape))
    pair = load_pairs("sr_x2", "test")[0]
    yield pair.hr.astype(np.float64), eight_bit(pair.hr + rng.normal(0, 0.02, pair.hr.shape))


@pytest.mark.parametrize("border", [0, 2, 4])
def test_psnr_and_ssim_match_scikit_image(border, rng):
    for target, output in image_pairs(rng):
        ref_out, ref_tgt = reference_y(output, border), reference_y(target, border)
        expected_psnr = peak_signal_noise_ratio(ref_tgt, ref_out, data_range=255)
        expected_ssim = structural_similarity(ref_tgt, ref_out, data_range=255, gaussian_weights=True, sigma=1.5,
                                              use_sample_covariance=False)
        assert psnr(output, target, border=border) == pytest.approx(expected_psnr, abs=1e-6)
        assert ssim(output, target, border=border) == pytest.approx(expected_ssim, abs=1e-6)


def test_rgb_mode_matches_scikit_image(rng):
    target, output = next(image_pairs(rng))
    expected = peak_signal_noise_ratio(target * 255, output * 255, data_range=255)
    assert psnr(output, target, y_channel=False) == pytest.approx(expected, abs=1e-6)
    expected_ssim = structural_similarity(target * 255, output * 255, data_range=255, channel_axis=2,
                                          gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert ssim(output, target, y_channel=False) == pytest.approx(expected_ssim, abs=1e-6)


def test_tensor_batches_average_per_image_values(rng):
    target = rng.random((2, 24, 24, 3))
    output = eight_bit(target + rng.normal(0, 0.1, target.shape))
    batch_t = torch.from_numpy(target).permute(0, 3, 1, 2)
    batch_o = torch.from_numpy(output).permute(0, 3, 1, 2)
    singles = [psnr(output[i], target[i]) for i in range(2)]
    assert psnr(batch_o, batch_t) == pytest.approx(np.mean(singles))


def test_identical_images_and_bad_shapes():
    image = np.full((16, 16, 3), 128 / 255)  # on the 8-bit grid, as real targets are
    assert psnr(image, image) == float("inf")
    assert ssim(image, image) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="differs from target shape"):
        psnr(image, image[:8])
    with pytest.raises(ValueError, match="expected an RGB image"):
        psnr(np.zeros((16, 16)), np.zeros((16, 16)))


@pytest.mark.parametrize("border", [0, 2])
def test_psnr_and_ssim_together_equal_the_two_calls(border, rng):
    target = rng.random((24, 20, 3)).astype(np.float32)
    output = torch.from_numpy(np.clip(target + rng.normal(0, 0.05, target.shape), 0, 1).transpose(2, 0, 1))
    assert psnr_and_ssim(output, target, border=border) == (psnr(output, target, border=border),
                                                            ssim(output, target, border=border))
