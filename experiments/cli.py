"""The command line every grid experiment shares: preset or config file, overrides, dry run, backends, resume.

``grid_main`` is the whole ``main`` of benchmark.py, rl_benchmark.py and reward_shaping.py: each passes its spec
class, how to build its jobs and how to report its results.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from experiments.grid import JobFunction, ResultsStore, default_workers, make_backend, run_grid
from experiments.qat_runs import run_job
from experiments.spec import check_paths, presets, resolve, write_resolved
from spark_env.errors import ConfigError


def add_grid_arguments(parser: argparse.ArgumentParser, experiment: str, default_out: str) -> None:
    """Flags shared by the grid scripts: preset / config file, overrides, output folder, dry run, backend."""
    parser.add_argument("--preset", default="quick", help=f"one of: {', '.join(presets(experiment))}")
    parser.add_argument("--config", type=Path, default=None, help="a YAML config file instead of a preset")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override a config key, e.g. --set seeds=[0,1] (repeatable; values read as YAML)")
    parser.add_argument("--out", type=Path, default=None, help=f"run folder (default {default_out}/<preset>)")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved config and the grid, run nothing")
    parser.add_argument("--backend", choices=["local", "ray"], default="local")
    parser.add_argument("--workers", type=int, default=None,
                        help="local backend: worker processes (default: one per CPU core; 1 runs in-process)")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
    parser.add_argument("--gpus-per-run", type=float, default=0.0, help="Ray: GPU share per run")


def grid_main(argv: list[str] | None, doc: str | None, experiment: str, spec_class: type,
              make_jobs: Callable[[Any], list[dict]], key_columns: tuple[str, ...], label: Callable[[dict], str],
              report: Callable[[ResultsStore, Any], None], job_function: JobFunction = run_job) -> None:
    """Parse flags, resolve the spec (errors name the bad key or value), print the grid (``--dry-run``) or run
    what is not finished yet (each job through ``job_function``, by default one measured QAT run) and report from
    the run folder."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_grid_arguments(parser, experiment, f"runs/{experiment}")
    args = parser.parse_args(argv)
    try:
        spec, out = resolve(spec_class, experiment, args, f"runs/{experiment}")
        if not args.dry_run:
            check_paths(spec)
            write_resolved(spec, out)
    except ConfigError as error:
        raise SystemExit(f"error: {error}") from error
    grid = make_jobs(spec)
    if args.dry_run:
        print(f"{len(grid)} runs into {out}/")
        for job in grid:
            print(" ", label(job))
        return
    backend = make_backend(args.backend, args.address, args.gpus_per_run, args.workers or default_workers())
    store = ResultsStore(out, key_columns)
    run_grid(grid, job_function, store, backend, label, desc=experiment)
    report(store, spec)
