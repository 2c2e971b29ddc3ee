"""RL algorithms on SparkKD with equal budgets, aggregated as Agarwal et al. (2021) recommend.

    python -m experiments.rl_benchmark --preset quick [--set train_steps=512] [--dry-run] [--backend ray]

Every agent (the built-in SPARK agent, SB3 PPO / A2C / SAC / TD3, random maps, uniform KD) trains for
``train_steps`` env steps on QAT runs of a cell (pretraining seeds, away from the measured ones), then drives one
fresh QAT run from the run seed, acting deterministically; the final student is measured on the test images.
Agents that do not learn just drive the measured run.

Score of a run: the fraction of the PTQ -> FP-teacher PSNR gap it closes, ``(psnr - ptq) / (fp - ptq)`` with the
PTQ student of the same seed (0 = no better than the start, 1 = the teacher). Per agent over all cells (tasks)
and seeds: interquartile mean, median and mean with stratified-bootstrap 95 % CIs (runs resampled within each
cell), the same for the paired difference to uniform KD, and performance profiles (fraction of runs above each
score). Outputs in the run folder: results.csv (resumable), curves.csv, summary.md/.csv, PNG plots.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from agents import AGENT_NAMES  # noqa: E402
from experiments.cli import grid_main  # noqa: E402
from experiments.common import write_table  # noqa: E402
from experiments.grid import ResultsStore  # noqa: E402
from experiments.plots import plot_curves  # noqa: E402
from experiments.stats import format_ci, iqm, performance_profile, stratified_bootstrap_ci  # noqa: E402
from spark_env.errors import ConfigError  # noqa: E402

KEY_COLUMNS = ("cell", "agent", "seed")
LEARNING_AGENTS = ("spark", "ppo", "a2c", "sac", "td3")
AGGREGATES = {"IQM": iqm, "median": np.median, "mean": np.mean}


@dataclass
class RLBenchmarkSpec:
    """``cells`` are the tasks of the benchmark: each a dict of SparkConfig overrides (e.g. ``{task: sr_x2,
    arch: fsrcnn, w_bits: 2, a_bits: 2}``) on top of ``env`` and the ``env_preset``."""

    agents: list[str] = field(default_factory=lambda: ["spark", "ppo", "a2c", "sac", "td3", "random", "uniform"])
    cells: list[dict[str, Any]] = field(default_factory=lambda: [{"task": "sr_x2", "arch": "fsrcnn"}])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    train_steps: int = 128
    env_preset: str = "quick"
    env: dict[str, Any] = field(default_factory=dict)
    agent_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    test_folders: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [a for a in self.agents if a not in AGENT_NAMES]
        if unknown:
            raise ConfigError(f"unknown agent(s) {unknown}; allowed: {', '.join(AGENT_NAMES)}")
        if "uniform" not in self.agents:
            raise ConfigError("agents must include 'uniform' (the reference of the paired differences)")
        if self.train_steps < 0:
            raise ConfigError(f"train_steps={self.train_steps} is invalid; allowed: >= 0")


def cell_name(cell: dict[str, Any]) -> str:
    """``{task: sr_x2, arch: fsrcnn, w_bits: 2, a_bits: 2}`` -> ``"sr_x2 fsrcnn w_bits=2 a_bits=2"``."""
    rest = " ".join(f"{k}={v}" for k, v in cell.items() if k not in ("task", "arch"))
    return " ".join(str(p) for p in (cell.get("task", ""), cell.get("arch", ""), rest) if p)


def reference_jobs(cell: dict, env: dict, seeds: list[int], base: dict) -> list[dict]:
    """The FP teacher (once) and the PTQ start state (per seed) of a cell: the ends of the score scale."""
    name = cell_name(cell)
    out = []
    for kind, kind_seeds in (("teacher", seeds[:1]), ("ptq", seeds)):
        for seed in kind_seeds:
            key = {"cell": name, "agent": kind, "seed": seed}
            out.append({"key": key, **key, **base, "kind": kind, "env": env})
    return out


def jobs(spec: RLBenchmarkSpec) -> list[dict]:
    base = {"preset": spec.env_preset, "test_folders": spec.test_folders}
    grid = []
    for cell in spec.cells:
        env = {**spec.env, **cell}
        grid += reference_jobs(cell, env, spec.seeds, base)
        for agent in spec.agents:
            for seed in spec.seeds:
                key = {"cell": cell_name(cell), "agent": agent, "seed": seed}
                grid.append({"key": key, **key, **base, "kind": "qat", "agent": agent, "env": env,
                             "agent_kwargs": spec.agent_kwargs.get(agent, {}),
                             "pretrain_steps": spec.train_steps if agent in LEARNING_AGENTS else 0})
    return grid


def job_label(job: dict) -> str:
    return f"{job['cell']} {job['agent']} seed {job['seed']}"


def normalized_scores(results: pd.DataFrame, column: str = "agent") -> pd.DataFrame:
    """QAT runs with ``score = (psnr - ptq) / (fp - ptq)`` (PTQ of the same cell and seed) and ``vs_uniform``
    (dB, paired by cell and seed)."""
    fp = results[results[column] == "teacher"].set_index("cell")["psnr"]
    ptq = results[results[column] == "ptq"].set_index(["cell", "seed"])["psnr"]
    runs = results[~results[column].isin(["teacher", "ptq"])].copy()
    start = np.array([ptq[(c, s)] for c, s in zip(runs.cell, runs.seed)])
    runs["score"] = (runs.psnr.to_numpy() - start) / (runs.cell.map(fp).to_numpy() - start)
    uniform = runs[runs[column] == "uniform"].set_index(["cell", "seed"])["psnr"]
    runs["vs_uniform"] = [p - uniform.get((c, s), np.nan) for p, c, s in zip(runs.psnr, runs.cell, runs.seed)]
    return runs


def aggregate(runs: pd.DataFrame, column: str = "agent") -> pd.DataFrame:
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


def plot_aggregates(runs: pd.DataFrame, path: Path, column: str = "agent") -> None:
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


def report_scores(store: ResultsStore, column: str, title: str) -> None:
    """Scores, aggregate table and plots of a run folder whose ``column`` names what is compared (agents, rewards)
    next to the ``teacher`` / ``ptq`` / ``uniform`` reference rows."""
    runs = normalized_scores(store.table(), column)
    print(write_table(aggregate(runs, column), store.folder, "summary", title))
    per_cell = runs.pivot_table(index=column, columns="cell", values="psnr", aggfunc="mean", sort=False)
    print(write_table(per_cell.reset_index(), store.folder, "per_cell", "Mean test PSNR-Y (dB) per cell"))
    plot_aggregates(runs, store.folder / "aggregates.png", column)
    plot_curves(store.table("curves"), {}, store.folder / "psnr_over_qat_steps.png", group_by=column,
                panel_by=("cell",))
    print(f"results, tables and plots in {store.folder}/")


def report(store: ResultsStore, spec: RLBenchmarkSpec) -> None:
    report_scores(store, "agent", f"RL agents, {spec.train_steps} training env steps each, then one measured QAT "
                  "run per seed; score = fraction of the PTQ -> FP gap closed on the test images")


def main(argv: list[str] | None = None) -> None:
    grid_main(argv, __doc__, "rl_benchmark", RLBenchmarkSpec, jobs, KEY_COLUMNS, job_label, report)


if __name__ == "__main__":
    main()
