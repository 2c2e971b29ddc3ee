import numpy as np
import pytest
import torch

from spark_env.difficulty import StaticDifficulty, error_grid, luma, normalise
from spark_env.kd import action_to_weights, spatial_kd_loss, upsample_weights


@pytest.mark.parametrize("mapping", ["softmax", "linear", "raw"])
def test_zero_action_is_uniform(mapping):
    np.testing.assert_allclose(action_to_weights(torch.zeros(2, 8, 8), mapping).numpy(), 1.0, rtol=1e-6)


@pytest.mark.parametrize("mapping", ["softmax", "linear"])
def test_budget_preserving_mappings_keep_mean_one(mapping):
    action = torch.rand(3, 8, 8) * 2 - 1
    weights = action_to_weights(action, mapping)
    np.testing.assert_allclose(weights.mean((1, 2)).numpy(), 1.0, rtol=1e-5)
    assert (weights >= 0).all()
    assert torch.argmax(weights[0]) == torch.argmax(action[0])


def test_linear_mapping_all_minus_one_falls_back_to_uniform():
    np.testing.assert_allclose(action_to_weights(-torch.ones(1, 8, 8), "linear").numpy(), 1.0)


def test_weight_map_multiplies_exactly_its_cell():
    weights = torch.zeros(1, 8, 8)
    weights[0, 2, 5] = 64.0
    up = upsample_weights(weights, 64, 64)
    assert up[0, 0, 16:24, 40:48].eq(64).all() and up.sum() == 64 * 64
    student, teacher = torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64)
    teacher[..., 16:24, 40:48] = 0.5  # error only inside the weighted cell
    uniform = spatial_kd_loss(student, teacher, None)
    assert spatial_kd_loss(student, teacher, weights) == pytest.approx(64 * uniform.item())
    teacher2 = torch.zeros(1, 3, 64, 64)
    teacher2[..., :8, :8] = 0.5  # error outside it
    assert spatial_kd_loss(student, teacher2, weights) == 0


def test_static_channels_match_a_direct_computation(rng):
    lq = rng.random((48, 56, 3)).astype(np.float32)  # the crop keeps a margin: no border padding involved
    crop = torch.from_numpy(lq.transpose(2, 0, 1)).unsqueeze(0)
    grid = StaticDifficulty(lq).grid(8, 16, crop[0, :, 8:40, 16:48].contiguous())
    gray = luma(crop)[0, 0, 8:40, 16:48]
    cell = gray[4:8, 8:12]  # cell (1, 2) of 4x4-pixel cells
    assert grid[1, 1, 2] == pytest.approx(cell.var(unbiased=False).item(), rel=1e-4)
    full = luma(crop)[0, 0]
    lap = (full[8:40, 15:47] + full[8:40, 17:49] + full[7:39, 16:48] + full[9:41, 16:48] - 4 * full[8:40, 16:48])
    assert grid[0, 1, 2] == pytest.approx(lap[4:8, 8:12].var(unbiased=False).item(), rel=1e-3)


def test_error_grid_and_normalisation_ranges():
    a, b = torch.zeros(2, 3, 32, 32), torch.ones(2, 3, 32, 32)
    grid = error_grid(a, b)
    assert grid.shape == (2, 8, 8)
    assert grid[0, 0, 0] == pytest.approx(65.481 + 128.553 + 24.966)
    obs = normalise(torch.cat([torch.full((1, 2, 8, 8), 1e9), torch.zeros(1, 2, 8, 8)], 1))
    assert obs[:, :2].eq(1).all() and obs[:, 2:].eq(0).all()


def test_static_grid_from_the_crops_luma_equals_pooling_whole_image_maps(rng):
    """The luma is computed per crop (only the Laplacian map is kept per image): the grid must equal, to the last
    bit, pooling maps of the whole image's luma and Laplacian, at inner crops and at crops touching the edges."""
    lq = rng.random((61, 75, 3)).astype(np.float32)
    image = torch.from_numpy(np.ascontiguousarray(lq.transpose(2, 0, 1))).unsqueeze(0)
    gray = luma(image)
    lap = torch.nn.functional.conv2d(torch.nn.functional.pad(gray, (1, 1, 1, 1), mode="replicate"),
                                     torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3))
    maps = torch.cat([lap, lap ** 2, gray, gray ** 2], dim=1)[0]
    static = StaticDifficulty(lq)
    for top, left, size in [(0, 0, 32), (29, 43, 32), (5, 11, 48), (13, 0, 16), (53, 67, 8)]:
        means = torch.nn.functional.adaptive_avg_pool2d(maps[:, top:top + size, left:left + size].unsqueeze(0), 8)[0]
        expected = (means[1::2] - means[0::2] ** 2).clamp_min(0.0)
        crop = torch.from_numpy(np.ascontiguousarray(lq[top:top + size, left:left + size].transpose(2, 0, 1)))
        assert torch.equal(static.grid(top, left, crop), expected), (top, left, size)
