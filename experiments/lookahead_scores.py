"""What the lookahead scores show: their correlation with the difficulty channels and with the heuristic's map.

    python -m experiments.lookahead_scores [--preset quick] [--seeds 10] [--steps 64] [--batch 8] [--arch fsrcnn]

For each seed, one QAT run with uniform KD (the map does not depend on the scores, so every run is the same as a
plain uniform run) and ``lookahead_info=True``: at every step, for every crop, the Pearson correlation over the 64
cells between the scores and each difficulty channel of the observation, the combined heuristic's action and the
lookahead agent's action; plus the scores' scale (median absolute score, in 1e-3 dB of probe PSNR per unit
weight) and the share of positive scores. Per-seed means,
then mean and 95 % Student-t CI over seeds; also the same figures for the first and the last quarter of the run.
Writes ``runs/lookahead_scores/<preset>/summary.md`` / ``.csv`` and ``per_step.csv``.

``--finite-differences`` instead checks the scores against measured one-step reward changes (``finite_differences``)
at one state per seed (5 uniform steps of one crop from the seed) and prints, per state, the smooth cells and the
scores' agreement with the measured changes on them.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import torch

from spark_env import ENV_ID
from agents.fixed import HeuristicAgent
from agents.lookahead import scores_to_action
from experiments.common import markdown_table, write_table
from experiments.stats import format_ci, student_t_ci
from spark_env.config import make_config
from spark_env.difficulty import CHANNELS
from spark_env.lookahead import differentiable_psnr
from spark_env.qat import QATSession
from spark_env.training_set import CropBatch

SMOOTH_TOLERANCE = 0.2  # one-sided differences within 20 % of each other: no rounding jump inside +-delta


def cell_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r over the 64 cells, per crop: (B, 8, 8) x (B, 8, 8) -> (B,); NaN where either map is constant."""
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    denominator = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (a * b).sum(1) / denominator, np.nan)


def run_seed(seed: int, preset: str, steps: int, batch: int, overrides: dict) -> list[dict]:
    """One uniform-KD run; one row per step with the crop-mean figures."""
    env = gym.make_vec(ENV_ID, num_envs=batch, vectorization_mode="vector_entry_point", preset=preset,
                       episode_steps=steps, lookahead_info=True, **overrides)
    heuristic = HeuristicAgent(env, "combined")
    obs, info = env.reset(seed=seed)
    rows = []
    for step in range(steps):
        scores = info["lookahead_scores"]
        row = {"seed": seed, "step": step, "median abs score (1e-3 dB)": 1000 * float(np.median(np.abs(scores))),
               "positive share": float((scores > 0).mean())}
        for index, channel in enumerate(CHANNELS):
            row[f"r {channel}"] = float(np.nanmean(cell_correlation(scores, obs[:, index])))
        row["r heuristic map"] = float(np.nanmean(cell_correlation(scores, heuristic.act(obs))))
        lookahead_map = scores_to_action(scores)
        row["r lookahead map vs heuristic map"] = float(np.nanmean(cell_correlation(lookahead_map,
                                                                                    heuristic.act(obs))))
        rows.append(row)
        obs, _, _, _, info = env.step(np.zeros((batch, 8, 8), np.float32))
    return rows


def finite_differences(session: QATSession, crops: CropBatch,
                       delta: float = 0.01) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scores, measured, smooth) over the crops' cells, flattened. ``measured``: the central difference of the
    probe PSNR (the scores' objective, float64) after one real QAT step with one cell's weight at 1 +- ``delta``,
    per unit weight. The reward is only piecewise smooth in the weights (a nudge can move a latent weight or an
    activation across a rounding boundary of the quantizer), so ``smooth`` marks the cells whose forward and
    backward one-sided differences agree within ``SMOOTH_TOLERANCE``. The session is left as it was."""
    scores = session.lookahead_scores(crops).flatten().numpy().astype(np.float64)
    state = session.snapshot()
    count = crops.lq.shape[0]

    def probe_after(weights: torch.Tensor) -> float:
        session.rollback(state)
        session.optimize(crops, session.forward(crops), weights)
        out = session.probe.outputs(session.student)
        return differentiable_psnr(out.double(), session.probe.hr.double(), session.probe.border).item()

    base = probe_after(torch.ones(count, 8, 8))
    up, down = np.zeros(scores.size), np.zeros(scores.size)
    for cell in range(scores.size):
        for sign, store in ((1, up), (-1, down)):
            weights = torch.ones(count, 8, 8)
            weights.view(-1)[cell] += sign * delta
            store[cell] = sign * (probe_after(weights) - base) / delta
    session.rollback(state)
    smooth = np.abs(up - down) <= SMOOTH_TOLERANCE * np.maximum(np.abs(up), np.abs(down))
    return scores, (up + down) / 2, smooth


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation (no ties expected: continuous values)."""
    return float(np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1])


def finite_difference_table(preset: str, seeds: int, delta: float = 0.01, warmup: int = 5) -> pd.DataFrame:
    """Per seed: one state (``warmup`` uniform steps of one crop), its smooth cells and their agreement."""
    rows = []
    for seed in range(seeds):
        session = QATSession(make_config(preset))
        session.start(seed)
        for _ in range(warmup):
            crops = session.sample(1)
            session.optimize(crops, session.forward(crops), None)
        scores, measured, smooth = finite_differences(session, session.sample(1), delta)
        kept = scores[smooth], measured[smooth]
        rows.append({"seed": seed, "smooth cells": int(smooth.sum()),
                     "sign agreement": float(np.mean(np.sign(kept[0]) == np.sign(kept[1]))) if smooth.any()
                     else np.nan,
                     "spearman": spearman(*kept) if smooth.sum() > 2 else np.nan,
                     "median measured / score": float(np.median(kept[1] / kept[0])) if smooth.any() else np.nan,
                     "median abs measured, all cells": float(np.median(np.abs(measured))),
                     "median abs score": float(np.median(np.abs(scores)))})
    return pd.DataFrame(rows)


def summarize(per_step: pd.DataFrame, steps: int) -> pd.DataFrame:
    """Mean and 95 % Student-t CI over seeds of each figure, for the whole run and its first / last quarter."""
    figures = [c for c in per_step.columns if c not in ("seed", "step")]
    parts = {"whole run": per_step, "first quarter": per_step[per_step.step < steps // 4],
             "last quarter": per_step[per_step.step >= steps - steps // 4]}
    rows = []
    for part, frame in parts.items():
        seed_means = frame.groupby("seed")[figures].mean()
        row = {"steps": part}
        for figure in figures:
            row[figure] = format_ci(*student_t_ci(seed_means[figure].to_numpy()), digits=3)
        rows.append(row)
    return pd.DataFrame(rows).set_index("steps").T.reset_index().rename(columns={"index": "figure"})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--arch", default="fsrcnn")
    parser.add_argument("--bits", type=int, default=4, help="weight and activation bits")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--finite-differences", action="store_true",
                        help="check the scores against measured one-step reward changes (one crop, --seeds states)")
    parser.add_argument("--delta", type=float, default=0.01, help="finite differences: the nudge of a cell's weight")
    args = parser.parse_args(argv)
    if args.finite_differences:
        table = finite_difference_table(args.preset, args.seeds, args.delta)
        print(f"Scores against one-step finite differences ({args.preset}, delta {args.delta}, one crop, one state "
              "per seed)\n")
        print(markdown_table(table, ".4g"))
        return
    overrides = {"arch": args.arch, "w_bits": args.bits, "a_bits": args.bits, "torch_threads": 1}
    rows = [row for seed in range(args.seeds) for row in run_seed(seed, args.preset, args.steps, args.batch,
                                                                   overrides)]
    per_step = pd.DataFrame(rows)
    out = args.out or Path("runs/lookahead_scores") / args.preset
    out.mkdir(parents=True, exist_ok=True)
    per_step.to_csv(out / "per_step.csv", index=False)
    title = (f"Lookahead scores during uniform-KD QAT runs ({args.preset}, {args.arch} W{args.bits}A{args.bits}, "
             f"batch {args.batch}, {args.steps} steps, {args.seeds} seeds): per-crop Pearson r over the 64 cells, "
             "mean [95 % CI] over seeds")
    print(write_table(summarize(per_step, args.steps), out, "summary", title))


if __name__ == "__main__":
    main()
