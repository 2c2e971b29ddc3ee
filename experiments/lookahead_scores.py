"""What the lookahead scores show: their correlation with the difficulty channels and with the heuristic's map.

    python -m experiments.lookahead_scores [--preset quick] [--seeds 10] [--steps 64] [--batch 8] [--arch fsrcnn]

For each seed, one QAT run with uniform KD (the map does not depend on the scores, so every run is the same as a
plain uniform run) and ``lookahead_info=True``: at every step, for every crop, the Pearson correlation over the 64
cells between the scores and each difficulty channel of the observation, the combined heuristic's action and the
lookahead agent's action; plus the scores' scale (median absolute score, in 1e-3 dB of probe PSNR per unit
weight) and the share of positive scores. Per-seed means,
then mean and 95 % bootstrap CI over seeds; also the same figures for the first and the last quarter of the run.
Writes ``runs/lookahead_scores/<preset>/summary.md`` / ``.csv`` and ``per_step.csv``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd

import spark_env  # noqa: F401  (registers SparkKD-v0)
from agents.fixed import HeuristicAgent
from agents.lookahead import scores_to_action
from experiments.common import write_table
from experiments.stats import bootstrap_ci, format_ci
from spark_env.difficulty import CHANNELS


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
    env = gym.make_vec("SparkKD-v0", num_envs=batch, vectorization_mode="vector_entry_point", preset=preset,
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


def summarize(per_step: pd.DataFrame, steps: int) -> pd.DataFrame:
    """Mean and 95 % bootstrap CI over seeds of each figure, for the whole run and its first / last quarter."""
    figures = [c for c in per_step.columns if c not in ("seed", "step")]
    parts = {"whole run": per_step, "first quarter": per_step[per_step.step < steps // 4],
             "last quarter": per_step[per_step.step >= steps - steps // 4]}
    rows = []
    for part, frame in parts.items():
        seed_means = frame.groupby("seed")[figures].mean()
        row = {"steps": part}
        for figure in figures:
            row[figure] = format_ci(*bootstrap_ci(seed_means[figure].to_numpy()), digits=3)
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
    args = parser.parse_args(argv)
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
