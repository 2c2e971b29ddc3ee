"""Golden figures: a few tiny-preset QAT runs of every built-in agent and reward, recorded before a refactoring and
compared after it (``tests/golden/test_golden.py``).

    python -m tests.golden.figures --record     # record this CPU's figures in tiny_runs.json from the current code

The figures are recorded per CPU kernel family (``torch.backends.cpu.get_cpu_capability()``: AVX2, AVX512, ...):
PyTorch picks its CPU kernels by instruction set, and a QAT run amplifies their last-bit differences to about 0.02
dB on the tiny preset (measured: AVX2 records against an AVX512 machine), far more than the comparison's tolerance.
Record a new family's figures from a commit whose figures are trusted, then compare later code against them; a
case added later (a new agent or reward) is recorded on the machine that adds it.

Each case is one measured QAT run (``experiments.qat_runs.qat_run``) on the tiny preset with 2 crops per step; the
learning agents first train on other QAT runs, long enough for at least one update of each. The figures are the
final student's test PSNR / SSIM, the probe PSNR at the end and the episode return.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from experiments.qat_runs import RunSpec, qat_run

GOLDEN_FILE = Path(__file__).with_name("tiny_runs.json")
FIGURES = ("psnr", "ssim", "probe_end", "return")
BATCH = 2
# env steps of agent training before the measured run: one tiny episode is 8 steps x 2 crops = 16 env steps
# (the episodic agents: 4 runs, one update of PPO / A2C with 4-run rollouts and of PGPE with 2 pairs)
PRETRAIN = {"spark": 32, "spark_distill": 64, "pgpe": 64, "ppo": 64, "a2c": 32, "sac": 48, "td3": 48,
            "ppo_episodic": 64, "a2c_episodic": 64, "spark_episodic": 64, "ppo_episodic_crn": 64,
            "a2c_episodic_crn": 64, "cmaes": 64}
AGENTS = ("spark", "spark_distill", "pgpe", "ppo", "a2c", "sac", "td3", "ppo_episodic", "a2c_episodic",
          "spark_episodic", "ppo_episodic_crn", "a2c_episodic_crn", "cmaes", "uniform", "random", "random_weights",
          "spark_pretrained", "lookahead", "heuristic_laplacian", "heuristic_variance", "heuristic_error",
          "heuristic_gap", "heuristic_combined")
REWARDS = ("probe_psnr_gain", "crop_psnr_gain", "gap_potential", "ssim_gain", "final_psnr",
           "counterfactual_uniform", "val_psnr_gain", "paired_uniform_gain")


def cases() -> dict[str, RunSpec]:
    """Case label -> the run it measures."""
    specs = {}
    for agent in AGENTS:
        overrides = {"image_set": "v0", **({"lookahead_info": True} if agent == "spark_distill" else {})}
        specs[f"agent={agent}"] = RunSpec(agent=agent, batch=BATCH, seed=3, preset="tiny", overrides=overrides,
                                          pretrain_steps=PRETRAIN.get(agent, 0))
    for reward in REWARDS:
        specs[f"reward={reward}"] = RunSpec(agent="spark", batch=BATCH, seed=5, preset="tiny",
                                            overrides={"image_set": "v0", "reward": reward}, pretrain_steps=32)
    return specs


def capability() -> str:
    """The CPU kernel family PyTorch dispatches to on this machine (the key of its golden figures)."""
    return torch.backends.cpu.get_cpu_capability()


def recorded() -> dict[str, dict[str, dict[str, float]]]:
    """Kernel family -> case label -> figures."""
    return json.loads(GOLDEN_FILE.read_text())


def measure(spec: RunSpec) -> dict[str, float]:
    metrics = qat_run(spec).metrics
    return {name: float(metrics[name]) for name in FIGURES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--record", action="store_true", help=f"write this CPU's figures into {GOLDEN_FILE.name}")
    parser.add_argument("--only", nargs="+", default=None, metavar="LABEL",
                        help="measure (and record) only these cases, e.g. agent=ppo_episodic")
    args = parser.parse_args()
    figures = {label: measure(spec) for label, spec in cases().items() if args.only is None or label in args.only}
    if args.record:
        everything = recorded()
        everything[capability()] = {**everything.get(capability(), {}), **figures}
        GOLDEN_FILE.write_text(json.dumps(everything, indent=1, sort_keys=True) + "\n")
    print(capability(), json.dumps(figures, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
