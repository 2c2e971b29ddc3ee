"""Every agent on the same small budget: train, then run fresh QAT runs and measure the final students.

    python -m experiments.agents_table [--preset quick] [--train-steps 64] [--episode-steps 64] [--seeds 0 1 2]

For each agent and seed: a new env (``--preset`` with ``episode_steps=--episode-steps``) and agent; ``learn``
for ``--train-steps`` env steps (fixed agents just act); then one fresh QAT run (new seed) with the agent acting
deterministically, and the final student's PSNR-Y / SSIM-Y on the held-out test images. Rows are written to
``runs/agents/agents.csv`` as they finish (a rerun skips finished rows); the Markdown table gives mean and standard
deviation over seeds.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd

import spark_env  # noqa: F401
from agents import AGENT_NAMES, make_agent
from experiments.common import parse_overrides, seed_everything, write_table
from spark_env.data import get_task, load_pairs
from spark_env.evaluation import evaluate


def final_student_psnr(agent, env, seed: int) -> dict[str, float]:
    obs, info = env.reset(seed=seed)
    start = info["probe_psnr"]
    done = False
    while not done:
        obs, _, done, _, info = env.step(np.clip(agent.act(obs, deterministic=True), -1, 1))
    task = get_task(env.unwrapped.config.task)
    result = evaluate(env.unwrapped.session.student, load_pairs(task, "test"), task)
    return {**result, "probe_start": start, "probe_end": info["probe_psnr"], "error": info.get("error", "")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--agents", nargs="+", default=list(AGENT_NAMES))
    parser.add_argument("--train-steps", type=int, default=64)
    parser.add_argument("--episode-steps", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="env config override, e.g. --override w_bits=2 (repeatable; values read as YAML)")
    parser.add_argument("--out", type=Path, default=Path("runs/agents"))
    args = parser.parse_args(argv)
    overrides = {"episode_steps": args.episode_steps, **parse_overrides(args.override)}
    args.out.mkdir(parents=True, exist_ok=True)
    csv = args.out / "agents.csv"
    rows = pd.read_csv(csv).to_dict("records") if csv.is_file() else []
    finished = {(r["agent"], r["seed"]) for r in rows}
    for name in args.agents:
        for seed in args.seeds:
            if (name, seed) in finished:
                continue
            seed_everything(seed)
            began = time.time()
            env = gym.make("SparkKD-v0", preset=args.preset, **overrides)
            agent = make_agent(name, env, seed=seed)
            agent.learn(args.train_steps)
            result = final_student_psnr(agent, env, seed=10_000 + seed)
            rows.append({"agent": name, "seed": seed, **result, "seconds": round(time.time() - began, 1)})
            pd.DataFrame(rows).to_csv(csv, index=False)
            print(f"{name} seed {seed}: test PSNR {result['psnr']:.3f} dB ({rows[-1]['seconds']} s)", flush=True)
    frame = pd.DataFrame(rows)
    summary = frame.groupby("agent", sort=False).agg(
        psnr_mean=("psnr", "mean"), psnr_std=("psnr", "std"), ssim_mean=("ssim", "mean"),
        seeds=("seed", "count")).reset_index()
    title = (f"Agents, {args.train_steps} training steps then one fresh {args.episode_steps}-step QAT run "
             f"(preset {args.preset}, {overrides}); final student on the test split")
    print(write_table(summary, args.out, "agents_summary", title, floatfmt=".4f"))


if __name__ == "__main__":
    main()
