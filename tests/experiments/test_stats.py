"""Intervals (crossed seeds x images, Student t, bootstrap), paired differences and the RL-evaluation aggregates."""
import numpy as np
import pytest
from scipy.stats import t as student_t

from experiments.stats import (bootstrap_ci, call, crossed_ci, fieller_ratio_ci, format_ci, iqm,
                               performance_profile, stratified_bootstrap_ci, student_t_ci)


def test_iqm_trims_a_quarter_from_each_end():
    assert iqm(np.arange(1, 9)) == pytest.approx(4.5)          # mean of 3, 4, 5, 6
    assert iqm([1, 2, 3, 100]) == pytest.approx(2.5)           # the outlier is trimmed
    assert iqm([1, 2, 3, 4, 5]) == pytest.approx(3.0)          # fractional weights at the cuts
    assert iqm([7.0]) == 7.0
    assert np.isnan(iqm([]))


def test_bootstrap_interval_contains_the_mean_and_shrinks_with_data():
    rng = np.random.default_rng(1)
    small, large = rng.normal(0, 1, 5), rng.normal(0, 1, 500)
    for values in (small, large):
        mean, low, high = bootstrap_ci(values)
        assert low <= mean <= high and mean == pytest.approx(values.mean())
    assert np.diff(bootstrap_ci(large)[1:])[0] < np.diff(bootstrap_ci(small)[1:])[0]
    assert bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    assert bootstrap_ci(small) == bootstrap_ci(small)  # fixed generator: reproducible tables


def test_bootstrap_with_a_custom_statistic():
    point, low, high = bootstrap_ci([1.0, 2.0, 3.0, 50.0], statistic=np.median)
    assert point == 2.5 and low >= 1.0 and high <= 50.0


def test_stratified_bootstrap_keeps_every_task_in_every_resample():
    scores = {"task_a": [1.0, 1.0, 1.0], "task_b": [5.0, 5.0, 5.0]}
    point, low, high = stratified_bootstrap_ci(scores, np.mean)
    assert (point, low, high) == (3.0, 3.0, 3.0)  # an unstratified bootstrap would vary the task mix


def test_performance_profile_is_a_survival_function():
    scores = [0.1, 0.5, 0.5, 0.9]
    profile = performance_profile(scores, np.array([0.0, 0.4, 0.5, 1.0]))
    assert profile.tolist() == [1.0, 0.75, 0.25, 0.0]


def test_format_ci():
    assert format_ci(31.23456, 31.1, 31.3) == "31.235 [31.100, 31.300]"


def test_kendall_tau_b_matches_scipy_with_ties():
    from scipy.stats import kendalltau

    from experiments.stats import kendall_tau
    rng = np.random.default_rng(0)
    for _ in range(5):
        x, y = rng.integers(0, 4, 9), rng.normal(size=9)
        assert kendall_tau(x, y) == pytest.approx(kendalltau(x, y).statistic)
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="equal length"):
        kendall_tau([1, 2], [1, 2, 3])


@pytest.mark.parametrize("seeds, images, sd_seed, sd_image, sd_resid", [
    (3, 24, 0.02, 0.05, 0.03),    # the method table's shape: 3 seeds, 24 test photographs
    (10, 24, 0.02, 0.05, 0.03),   # the learn preset's shape
    (10, 24, 0.0, 0.0, 0.05),     # no seed or image effect: the floor of the variance estimate
    (5, 9, 0.05, 0.0, 0.02),      # seeds dominate
])
def test_crossed_ci_covers_a_known_effect_at_the_nominal_rate(seeds, images, sd_seed, sd_image, sd_resid):
    rng = np.random.default_rng(17)
    effect, replicates, hits = 0.1, 400, 0
    for _ in range(replicates):
        table = (effect + rng.normal(0, sd_seed, (seeds, 1)) + rng.normal(0, sd_image, (1, images))
                 + rng.normal(0, sd_resid, (seeds, images)))
        _, low, high = crossed_ci(table)
        hits += low <= effect <= high
    assert 0.90 <= hits / replicates <= 0.99, hits / replicates


def test_crossed_ci_reduces_to_the_t_interval_with_one_image_and_calls_follow_the_bounds():
    values = np.array([[0.1], [0.3], [0.2]])
    assert crossed_ci(values) == pytest.approx(student_t_ci(values.ravel()))
    mean, low, high = student_t_ci([0.1, 0.3, 0.2])
    assert mean == pytest.approx(0.2) and high - mean == pytest.approx(4.302653 * 0.1 / np.sqrt(3), rel=1e-5)
    assert call(0.01, 0.2) == "above" and call(-0.2, -0.01) == "below" and call(-0.1, 0.1) == "inconclusive"
    assert call(float("nan"), float("nan")) == "inconclusive"


def test_fieller_interval_of_a_ratio_of_paired_means():
    rng = np.random.default_rng(3)
    denominator = 1.0 + 0.2 * rng.standard_normal(10)
    numerator = 0.5 * denominator + 0.05 * rng.standard_normal(10)
    ratio, low, high = fieller_ratio_ci(numerator, denominator)
    assert ratio == pytest.approx(numerator.mean() / denominator.mean())
    assert low < ratio < high and 0.4 < low and high < 0.6
    # the bounds solve (mean_x - r mean_y)^2 = t^2 var(x - r y) / n
    t2 = student_t.ppf(0.975, 9) ** 2 / 10
    for r in (low, high):
        assert (numerator.mean() - r * denominator.mean()) ** 2 == pytest.approx(
            t2 * np.var(numerator - r * denominator, ddof=1))
    # a denominator whose mean is not significantly different from 0: the interval is not defined
    noisy = 0.01 + rng.standard_normal(10)
    assert np.isnan(fieller_ratio_ci(numerator, noisy)[1:]).all()
    assert np.isnan(fieller_ratio_ci([1.0], [2.0])[1:]).all()
    with pytest.raises(ValueError, match="paired values"):
        fieller_ratio_ci([1.0, 2.0], [1.0])


def test_crossed_ci_of_a_constant_table_is_that_constant():
    """Two identical runs (an agent that has not moved from uniform KD) differ by 0 on every seed and image."""
    from experiments.stats import crossed_ci
    assert crossed_ci(np.zeros((3, 24))) == (0.0, 0.0, 0.0)
    assert crossed_ci(np.full((2, 5), 0.25)) == (0.25, 0.25, 0.25)
