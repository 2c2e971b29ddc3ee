"""Environment speed benchmark: the raw batched QAT step against the env step at the same batch.

    python -m experiments.bench_env [--preset quick] [--batches 1 8] [--steps 60] [--threads 2] [--override K=V]

In one process, per batch size B (the experiments' setting is B = 8 crops per QAT step): (1) the raw QAT step alone
(sample B crops, student forward, L1 + KD loss, backward, optimizer step) on the env's own session, (2) the natively
batched env step (``SparkKD-v2`` vector entry point) with the configured reward: the same work plus the difficulty
grids, the probe evaluation and the reward. Medians over ``--steps`` steps after a warm-up; the env is measured
before and after the raw steps and the smaller median kept (guards against drift). ``env / raw`` is the cost
ratio. (3) The env step driven by the lookahead map (``kd_lookahead``): the scores of the observed crops
(spark_env.lookahead) then the step; ``lookahead / env`` is its cost against the uniform env step. The per-phase
means of the env's steps ('observe', 'qat', 'reward', 'lookahead') follow the table.
"""
from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np
import pandas as pd
import torch

from spark_env import ENV_ID
from experiments.common import markdown_table, parse_overrides
from spark_env.qat import QATSession


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
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="env config override, e.g. --override reward=val_psnr_gain (repeatable)")
    args = parser.parse_args(argv)
    overrides = parse_overrides(args.override, "--override")
    long_episode = {"episode_steps": 10 ** 6, "torch_threads": args.threads, **overrides}
    rows, phases = [], []
    for batch in args.batches:
        envs = gym.make_vec(ENV_ID, num_envs=batch, vectorization_mode="vector_entry_point",
                            preset=args.preset, **long_episode)
        envs.reset(seed=0)
        episode = envs.unwrapped.episode
        session = QATSession(episode.config)  # the raw QAT steps run beside the env, on a run of their own
        session.start(0)
        actions = np.zeros((batch, 8, 8), np.float32)

        def raw_qat_step() -> None:
            crops = session.sample(batch)
            session.optimize(crops, session.forward(crops), torch.ones(batch, 8, 8))

        env_ms = median_ms(lambda: envs.step(actions), args.steps)
        raw_ms = median_ms(raw_qat_step, args.steps)
        env_ms = min(env_ms, median_ms(lambda: envs.step(actions), args.steps))

        def lookahead_step() -> None:
            episode.lookahead_scores()
            envs.step(actions)

        lookahead_ms = median_ms(lookahead_step, args.steps)
        rows.append({"batch": batch, "raw QAT step ms": raw_ms, "env step ms": env_ms, "env / raw": env_ms / raw_ms,
                     "env ms per crop": env_ms / batch, "lookahead step ms": lookahead_ms,
                     "lookahead / env": lookahead_ms / env_ms})
        steps = max(episode.step_index, 1)
        phases.append(f"B={batch}: " + ", ".join(f"{k} {1000 * v / steps:.1f}" for k, v in episode.timings.items()))
    print(f"preset {args.preset} {overrides or ''}, {args.threads} torch threads, medians of {args.steps} steps\n")
    print(markdown_table(pd.DataFrame(rows), ".2f"))
    print("\nenv, mean ms per step by phase: " + "; ".join(phases))


if __name__ == "__main__":
    main()
