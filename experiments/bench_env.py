"""Environment speed benchmark: the raw batched QAT step against the env step at the same batch, timed interleaved.

    python -m experiments.bench_env [--preset quick] [--batches 1 8 16 32] [--steps 60] [--repeats 3]
                                    [--threads 2] [--override K=V]

In one process, per batch size B (the experiments' setting is B = 8 crops per QAT step), three steps are timed in
alternation on the same machine state, so that drift (other load, clock changes) hits them alike:

* ``raw``: the raw QAT step alone (sample B crops, student forward, L1 + KD loss, backward, optimizer step) on a
  session of its own;
* ``env``: the natively batched env step (``SparkKD-v2`` vector entry point) with the configured reward: the same
  work plus the difficulty grids, the probe evaluation (every ``probe_every`` QAT steps) and the reward;
* ``lookahead``: the env step driven by the lookahead map (``kd_lookahead``): the scores of the observed crops
  (spark_env.lookahead), then the step.

Each round times raw, env and lookahead once, in an order that rotates every round. The ratios ``env / raw`` and
``lookahead / env`` are taken within each round; the table gives their medians with the interquartile range, the
median milliseconds, the ratio of the mean times (which includes the env steps that evaluate the probe, one in
``probe_every``: the median round does not; use a multiple of ``probe_every`` rounds) and the env's throughput
from its mean step time (env steps per second: every crop counts). ``--repeats`` runs the
whole measurement again (fresh env and session) and prints how much the median ratios move between repeats. The
per-phase means of the env's steps ('observe', 'qat', 'reward', 'lookahead') follow the table.
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import pandas as pd
import torch

from spark_env import ENV_ID
from experiments.common import markdown_table, parse_overrides
from spark_env.qat import QATSession


def timed_ms(fn: Callable[[], None]) -> float:
    began = time.perf_counter()
    fn()
    return 1000.0 * (time.perf_counter() - began)


def interleaved_ms(steps: dict[str, Callable[[], None]], rounds: int, warmup: int = 3) -> dict[str, np.ndarray]:
    """Milliseconds of each named step over ``rounds`` rounds; every round runs every step once, the order rotated
    by one each round (so no step always runs first after another)."""
    names = list(steps)
    for _ in range(warmup):
        for name in names:
            steps[name]()
    times = {name: np.empty(rounds) for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            times[name][index] = timed_ms(steps[name])
    return times


def raw_qat_step(session: QATSession, batch: int, weights: torch.Tensor | None) -> None:
    """One raw QAT step of a session: ``batch`` crops, forward, loss under the (batch, 8, 8) ``weights`` (None:
    uniform KD), backward, optimizer step."""
    crops = session.sample(batch)
    session.optimize(crops, session.forward(crops), weights)


def quartiles(values: np.ndarray) -> str:
    low, median, high = np.percentile(values, [25, 50, 75])
    return f"{median:.2f} [{low:.2f}, {high:.2f}]"


def measure(preset: str, batch: int, rounds: int, overrides: dict) -> tuple[dict, str]:
    """One measurement at batch ``batch``: (table row, per-phase line)."""
    envs = gym.make_vec(ENV_ID, num_envs=batch, vectorization_mode="vector_entry_point", preset=preset,
                        **overrides)
    envs.reset(seed=0)
    episode = envs.unwrapped.episode
    session = QATSession(episode.config)  # the raw QAT steps run beside the env, on a run of their own
    session.start(0)
    actions = np.zeros((batch, 8, 8), np.float32)
    uniform = torch.ones(batch, 8, 8)

    def lookahead_step() -> None:
        episode.lookahead_scores()
        envs.step(actions)

    times = interleaved_ms({"raw": lambda: raw_qat_step(session, batch, uniform), "env": lambda: envs.step(actions),
                            "lookahead": lookahead_step}, rounds)
    env_ratio, lookahead_ratio = times["env"] / times["raw"], times["lookahead"] / times["env"]
    env_ms = statistics.median(times["env"])
    row = {"batch": batch, "raw QAT step ms": statistics.median(times["raw"]), "env step ms": env_ms,
           "env / raw [IQR]": quartiles(env_ratio), "env / raw of means": times["env"].mean() / times["raw"].mean(),
           "env steps / s": 1000.0 * batch / times["env"].mean(),
           "lookahead / env [IQR]": quartiles(lookahead_ratio),
           "_env_ratio": float(np.median(env_ratio)), "_lookahead_ratio": float(np.median(lookahead_ratio))}
    steps = max(episode.step_index, 1)
    phases = f"B={batch}: " + ", ".join(f"{k} {1000 * v / steps:.1f}" for k, v in episode.timings.items())
    return row, phases


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--steps", type=int, default=64, help="timed rounds per measurement")
    parser.add_argument("--repeats", type=int, default=1, help="whole measurements per batch size")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 16, 32])
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="env config override, e.g. --override reward=val_psnr_gain (repeatable)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        raise SystemExit(f"error: --steps {args.steps} / --repeats {args.repeats}: both must be >= 1")
    overrides = parse_overrides(args.override, "--override")
    long_episode = {"episode_steps": 10 ** 6, "torch_threads": args.threads, **overrides}
    rows, phases = [], []
    for batch in args.batches:
        for repeat in range(args.repeats):
            row, phase = measure(args.preset, batch, args.steps, long_episode)
            rows.append({"repeat": repeat + 1, **row})
            phases.append(phase)
    table = pd.DataFrame(rows)
    print(f"preset {args.preset} {overrides or ''}, {args.threads} torch threads, {args.steps} interleaved rounds "
          "(median [interquartile range] of the per-round ratios)\n")
    print(markdown_table(table.drop(columns=["_env_ratio", "_lookahead_ratio"]), ".2f"))
    if args.repeats > 1:
        spread = table.groupby("batch").agg(env_low=("_env_ratio", "min"), env_high=("_env_ratio", "max"),
                                            look_low=("_lookahead_ratio", "min"),
                                            look_high=("_lookahead_ratio", "max"))
        print("\nmedian ratios across repeats (min - max): " + "; ".join(
            f"B={b}: env / raw {r.env_low:.3f} - {r.env_high:.3f}, lookahead / env {r.look_low:.2f} - "
            f"{r.look_high:.2f}" for b, r in spread.iterrows()))
    print("\nenv, mean ms per step by phase: " + "; ".join(phases))


if __name__ == "__main__":
    main()
