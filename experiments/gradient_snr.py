"""Signal-to-noise of the policy-gradient estimates that PGPE and an SB3-style learner get from the same QAT runs.

    python -m experiments.gradient_snr [--pairs 16] [--sigma 0.3] [--set w_bits=3 --set a_bits=3] [--out DIR]
                                       [--preset quick] [--batch 8]

At the start of training (channel weights ``mu = 0``: uniform KD, Gaussian exploration ``sigma``), in the
``channel_weights`` action space with one decision per run (the setting of ``ppo_episodic`` / ``pgpe``), it runs
``pairs`` antithetic pairs: QAT seed ``s_i`` with weights ``+eps_i`` and ``-eps_i``. From these runs two estimators
of the gradient of the run's return with respect to ``mu`` are formed:

* paired (PGPE): ``g_i = eps_i / sigma^2 * (R+_i - R-_i) / 2``, one sample per pair (two runs, one seed);
* unpaired (the likelihood-ratio estimate of REINFORCE / A2C / PPO with a mean-return baseline): ``g_i = eps_i /
  sigma^2 * (R+_i - b)`` over the ``+`` runs alone (one run per seed; ``b`` the mean of the other ``+`` returns).

Per estimator: the mean gradient, the per-sample signal-to-noise ``|E g|^2 / E|g - E g|^2`` (estimated with the
sample mean's own noise removed), and the QAT runs its average needs for SNR 1 (``runs per sample / per-sample
SNR``). Written to ``<out>/gradient_snr.md`` and ``returns.csv`` (every run's return, resumable per run).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd

import spark_env  # noqa: F401  (registers the env ids)
from experiments.common import markdown_table, parse_overrides
from spark_env.difficulty import CHANNELS

CELL = {"task": "sr_x2", "arch": "fsrcnn", "w_bits": 4, "a_bits": 4, "episode_steps": 64, "torch_threads": 2}


def run_return(env, seed: int, weights: np.ndarray) -> float:
    """The return of one QAT run from ``seed`` with fixed channel weights (one decision for every crop)."""
    env.reset(seed=seed)
    _, rewards, terminated, _, _ = env.step(np.tile(weights.astype(np.float32), (env.num_envs, 1)))
    if not terminated[0]:
        raise RuntimeError("expected one decision per run (decision_interval=0)")
    return float(rewards[0])


def snr(samples: np.ndarray) -> tuple[np.ndarray, float]:
    """(mean gradient, per-sample SNR |E g|^2 / E|g - E g|^2); |E g|^2 is estimated without the bias of the
    sample mean (|mean|^2 - trace(cov) / n), floored at 0."""
    n = len(samples)
    mean = samples.mean(0)
    noise = float(np.trace(np.atleast_2d(np.cov(samples.T, ddof=1))))
    signal = max(float(mean @ mean) - noise / n, 0.0)
    return mean, signal / noise


def estimators(runs: pd.DataFrame, sigma: float) -> pd.DataFrame:
    """The two estimators' figures from the runs table (pair, sign, eps_<channel>, return)."""
    eps = runs[runs.sign > 0].sort_values("pair")[[f"eps_{c}" for c in CHANNELS]].to_numpy()
    plus = runs[runs.sign > 0].sort_values("pair")["return"].to_numpy()
    minus = runs[runs.sign < 0].sort_values("pair")["return"].to_numpy()
    n = len(plus)
    paired = eps / sigma ** 2 * ((plus - minus) / 2)[:, None]
    leave_one_out = (plus.sum() - plus) / (n - 1)
    unpaired = eps / sigma ** 2 * (plus - leave_one_out)[:, None]
    rows = []
    for name, samples, runs_per_sample in (("paired (PGPE)", paired, 2), ("unpaired (REINFORCE / PPO)", unpaired, 1)):
        mean, ratio = snr(samples)
        rows.append({"estimator": name, "samples": n, "QAT runs": n * runs_per_sample,
                     **{f"grad {c}": g for c, g in zip(CHANNELS, mean)},
                     "per-sample SNR": ratio,
                     "runs for SNR 1": runs_per_sample / ratio if ratio > 0 else float("inf")})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--sigma", type=float, default=0.3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--seed", type=int, default=0, help="seeds the QAT seeds and the perturbations")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="env config override (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("runs/gradient_snr"))
    args = parser.parse_args(argv)
    if args.pairs < 3 or args.sigma <= 0:
        raise SystemExit(f"error: --pairs {args.pairs} / --sigma {args.sigma}: need at least 3 pairs and sigma > 0")
    overrides = {**CELL, **parse_overrides(args.overrides, "--set"), "action_space": "channel_weights",
                 "decision_interval": 0}
    env = gym.make_vec("SparkKD-v2", num_envs=args.batch, vectorization_mode="vector_entry_point", preset=args.preset,
                       **overrides)
    rng = np.random.default_rng(args.seed)
    draws = [(int(rng.integers(100_000, 2 ** 31 - 1)), rng.normal(0.0, args.sigma, len(CHANNELS)))
             for _ in range(args.pairs)]
    args.out.mkdir(parents=True, exist_ok=True)
    settings = {"pairs": args.pairs, "sigma": args.sigma, "batch": args.batch, "preset": args.preset,
                "seed": args.seed, "overrides": overrides}
    settings_path = args.out / "settings.json"
    if settings_path.is_file() and json.loads(settings_path.read_text()) != settings:
        raise SystemExit(f"error: {args.out} holds runs of other settings ({settings_path.read_text().strip()}); "
                         "pass another --out")
    settings_path.write_text(json.dumps(settings))
    path = args.out / "returns.csv"
    done = pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=["pair", "sign"])
    finished = set(zip(done.pair, done.sign))
    for pair, (seed, eps) in enumerate(draws):
        for sign in (1, -1):
            if (pair, sign) in finished:
                continue
            row = {"pair": pair, "sign": sign, "seed": seed, **{f"eps_{c}": e for c, e in zip(CHANNELS, eps)},
                   "return": run_return(env, seed, sign * eps)}
            pd.DataFrame([row]).to_csv(path, mode="a", header=not path.is_file(), index=False)
            print(f"pair {pair} sign {sign:+d}: return {row['return']:.4f} dB", flush=True)
    table = estimators(pd.read_csv(path), args.sigma)
    text = (f"Gradient estimates at mu = 0 (uniform KD), sigma {args.sigma}, {args.pairs} antithetic pairs, "
            f"{overrides}\n\n{markdown_table(table, '.3g')}\n")
    (args.out / "gradient_snr.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
