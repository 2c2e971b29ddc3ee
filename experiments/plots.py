"""PNG plots of experiment results (matplotlib, Agg backend)."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from experiments.stats import student_t_ci  # noqa: E402


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_psnr_vs_bits(results: pd.DataFrame, labels: Mapping[str, str], path: Path) -> None:
    """One panel per (task, student): mean test PSNR per method against bit width, the 95 % Student-t CI over
    seeds as error bars; the FP teacher as a dashed line."""
    panels = list(results.groupby(["task", "student"], sort=False))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 3.8), squeeze=False)
    for ax, ((task, student), frame) in zip(axes[0], panels):
        for method, runs in frame[frame.method != "fp"].groupby("method", sort=False):
            stats = [(bits, *student_t_ci(group["psnr"])) for bits, group in runs.groupby("bits")]
            bits, mean, low, high = map(np.array, zip(*stats))
            ax.errorbar(bits, mean, yerr=np.nan_to_num([mean - low, high - mean]), marker="o", ms=3, capsize=2,
                        label=labels.get(method, method))
        fp = frame[frame.method == "fp"]["psnr"]
        if len(fp):
            ax.axhline(fp.mean(), color="k", ls="--", lw=0.8, label=labels.get("fp", "fp"))
        ax.set_title(f"{task}, {student} student", fontsize=9)
        ax.set_xlabel("bits (weights = activations)")
        ax.set_ylabel("test PSNR-Y (dB)")
        ax.set_xticks(sorted(frame[frame.method != "fp"]["bits"].unique()))
    axes[0][-1].legend(fontsize=6, loc="lower right")
    _save(fig, path)


def plot_curves(curves: pd.DataFrame, labels: Mapping[str, str], path: Path, group_by: str = "method",
                panel_by: tuple[str, ...] = ("task", "student", "bits")) -> None:
    """One panel per ``panel_by`` value: probe PSNR over QAT steps, mean over seeds per ``group_by`` value."""
    if curves.empty:
        return
    panels = list(curves.groupby(list(panel_by), sort=False))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 3.6), squeeze=False)
    for ax, (cell, frame) in zip(axes[0], panels):
        for name, runs in frame.groupby(group_by, sort=False):
            mean = runs.groupby("qat_step")["probe_psnr"].mean()
            ax.plot(mean.index, mean.values, lw=1, label=labels.get(name, str(name)))
        ax.set_title(" ".join(map(str, np.atleast_1d(cell))), fontsize=9)
        ax.set_xlabel("QAT step")
        ax.set_ylabel("probe PSNR-Y (dB), mean over seeds")
    axes[0][-1].legend(fontsize=6, loc="lower right")
    _save(fig, path)


def plot_weight_maps(folder: Path, labels: Mapping[str, str], path: Path, limit: int = 6) -> None:
    """Kept weight maps of one cell (the first in file order) next to the ground-truth crops they weighted: crop,
    map (colour = weight, mean 1), and the crop seen through the map, one row per example."""
    files = sorted(Path(folder).glob("*.npz"))
    if not files:
        return
    cell = lambda file: tuple(str(np.load(file)[k]) for k in ("task", "student", "bits"))  # noqa: E731
    first = cell(files[0])
    files = [f for f in files if cell(f) == first][:limit]  # one cell: the methods side by side
    fig, axes = plt.subplots(len(files), 3, figsize=(7.5, 2.5 * len(files)), squeeze=False)
    for row, file in zip(axes, files):
        data = np.load(file)
        target, weights = data["target"], data["weights"]
        row[0].imshow(target)
        row[0].set_title(f"{labels.get(str(data['method']), str(data['method']))}\n{data['task']} "
                         f"{data['student']} W{data['bits']} step {int(data['qat_step'])}", fontsize=7)
        shown = row[1].imshow(weights, cmap="viridis")
        row[1].set_title(f"KD weights (min {weights.min():.2f}, max {weights.max():.2f})", fontsize=7)
        fig.colorbar(shown, ax=row[1], fraction=0.046)
        big = np.kron(weights / weights.max(), np.ones((target.shape[0] // 8, target.shape[1] // 8)))
        row[2].imshow(target * big[..., None])
        row[2].set_title("crop x weight / max weight", fontsize=7)
        for ax in row:
            ax.axis("off")
    _save(fig, path)
