"""The command line every grid experiment shares: preset or config file, overrides, dry run, backends, resume.

An experiment module describes itself with an ``Experiment`` (its spec class, how to build its jobs, its key
columns, how to report) and its ``main`` is ``grid_main(argv, __doc__, EXPERIMENT)``.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments.grid import Job, JobFunction, ResultsStore, default_workers, job_label, make_backend, run_grid
from experiments.qat_runs import check_user_agents, run_job
from experiments.spec import check_paths, presets, resolve, write_resolved
from spark_env.errors import ConfigError


@dataclass(frozen=True)
class Experiment:
    """A grid experiment: ``name`` (its configs in ``experiments/configs/<name>/``, its runs in
    ``runs/<name>/<preset>``), ``spec_class`` (the dataclass a config file fills), ``make_jobs(spec)``,
    ``key_columns`` (of its results rows), ``report(store, spec)`` (tables and plots from the run folder),
    ``job_function`` (job -> result tables; by default one measured QAT run, qat_runs.run_job) and ``prepare(spec,
    out)`` (run before the grid starts, e.g. to copy shipped rows into a new run folder)."""

    name: str
    spec_class: type
    make_jobs: Callable[[Any], list[Job]]
    key_columns: tuple[str, ...]
    report: Callable[[ResultsStore, Any], None]
    job_function: JobFunction = run_job
    prepare: Callable[[Any, Path], Any] | None = None


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


def grid_main(argv: list[str] | None, doc: str | None, experiment: Experiment) -> None:
    """Parse flags, resolve the spec (errors name the bad key or value), print the grid (``--dry-run``) or run
    what is not finished yet and report from the run folder."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_grid_arguments(parser, experiment.name, f"runs/{experiment.name}")
    args = parser.parse_args(argv)
    try:
        spec, out = resolve(experiment.spec_class, experiment.name, args, f"runs/{experiment.name}")
        grid = experiment.make_jobs(spec)
        if not args.dry_run:
            check_paths(spec)
            # a user's agent that cannot act or learn fails now, not hours into the grid (and before the run folder
            # records this config, so a corrected config is not refused as a different one)
            check_user_agents(grid)
            write_resolved(spec, out)
            if experiment.prepare is not None:
                experiment.prepare(spec, out)
    except ConfigError as error:
        raise SystemExit(f"error: {error}") from error
    if args.dry_run:
        print(f"{len(grid)} runs into {out}/")
        for job in grid:
            print(" ", job_label(job))
        return
    backend = make_backend(args.backend, args.address, args.gpus_per_run, args.workers or default_workers())
    store = ResultsStore(out, experiment.key_columns)
    run_grid(grid, experiment.job_function, store, backend, desc=experiment.name)
    experiment.report(store, spec)
