import numpy as np
import pytest

from spark_env.data import TASKS, get_task, load_pairs
from spark_env.errors import ConfigError


@pytest.mark.parametrize("name", list(TASKS))
def test_degradation_shapes_and_ranges(name):
    task = get_task(name)
    pairs = load_pairs(task, "test")
    for pair in pairs:
        h, w = pair.lq.shape[:2]
        assert pair.hr.shape == (h * task.scale, w * task.scale, 3)
        assert pair.lq.dtype == np.float32
        if task.kind == "denoise":  # Gaussian noise is not clipped: the residual has the nominal sigma
            residual = pair.lq - pair.hr
            assert abs(residual.std() * 255 - task.level) < 0.05 * task.level
        else:
            assert 0.0 <= pair.lq.min() and pair.lq.max() <= 1.0
            assert not np.array_equal(task.baseline(pair.lq), pair.hr)


@pytest.mark.parametrize("name", ["sr_x2", "sr_x3", "sr_x4"])
def test_sr_inputs_are_8bit_and_hr_is_modcropped(name):
    task = get_task(name)
    for pair in load_pairs(task, "val"):
        assert pair.hr.shape[0] % task.scale == 0 and pair.hr.shape[1] % task.scale == 0
        np.testing.assert_allclose(pair.lq * 255, np.round(pair.lq * 255), atol=1e-3)


def test_jpeg_quality_orders_distortion():
    errors = [np.abs(load_pairs(f"jpeg_q{q}", "test")[0].lq - load_pairs(f"jpeg_q{q}", "test")[0].hr).mean()
              for q in (10, 20, 40)]
    assert errors[0] > errors[1] > errors[2] > 0


def test_noise_is_reproducible_per_seed_and_differs_across_seeds():
    a, b, c = (load_pairs("denoise_s25", "test", seed=s)[0].lq for s in (0, 0, 1))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_unknown_task_lists_known_ones():
    with pytest.raises(ConfigError, match="unknown task 'sr_x8'.*sr_x2.*jpeg_q40"):
        get_task("sr_x8")
