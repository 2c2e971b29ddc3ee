"""Shipped per-seed results of the RL benchmark's baseline agents: compare your agent without rerunning them.

    python -m experiments.rl_benchmark --preset quick --set baselines=quick \\
        --set 'agents=[mypkg.agents:MyAgent, uniform, random, heuristic_combined, pgpe]'

``baselines=<preset>`` copies the shipped rows of the baseline agents named in ``agents`` (and the FP teacher and
PTQ reference rows) into a new run folder before the grid starts; the grid then skips them (they are finished
jobs) and runs only the rest. The shipped config must match the run's (cells, training budget, checkpoints,
batch, env preset, overrides, test folders, score split; the run's seeds a subset of the shipped ones), else a
ConfigError names what differs. Shipped rows record the package version, the env id, the torch version and the CPU
kernel (``ATEN_CPU_CAPABILITY``) that produced them: paired differences against rows made on another kernel carry
that kernel's last-bit noise as well (docs/statistics.md).

Maintainers ship a finished run's baselines with::

    python -m experiments.baselines --run-folder runs/rl_benchmark/quick --preset quick
"""
from __future__ import annotations

import argparse
import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import yaml

import spark_env
from experiments.grid import ResultsStore
from experiments.spec import cell_name
from spark_env.data import DEFAULT_IMAGE_SET
from spark_env.errors import ConfigError
from spark_env.protocols import latest_env_id

SHIPPED = Path(__file__).resolve().parent / "baselines"
BASELINE_AGENTS = ("uniform", "random", "random_weights", "heuristic_combined", "pgpe")
REFERENCE_ROWS = ("teacher", "ptq")  # the ends of the score scale, rows of every run folder
TABLES = ("results", "per_image", "curves")
MATCHED = ("cells", "train_steps", "checkpoints", "batch", "env_preset", "overrides", "test_folders", "score_split")


def provenance(config: dict[str, Any]) -> dict[str, str]:
    """Columns every shipped row carries: package version, env id, torch version, the CPU kernel."""
    image_set = config.get("overrides", {}).get("image_set", DEFAULT_IMAGE_SET)
    return {"spark_env_version": spark_env.__version__, "env_id": latest_env_id(image_set),
            "torch_version": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def ship(run_folder: Path, preset: str, experiment: str = "rl_benchmark", target: Path = SHIPPED) -> Path:
    """Copy the baseline agents' rows of a finished run folder into ``<target>/<experiment>/<preset>/`` with their
    provenance columns and the run's config; returns that folder."""
    config_file = run_folder / "config.yaml"
    if not config_file.is_file():
        raise ConfigError(f"'{run_folder}' is not a finished run folder (no config.yaml)")
    config = yaml.safe_load(config_file.read_text())
    kept = [a for a in config["agents"] if a in BASELINE_AGENTS] + list(REFERENCE_ROWS)
    folder = target / experiment / preset
    folder.mkdir(parents=True, exist_ok=True)
    store = ResultsStore(run_folder, ("cell", "agent", "seed"))
    for name in TABLES:
        frame = store.table(name)
        if not frame.empty:
            frame = frame[frame.agent.isin(kept)].assign(**provenance(config))
            frame.to_csv(folder / f"{name}.csv", index=False)
    shutil.copyfile(config_file, folder / "config.yaml")
    return folder


def shipped_presets(experiment: str = "rl_benchmark") -> list[str]:
    """Presets with shipped baselines."""
    root = SHIPPED / experiment
    return sorted(p.name for p in root.iterdir() if (p / "results.csv").is_file()) if root.is_dir() else []


def spec_from_config(config: dict[str, Any], spec_class: type) -> Any:
    """A run folder's resolved config as a spec, without its ``baselines`` key (fields it predates take their
    defaults, keys the spec class no longer has are dropped)."""
    known = {f.name for f in dataclasses.fields(spec_class)}
    return spec_class(**{key: value for key, value in config.items() if key in known and key != "baselines"})


def shipped_spec(folder: Path, spec_class: type) -> Any:
    """The config shipped baselines were measured under, as a spec (spec_from_config of its config.yaml)."""
    return spec_from_config(yaml.safe_load((folder / "config.yaml").read_text()), spec_class)


def check_shipped(spec: Any, experiment: str = "rl_benchmark") -> tuple[Path, Any]:
    """(folder, shipped config as a spec) of the shipped baselines ``spec.baselines`` names, after checking that they
    were measured under the spec's config (``MATCHED`` keys, the cells by the names that key their rows; the spec's
    seeds among the shipped ones); a ConfigError names what differs."""
    name = spec.baselines
    folder = SHIPPED / experiment / name
    if not (folder / "results.csv").is_file():
        raise ConfigError(f"no shipped baselines '{name}'; shipped: {', '.join(shipped_presets(experiment))}")
    shipped = shipped_spec(folder, type(spec))
    differing = [key for key in MATCHED
                 if _comparable(key, getattr(shipped, key)) != _comparable(key, getattr(spec, key))]
    extra_seeds = sorted(set(spec.seeds) - set(shipped.seeds))
    if differing or extra_seeds:
        detail = [f"{key}: run {getattr(spec, key)!r}, shipped {getattr(shipped, key)!r}" for key in differing]
        detail += [f"seeds {extra_seeds} are not shipped (shipped: {shipped.seeds})"] if extra_seeds else []
        raise ConfigError(f"baselines '{name}' were measured under another config; " + "; ".join(detail))
    return folder, shipped


def _comparable(key: str, value: Any) -> Any:
    """A config value as the grid sees it: cells by the names that key their rows."""
    return [cell_name(cell) for cell in value] if key == "cells" else value


def seed_run_folder(spec: Any, out: Path, experiment: str = "rl_benchmark") -> int:
    """Copy the shipped baselines ``spec.baselines`` names (checked by ``check_shipped``) into a run folder that has
    no results yet: the rows of the baseline agents among ``spec.agents`` measured with the same agent settings, and
    the teacher and PTQ rows, for the spec's seeds. Returns the number of results rows copied (0 for a folder with
    results: a rerun resumes as usual)."""
    if spec.baselines is None or (out / "results.csv").is_file():
        return 0
    folder, shipped = check_shipped(spec, experiment)
    agents = [a for a in spec.agents if a in BASELINE_AGENTS and a in shipped.agents
              and spec.agent_kwargs.get(a, {}) == shipped.agent_kwargs.get(a, {})
              and spec.agent_overrides.get(a, {}) == shipped.agent_overrides.get(a, {})]
    copied = {}
    for table in TABLES:
        path = folder / f"{table}.csv"
        if path.is_file():
            frame = pd.read_csv(path)
            copied[table] = frame[frame.agent.isin([*agents, *REFERENCE_ROWS]) & frame.seed.isin(spec.seeds)]
            copied[table].to_csv(out / f"{table}.csv", index=False)
    rows = copied["results"]
    kernel, here = rows.cpu_capability.iloc[0], torch.backends.cpu.get_cpu_capability()
    note = "" if kernel == here else f"; they were made on the {kernel} kernel, this machine runs {here}"
    print(f"{len(rows)} baseline rows ({', '.join(agents)}, teacher, PTQ) copied from the shipped "
          f"'{spec.baselines}'{note}")
    return len(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-folder", type=Path, required=True, help="a finished rl_benchmark run folder")
    parser.add_argument("--preset", required=True, help="the preset name the baselines are shipped under")
    args = parser.parse_args(argv)
    print(f"shipped into {ship(args.run_folder, args.preset)}/")


if __name__ == "__main__":
    main()
