"""Seeds x images tables: how every experiment's per-image results (``per_image.csv``) become paired differences
with intervals that resample images as well as seeds (``experiments.stats.crossed_ci``).

A run folder written before per-image results existed has only ``results.csv``: a run then contributes its mean
over the test images as a single column, and the interval is the Student-t one over seeds.
"""
from __future__ import annotations

import pandas as pd

from experiments.stats import call, crossed_ci, format_ci, student_t_ci

IMAGE_COLUMNS = ["test_set", "image"]


def seed_by_image(runs: pd.DataFrame, per_image: pd.DataFrame, value: str = "psnr") -> pd.DataFrame:
    """(seed x image) table of ``value`` for the runs of one compared thing (one row per seed in ``runs``);
    ``per_image`` holds their per-image rows (matched on every column they share with ``runs`` but the values)."""
    if per_image.empty:
        return runs.set_index("seed")[[value]]
    keys = [c for c in runs.columns if c in per_image.columns and c not in (value, "psnr", "ssim")]
    rows = per_image.merge(runs[keys].drop_duplicates(), on=keys, how="inner")
    if rows.empty:
        return runs.set_index("seed")[[value]]
    return rows.pivot_table(index="seed", columns=IMAGE_COLUMNS, values=value, aggfunc="mean")


def paired_difference(table: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """``table - reference`` on the seeds and images both have (paired by seed and image)."""
    seeds = table.index.intersection(reference.index)
    images = table.columns.intersection(reference.columns)
    return table.loc[seeds, images] - reference.loc[seeds, images]


def difference_columns(difference: pd.DataFrame, label: str) -> dict[str, str]:
    """The two table cells of a paired difference: ``<label> [95% CI]`` (seeds x images) and ``<label> call``."""
    mean, low, high = crossed_ci(difference.to_numpy())
    return {f"{label} [95% CI]": format_ci(mean, low, high), f"{label} call": call(low, high)}


def per_image_differences(difference: pd.DataFrame, **key) -> list[dict]:
    """One row per test image: the mean paired difference over seeds with its Student-t interval."""
    rows = []
    for column in difference.columns:
        mean, low, high = student_t_ci(difference[column].dropna().to_numpy())
        image = column[-1] if isinstance(column, tuple) else column
        rows.append({**key, "image": image, "seeds": int(difference[column].notna().sum()),
                     "difference (dB)": mean, "low": low, "high": high, "call": call(low, high)})
    return rows


__all__ = ["IMAGE_COLUMNS", "difference_columns", "paired_difference", "per_image_differences",
           "seed_by_image"]
