"""Train the shipped SPARK policy (or your own) and write it with its provenance, in one command.

    python -m experiments.train_policy                       # rl_benchmark --preset policy, then
                                                             # agents/policies/spark_pretrained.{pt,json}
    python -m experiments.train_policy --preset my_preset --policy-out my_policy.pt
    python -m experiments.train_policy --run-folder runs/rl_benchmark/policy --policy-out my_policy.pt  # no training

The preset is an rl_benchmark preset (``experiments/configs/rl_benchmark/``; ``policy`` trains PGPE on FSRCNN SR x2
W4A4 and W3A3, 10 seeds each); the grid resumes like any rl_benchmark run (``runs/rl_benchmark/<preset>``). The
policy written is the mean of the final parameters of every training run of ``--agent`` in the run folder (one per
cell and seed, each an independent training): a linear policy's 4 channel weights share one meaning across runs,
and their mean removes most of the seed-to-seed scatter of a single run's weights (std 0.33-0.43 per weight over
the shipped policy's 20 trainings of 16 runs each). Linear and gated policies are averaged, all files of one class
(a gated policy's 9 parameters also mean the same in every training, but its gate ``max(0, b + v . o)`` is not
linear in them, so the mean's map is not the mean of the maps); a CNN's parameters have no shared coordinates.

Beside the policy file goes ``<name>.json``: its SHA-256, its weights, every training run's weights, and how it was
made (the command, the run folder's config; the package / torch versions and CPU kernel of the averaging, which for
the shipped policy are the training's too). ``make_agent("spark_pretrained", env, path=..., sha256=...)`` applies
such a file; the shipped one needs no arguments.
"""
from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from agents.parameter_search import POLICY_CLASSES, load_policy_file, save_policy_file
from agents.pretrained import SHIPPED_POLICY
from experiments import rl_benchmark
from experiments.baselines import provenance, spec_from_config
from experiments.qat_runs import key_path
from spark_env.errors import ConfigError
from spark_env.models.teachers import file_sha256


def final_policy_files(run_folder: Path, agent: str) -> tuple[dict[str, Any], list[tuple[str, int, Path]]]:
    """The run folder's config and, per cell and seed, the policy file of ``agent`` after the full training budget
    (the paths the grid wrote, from the run's own jobs); a missing file (an unfinished grid) is a ConfigError
    naming it."""
    config_file = run_folder / "config.yaml"
    if not config_file.is_file():
        raise ConfigError(f"'{run_folder}' is not an rl_benchmark run folder (no config.yaml)")
    config = yaml.safe_load(config_file.read_text())
    if not isinstance(config, dict) or not {"agents", "cells"} <= set(config):
        raise ConfigError(f"'{run_folder}' is not an rl_benchmark run folder (its config.yaml has no agents and "
                          "cells)")
    try:
        spec = spec_from_config(config, rl_benchmark.RLBenchmarkSpec)
    except TypeError as error:
        raise ConfigError(f"'{run_folder}' is not an rl_benchmark run folder: {error}") from None
    if agent not in spec.agents:
        raise ConfigError(f"agent {agent!r} is not among the run's agents {spec.agents}")
    if not rl_benchmark.learns_in(spec, agent):
        raise ConfigError(f"agent {agent!r} was not trained in this run (a fixed agent, or train_steps=0): it has "
                          "no trained policy to average")
    files = []
    for job in rl_benchmark.jobs(spec):
        if job.key.get("agent") == agent:
            path = run_folder / "policies" / key_path(job.key) / f"steps{job.budgets[-1]}.pt"
            if not path.is_file():
                raise ConfigError(f"policy file '{path}' is missing: the run has not finished (rerun it to resume)")
            files.append((job.key["cell"], job.key["seed"], path))
    return config, files


AVERAGED_POLICIES = ("linear", "gated")  # policy classes whose parameters mean the same in every training


def average_policy(files: list[tuple[str, int, Path]]) -> tuple[np.ndarray, dict[str, Any], list[dict]]:
    """The mean parameters of policy files of one class in AVERAGED_POLICIES; returns (mean, the first file's
    config, one row of named parameters per file)."""
    rows, parameters, config = [], [], None
    for cell, seed, path in files:
        mu, file_config = load_policy_file(path)
        if file_config["policy"] not in AVERAGED_POLICIES:
            raise ConfigError(f"policy file '{path}' holds a {file_config['policy']!r} policy; only "
                              f"{' and '.join(AVERAGED_POLICIES)} policies (parameters with one meaning in every "
                              "training) can be averaged")
        config = config or file_config
        if file_config["policy"] != config["policy"]:
            raise ConfigError(f"policy file '{path}' holds a {file_config['policy']!r} policy and the run's first "
                              f"one a {config['policy']!r} policy; only policies of one class can be averaged")
        parameters.append(mu)
        rows.append({"cell": cell, "seed": seed, **POLICY_CLASSES[config["policy"]].named(mu)})
    return np.mean(parameters, axis=0), config, rows


def write_policy(run_folder: Path, agent: str, out: Path, command: str) -> dict[str, Any]:
    """Average the run folder's final policies of ``agent`` into ``out`` and write ``out.with_suffix('.json')``;
    returns the manifest."""
    if out.suffix == ".json":
        raise ConfigError(f"policy file '{out}' has the manifest's suffix .json; allowed: another suffix (e.g. .pt)")
    config, files = final_policy_files(run_folder, agent)
    mean, agent_config, rows = average_policy(files)
    save_policy_file(out, mean, {**agent_config, "seed": 0})
    manifest = {
        "policy_file": out.name,
        "sha256": file_sha256(out),
        "policy": agent_config["policy"],
        "weights": POLICY_CLASSES[agent_config["policy"]].named(mean),
        "made_by": {"command": command, "agent": agent, "combined": f"mean of {len(files)} final policies",
                    "run_folder": str(run_folder), "run_config": config,
                    "created": datetime.date.today().isoformat(),
                    "averaged_with": provenance(config)},  # the averaging machine's versions and CPU kernel
        "training_runs": rows,
    }
    out.with_suffix(".json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="policy", help="rl_benchmark preset that trains the policies")
    parser.add_argument("--run-folder", type=Path, default=None,
                        help="a finished rl_benchmark run folder to average (skips training)")
    parser.add_argument("--agent", default="pgpe", help="the learning agent whose final policies are averaged")
    parser.add_argument("--policy-out", type=Path, default=None,
                        help="policy file to write, its manifest (.json) beside it; required unless the shipped "
                             f"policy is remade (--preset policy, no --run-folder: {SHIPPED_POLICY})")
    parser.add_argument("--workers", type=int, default=None, help="worker processes of the training grid")
    args = parser.parse_args(argv)
    if args.policy_out is None:
        if args.run_folder is not None or args.preset != "policy":
            parser.error("--policy-out is required with --run-folder or another preset than 'policy' (only "
                         "'python -m experiments.train_policy' remakes the shipped policy)")
        args.policy_out = SHIPPED_POLICY
    run_folder = args.run_folder
    if run_folder is None:
        run_folder = Path("runs/rl_benchmark") / args.preset
        grid_args = ["--preset", args.preset, "--out", str(run_folder)]
        rl_benchmark.main(grid_args + (["--workers", str(args.workers)] if args.workers else []))
    try:
        manifest = write_policy(run_folder, args.agent, args.policy_out,
                                shlex.join(["python", "-m", "experiments.train_policy",
                                            *(argv if argv is not None else sys.argv[1:])]))
    except ConfigError as error:
        raise SystemExit(f"error: {error}") from error
    weights = ", ".join(f"{k} {v:+.3f}" for k, v in manifest["weights"].items())
    print(f"wrote {args.policy_out} ({manifest['made_by']['combined']}; {weights}; sha256 {manifest['sha256']})")


if __name__ == "__main__":
    main()
