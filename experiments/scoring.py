"""Scores of a grid whose rows compare named things (agents, rewards) against the same references.

Every function takes ``column``, the result column that names what is compared (``agent`` in the RL benchmark,
``reward`` in the reward-shaping study); rows whose ``column`` is ``teacher`` / ``ptq`` are the score scale's ends
and ``uniform`` (uniform KD) / ``random`` (random maps) the paired references. ``learners`` are the compared names
measured along a learning curve (several ``train_steps`` budgets).

Scores of a run:
  * ``score``: the fraction of the PTQ -> FP-teacher PSNR gap it closes, ``(psnr - ptq) / (fp - ptq)`` with the
    PTQ student of the same seed (0 = no better than the start, 1 = the teacher);
  * ``h_score``: ``(psnr - uniform) / mean(heuristic - uniform)``, the uniform-KD run of the same seed and the
    cell's mean gain of the combined difficulty heuristic: 0 = uniform KD, 1 = the hand-made map. A group's h-score
    is ``mean(learner - uniform) / mean(heuristic - uniform)`` over the same seeds, with Fieller's interval
    (``stats.fieller_ratio_ci``: numerator and denominator from the same seeds); "not defined" where the
    heuristic's own gain is not significantly different from 0.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from experiments.common import write_table  # noqa: E402
from experiments.grid import ResultsStore  # noqa: E402
from experiments.plots import plot_curves  # noqa: E402
from experiments.per_image import difference_columns, paired_difference, seed_by_image  # noqa: E402
from experiments.stats import (fieller_ratio_ci, format_ci, iqm, performance_profile,  # noqa: E402
                               stratified_bootstrap_ci, student_t_ci)

HEURISTIC = "heuristic_combined"  # the h-score's 1
AGGREGATES = {"IQM": iqm, "median": np.median, "mean": np.mean}


def final_runs(results: pd.DataFrame, column: str) -> pd.DataFrame:
    """One row per (cell, ``column``, seed): a learning curve's last budget (the most ``train_steps``)."""
    if "train_steps" not in results:
        return results
    ordered = results.sort_values("train_steps", kind="stable", na_position="first")
    return ordered.groupby(["cell", column, "seed"], sort=False).tail(1).sort_index()


def normalized_scores(results: pd.DataFrame, column: str) -> pd.DataFrame:
    """QAT runs (every budget of a learning curve) with ``score = (psnr - ptq) / (fp - ptq)`` (PTQ of the same
    cell and seed), ``vs_uniform`` / ``vs_random`` (dB, paired by cell and seed) and ``h_score`` (the paired
    difference to uniform over the cell's mean heuristic gain; NaN without uniform or heuristic runs)."""
    fp = results[results[column] == "teacher"].set_index("cell")["psnr"]
    ptq = results[results[column] == "ptq"].set_index(["cell", "seed"])["psnr"]
    runs = results[~results[column].isin(["teacher", "ptq"])].copy()
    start = np.array([ptq[(c, s)] for c, s in zip(runs.cell, runs.seed)])
    runs["score"] = (runs.psnr.to_numpy() - start) / (runs.cell.map(fp).to_numpy() - start)
    finals = final_runs(runs, column)
    for reference in ("uniform", "random"):
        psnr = finals[finals[column] == reference].set_index(["cell", "seed"])["psnr"]
        runs[f"vs_{reference}"] = [p - psnr.get((c, s), np.nan) for p, c, s in zip(runs.psnr, runs.cell, runs.seed)]
    heuristic = runs[runs[column] == HEURISTIC]
    heuristic_gain = heuristic.groupby("cell")["vs_uniform"].mean()
    runs["h_score"] = runs.vs_uniform / runs.cell.map(heuristic_gain).astype(float)
    return runs


def h_score_ci(group: pd.DataFrame, finals: pd.DataFrame, column: str) -> tuple[float, float, float]:
    """(h-score, lower, upper) of a group of runs of one cell: the mean of their paired gains over uniform KD over
    the mean gain of the combined heuristic on the same seeds, Fieller's 95 % interval (NaN bounds: not defined).
    ``finals``: the final runs of the cell (the heuristic's among them)."""
    heuristic = finals[(finals[column] == HEURISTIC) & finals.cell.isin(group.cell)].set_index("seed").vs_uniform
    learner = group.set_index("seed").vs_uniform
    seeds = learner.index.intersection(heuristic.index)
    return fieller_ratio_ci(learner.loc[seeds].to_numpy(), heuristic.loc[seeds].to_numpy())


def format_h_score(point: float, low: float, high: float) -> str:
    """``"0.93 [0.61, 1.30]"``, or ``"0.93 [not defined]"`` when Fieller's set is unbounded."""
    return format_ci(point, low, high, digits=2) if np.isfinite(low) else f"{point:.2f} [not defined]"


def aggregate(runs: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per ``column`` value: IQM / median / mean of the score and mean paired dB difference to uniform KD, each
    with a stratified-bootstrap 95 % CI over cells."""
    rows = []
    for name, group in runs.groupby(column, sort=False):
        row = {column: name, "runs": len(group), "test PSNR mean": group.psnr.mean()}
        by_cell = {c: g.score.to_numpy() for c, g in group.groupby("cell")}
        for label, statistic in AGGREGATES.items():
            row[f"score {label} [95% CI]"] = format_ci(*stratified_bootstrap_ci(by_cell, statistic))
        diffs = {c: g.vs_uniform.dropna().to_numpy() for c, g in group.groupby("cell")}
        row["vs uniform dB mean [95% CI]"] = (format_ci(*stratified_bootstrap_ci(diffs, np.mean))
                                              if name != "uniform" else "-")
        rows.append(row)
    return pd.DataFrame(rows)


def plot_aggregates(runs: pd.DataFrame, column: str, path: Path) -> None:
    """IQM / median / mean of the score with stratified-bootstrap CIs (left), performance profiles (right)."""
    names = list(dict.fromkeys(runs[column]))
    height = max(3.5, 0.45 * len(names) + 2.5)
    fig, axes = plt.subplots(1, len(AGGREGATES) + 1, figsize=(4 * (len(AGGREGATES) + 1), height))
    for ax, (label, statistic) in zip(axes, AGGREGATES.items()):
        for y, name in enumerate(names):
            group = runs[runs[column] == name]
            point, low, high = stratified_bootstrap_ci({c: g.score.to_numpy() for c, g in group.groupby("cell")},
                                                       statistic)
            ax.errorbar([point], [y], xerr=[[point - low], [high - point]], fmt="o", capsize=3)
        ax.set_yticks(range(len(names)), names if ax is axes[0] else [""] * len(names))
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("score: fraction of the PTQ -> FP gap closed")
    low, high = runs.score.min(), runs.score.max()
    thresholds = np.linspace(low - 0.05 * abs(low), high + 0.05 * abs(high), 200)
    for name in names:
        axes[-1].plot(thresholds, performance_profile(runs[runs[column] == name].score, thresholds), label=name)
    axes[-1].set_xlabel("score threshold tau")
    axes[-1].set_ylabel("fraction of runs with score > tau")
    axes[-1].set_title("performance profiles", fontsize=9)
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def per_cell_table(runs: pd.DataFrame, column: str, per_image: pd.DataFrame,
                   extra_references: Sequence[str] = ()) -> pd.DataFrame:
    """Per cell and ``column`` value: mean test PSNR, paired differences to uniform KD, to random maps, to the
    combined heuristic and to each of ``extra_references`` (same seeds, same test images) with 95 % CIs that
    resample seeds and images (``stats.crossed_ci``) and their calls, the h-score with Fieller's interval over seeds
    (each reference column only when its runs are in the table). ``per_image``: the per-image rows of the runs
    (empty: run means, seeds only)."""
    references = [r for r in dict.fromkeys(("uniform", "random", HEURISTIC, *extra_references))
                  if r in set(runs[column])]
    rows = []
    for (cell, name), group in runs.groupby(["cell", column], sort=False):
        row = {"cell": cell, column: name, "runs": len(group), "test PSNR mean": group.psnr.mean()}
        table = seed_by_image(group, per_image)
        for reference in references:
            label = f"vs {reference} dB"
            if name == reference:
                row.update({f"{label} [95% CI]": "-", f"{label} call": "-"})
                continue
            in_cell = runs[(runs.cell == cell) & (runs[column] == reference)]
            row.update(difference_columns(paired_difference(table, seed_by_image(in_cell, per_image)), label))
        if HEURISTIC in set(runs[column]):
            row["h-score [95% CI]"] = format_h_score(*h_score_ci(group, runs, column))
        rows.append(row)
    return pd.DataFrame(rows)


def learning_curve_table(runs: pd.DataFrame, column: str, learners: Sequence[str]) -> pd.DataFrame:
    """Per cell, learning agent and training budget: runs, mean test PSNR, paired difference to uniform KD (95 %
    Student-t CI over seeds) and the h-score (Fieller's interval over seeds, the heuristic's gain estimated from
    the same seeds)."""
    rows = []
    learning = runs[runs[column].isin(learners)]
    finals = final_runs(runs, column)
    for (cell, name, steps), group in learning.groupby(["cell", column, "train_steps"], sort=False):
        row = {"cell": cell, column: name, "train env steps": int(steps), "runs": len(group),
               "test PSNR mean": group.psnr.mean(),
               "vs uniform dB [95% CI]": format_ci(*student_t_ci(group.vs_uniform.dropna()))}
        if HEURISTIC in set(runs[column]):
            row["h-score [95% CI]"] = format_h_score(*h_score_ci(group, finals, column))
        rows.append(row)
    return pd.DataFrame(rows)


def plot_learning_curves(runs: pd.DataFrame, column: str, learners: Sequence[str], path: Path) -> None:
    """One panel per cell: h-score (0 = uniform KD, 1 = combined heuristic) of each learning agent against its
    training env steps, with Fieller's 95 % interval over seeds (drawn where defined); random maps as a dashed
    line. Without heuristic runs (a reward-shaping study): the paired gain over uniform KD in dB, Student-t 95 %
    interval over seeds."""
    with_heuristic = HEURISTIC in set(runs[column])
    cells = list(dict.fromkeys(runs.cell))
    fig, axes = plt.subplots(1, len(cells), figsize=(5 * len(cells), 3.8), squeeze=False)
    for ax, cell in zip(axes[0], cells):
        frame = runs[runs.cell == cell]
        finals = final_runs(frame, column)

        def curve_point(group: pd.DataFrame) -> tuple[float, float, float]:
            if with_heuristic:
                return h_score_ci(group, finals, column)
            return student_t_ci(group.vs_uniform.dropna())

        for name, group in frame[frame[column].isin(learners)].groupby(column, sort=False):
            stats = [(steps, *curve_point(g)) for steps, g in group.groupby("train_steps")]
            steps, mean, low, high = map(np.array, zip(*stats))
            ax.plot(steps, mean, marker="o", ms=3, label=name)
            ax.fill_between(steps, low, high, alpha=0.2)
        score = "h_score" if with_heuristic else "vs_uniform"
        for reference, style in (("uniform", ":"), ("random", "--"), (HEURISTIC, "-.")):
            scores = frame[frame[column] == reference][score].dropna()
            if len(scores):
                ax.axhline(scores.mean(), color="k", ls=style, lw=0.8, label=reference)
        ax.set_title(cell, fontsize=9)
        ax.set_xlabel("training env steps (crops)")
        ax.set_ylabel("h-score: 0 = uniform KD, 1 = heuristic" if with_heuristic else "gain over uniform KD (dB)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report_scores(store: ResultsStore, column: str, learners: Sequence[str], title: str,
                  extra_references: Sequence[str] = (), images: str = "test images") -> None:
    """Scores, aggregate table and plots of a run folder whose ``column`` names what is compared (agents, rewards)
    next to the ``teacher`` / ``ptq`` / ``uniform`` reference rows; ``extra_references``: more rows every other row
    is paired with in the per-cell table (e.g. the default reward); ``images`` names what the students were scored
    on in the per-cell title."""
    all_runs = normalized_scores(store.table(), column)
    runs = final_runs(all_runs, column)
    print(write_table(aggregate(runs, column), store.folder, "summary", title))
    print(write_table(per_cell_table(runs, column, store.table("per_image"), extra_references), store.folder,
                      "per_cell",
                      f"Per cell: PSNR-Y (dB) on the {images} and paired differences (same seeds and images; 95 % "
                      "CIs over seeds and images)"))
    if "train_steps" in all_runs and all_runs[column].isin(learners).any():
        print(write_table(learning_curve_table(all_runs, column, learners), store.folder, "learning_curves",
                          "Learning curves: measured runs after each training budget (same seeds)"))
        plot_learning_curves(all_runs, column, learners, store.folder / "learning_curves.png")
    plot_aggregates(runs, column, store.folder / "aggregates.png")
    plot_curves(store.table("curves"), {}, store.folder / "psnr_over_qat_steps.png", group_by=column,
                panel_by=("cell",))
    print(f"results, tables and plots in {store.folder}/")
