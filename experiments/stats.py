"""Statistics for small-sample experiment results (docs/statistics.md): the crossed seeds x images interval of the
tables, Student-t intervals over seeds, calls (above / below / inconclusive), and the aggregate metrics recommended
for RL evaluation (Agarwal et al., 2021, "Deep RL at the edge of the statistical precipice"): interquartile mean,
stratified bootstrap over tasks, performance profiles.

Bootstrap intervals use a fixed generator seed, so a table is reproducible. A percentile bootstrap over a few seeds
cannot be wider than their range: the tables' differences use the t-based intervals instead.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy.stats import t as student_t

Statistic = Callable[[np.ndarray], float]
BOOTSTRAP_SEED = 0


def iqm(values: Sequence[float] | np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50 % of the values (25 % trimmed from each end, fractional
    weights at the cut points so that it is defined for any count)."""
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    n = x.size
    if n == 0:
        return float("nan")
    lo, hi = 0.25 * n, 0.75 * n
    # weight of each sorted value = length of its unit interval [i, i+1) inside [lo, hi)
    starts = np.arange(n)
    weights = np.clip(np.minimum(starts + 1, hi) - np.maximum(starts, lo), 0.0, 1.0)
    return float((weights * x).sum() / weights.sum())


def bootstrap_ci(values: Sequence[float] | np.ndarray, statistic: Statistic = np.mean, level: float = 0.95,
                 n_boot: int = 10_000, seed: int = BOOTSTRAP_SEED) -> tuple[float, float, float]:
    """(point estimate, lower, upper) of ``statistic`` with a percentile-bootstrap interval at ``level``.
    One value gives a zero-width interval; no value gives NaNs."""
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        return (float("nan"),) * 3
    point = float(statistic(x))
    if x.size == 1:
        return point, point, point
    rng = np.random.default_rng(seed)
    samples = x[rng.integers(0, x.size, size=(n_boot, x.size))]
    stats = np.array([statistic(s) for s in samples]) if statistic is not np.mean else samples.mean(1)
    alpha = (1.0 - level) / 2.0
    return point, float(np.quantile(stats, alpha)), float(np.quantile(stats, 1.0 - alpha))


def stratified_bootstrap_ci(scores: Mapping[str, Sequence[float]], statistic: Statistic = iqm, level: float = 0.95,
                            n_boot: int = 2_000, seed: int = BOOTSTRAP_SEED) -> tuple[float, float, float]:
    """Aggregate ``statistic`` over all runs of all tasks, with an interval from resampling runs *within* each
    task (stratum) independently, so every task keeps its number of runs in every resample."""
    strata = [np.asarray(v, dtype=np.float64).ravel() for v in scores.values() if len(v)]
    if not strata:
        return (float("nan"),) * 3
    point = float(statistic(np.concatenate(strata)))
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    for i in range(n_boot):
        stats[i] = statistic(np.concatenate([s[rng.integers(0, s.size, s.size)] for s in strata]))
    alpha = (1.0 - level) / 2.0
    return point, float(np.quantile(stats, alpha)), float(np.quantile(stats, 1.0 - alpha))


def performance_profile(scores: Sequence[float] | np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Fraction of runs whose score exceeds each threshold (the run-score distribution, a survival function)."""
    x = np.asarray(scores, dtype=np.float64).ravel()
    return (x[None, :] > np.asarray(thresholds, dtype=np.float64)[:, None]).mean(1)


def format_ci(point: float, low: float, high: float, digits: int = 3) -> str:
    """``"31.234 [31.100, 31.301]"``."""
    return f"{point:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def kendall_tau(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Kendall's tau-b rank correlation of two equally long sequences (ties counted as neither concordant nor
    discordant, tau-b normalisation); NaN when either sequence is constant or shorter than 2."""
    a, b = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"kendall_tau needs sequences of equal length, got {a.size} and {b.size}")
    i, j = np.triu_indices(a.size, k=1)
    sa, sb = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
    denominator = np.sqrt(np.count_nonzero(sa) * np.count_nonzero(sb))
    return float((sa * sb).sum() / denominator) if denominator else float("nan")


def student_t_ci(values: Sequence[float] | np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, lower, upper): the Student-t interval of a mean over independent values (e.g. paired differences, one
    per seed). Honest at small counts (unlike a percentile bootstrap over 3 values); one value gives NaN bounds."""
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        return (float("nan"),) * 3
    mean = float(x.mean())
    if x.size == 1:
        return mean, float("nan"), float("nan")
    half = t_quantile(level, x.size - 1) * float(x.std(ddof=1)) / np.sqrt(x.size)
    return mean, mean - half, mean + half


def fieller_ratio_ci(numerator: Sequence[float] | np.ndarray, denominator: Sequence[float] | np.ndarray,
                     level: float = 0.95) -> tuple[float, float, float]:
    """(ratio, lower, upper) of ``mean(numerator) / mean(denominator)`` over paired values (one pair per seed), by
    Fieller's theorem: the ratios r with ``(mean_x - r mean_y)^2 <= t^2 var(x - r y) / n`` (Student-t at n - 1
    degrees of freedom, the pairs' covariance included). Numerator and denominator are estimated from the same seeds
    together, so the denominator's own uncertainty widens the interval. When the denominator's mean is not
    significantly different from 0 at ``level`` the set is unbounded: the bounds are NaN ("not defined"); the ratio
    is NaN when its mean is 0. Fewer than two pairs give NaN bounds."""
    x = np.asarray(numerator, dtype=np.float64).ravel()
    y = np.asarray(denominator, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"fieller_ratio_ci needs paired values, got {x.size} and {y.size}")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    n = x.size
    ratio = float(x.mean() / y.mean()) if n and y.mean() != 0 else float("nan")
    if n < 2:
        return ratio, float("nan"), float("nan")
    t2 = t_quantile(level, n - 1) ** 2 / n
    covariance = np.cov(x, y, ddof=1)
    a = y.mean() ** 2 - t2 * covariance[1, 1]
    b = x.mean() * y.mean() - t2 * covariance[0, 1]
    c = x.mean() ** 2 - t2 * covariance[0, 0]
    discriminant = b * b - a * c
    if a <= 0 or discriminant < 0:
        return ratio, float("nan"), float("nan")
    root = np.sqrt(discriminant)
    return ratio, float((b - root) / a), float((b + root) / a)


def t_quantile(level: float, df: float) -> float:
    """Two-sided Student-t critical value for ``level`` at ``df`` (possibly fractional) degrees of freedom."""
    return float(student_t.ppf(0.5 + level / 2.0, df))


def crossed_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, lower, upper) of the grand mean of a seeds x images table (S, I), seeds and images both random.

    Estimator (named in docs/statistics.md): the two-way crossed random-effects model ``y = mu + a_seed + b_image +
    e``; the variance of the grand mean, ``var_a / S + var_b / I + var_e / (S I)``, is estimated from the two-way
    ANOVA mean squares as ``(MS_seed + MS_image - MS_resid) / (S I)``, never below ``max(MS_seed, MS_image) / (S I)``
    (the variance when one factor has no effect), with a Student-t interval at Satterthwaite's degrees of freedom.
    It says "for seeds and photographs like these", not "for these images". With one seed it is the t interval over
    the images, with one image the t interval over the seeds. NaN rows (missing images) are dropped.
    """
    y = np.asarray(values, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError(f"crossed_ci needs a (seeds, images) table, got shape {y.shape}")
    y = y[~np.isnan(y).any(axis=1)]
    seeds, images = y.shape
    if y.size == 0:
        return (float("nan"),) * 3
    if images == 1 or seeds == 1:
        return student_t_ci(y.ravel(), level)
    grand = float(y.mean())
    seed_means, image_means = y.mean(1), y.mean(0)
    df_seed, df_image, df_resid = seeds - 1, images - 1, (seeds - 1) * (images - 1)
    ms_seed = images * float(((seed_means - grand) ** 2).sum()) / df_seed
    ms_image = seeds * float(((image_means - grand) ** 2).sum()) / df_image
    resid = y - seed_means[:, None] - image_means[None, :] + grand
    ms_resid = float((resid ** 2).sum()) / df_resid
    combined = ms_seed + ms_image - ms_resid
    if max(ms_seed, ms_image, ms_resid) <= 0:  # every value the same (e.g. two identical runs' difference: 0)
        return grand, grand, grand
    if combined >= max(ms_seed, ms_image):
        variance_sum = combined
        df = combined ** 2 / (ms_seed ** 2 / df_seed + ms_image ** 2 / df_image + ms_resid ** 2 / df_resid)
    elif ms_seed >= ms_image:
        variance_sum, df = ms_seed, df_seed
    else:
        variance_sum, df = ms_image, df_image
    if variance_sum <= 0:
        return grand, grand, grand
    half = t_quantile(level, df) * np.sqrt(variance_sum / (seeds * images))
    return grand, grand - half, grand + half


def call(low: float, high: float) -> str:
    """What an interval lets a table say about a difference: ``above`` (low > 0), ``below`` (high < 0), else
    ``inconclusive`` (also for NaN bounds)."""
    if low > 0:
        return "above"
    if high < 0:
        return "below"
    return "inconclusive"
