"""Experiment configs: one YAML file per experiment and preset (``experiments/configs/<experiment>/<preset>.yaml``,
read with the safe loader), command-line overrides, and the command-line flags every grid script shares.

An experiment's fields are a dataclass; an unknown key (in the file or in ``--set``) raises ConfigError naming it
and listing the allowed keys.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import yaml

from experiments.common import parse_overrides
from spark_env.errors import ConfigError

CONFIG_DIR = Path(__file__).parent / "configs"
Spec = TypeVar("Spec")


def presets(experiment: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / experiment).glob("*.yaml"))


def load_spec(cls: type[Spec], experiment: str, preset: str | None = None, path: Path | None = None,
              overrides: dict[str, Any] | None = None) -> Spec:
    """The experiment config: a preset's YAML (or the file at ``path``) with ``overrides`` on top."""
    if path is None:
        path = CONFIG_DIR / experiment / f"{preset}.yaml"
        if not path.is_file():
            raise ConfigError(f"unknown preset '{preset}' for {experiment}; "
                              f"available: {', '.join(presets(experiment))}")
    elif not Path(path).is_file():
        raise ConfigError(f"config file '{path}' does not exist")
    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping of keys to values")
    data.update(overrides or {})
    allowed = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in data if k not in allowed]
    if unknown:
        raise ConfigError(f"unknown {experiment} config key(s) {', '.join(map(repr, unknown))} in '{path}' or "
                          f"--set; allowed: {', '.join(allowed)}")
    return cls(**data)


def resolve(cls: type[Spec], experiment: str, args: argparse.Namespace, default_out: str) -> tuple[Spec, Path]:
    """The spec and the run folder from parsed ``add_grid_arguments`` flags; writes nothing."""
    spec = load_spec(cls, experiment, args.preset, args.config, parse_overrides(args.overrides))
    name = args.config.stem if args.config is not None else args.preset
    return spec, args.out or Path(default_out) / name


def write_resolved(spec: Any, out: Path) -> None:
    """``config.yaml`` in the run folder: the spec as it ran. A rerun into the folder must resolve to the same spec
    (fields added later with their defaults count as the same); otherwise it is refused instead of mixing results."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "config.yaml"
    if path.is_file():
        try:
            previous = type(spec)(**(yaml.safe_load(path.read_text()) or {}))
        except (TypeError, ConfigError):
            previous = None
        if previous != spec:
            raise ConfigError(f"{path} holds a different config; results would mix. Use another --out or delete "
                              "the folder")
    path.write_text(yaml.safe_dump(dataclasses.asdict(spec), sort_keys=False))


PATH_KEYS = ("train_folder", "val_folder", "teacher_weights", "student_weights")


def check_paths(spec: Any) -> None:
    """Every folder and weight file the spec names must exist before a grid starts (ConfigError listing the
    missing ones): SparkConfig overrides (global, per cell, student, method or agent), ``teacher_weights`` and
    ``test_folders``."""
    named: list[tuple[str, str]] = []
    override_sets = [getattr(spec, "overrides", {}), *getattr(spec, "cells", [])]
    for per_name in ("student_overrides", "method_overrides", "agent_overrides"):
        override_sets += list(getattr(spec, per_name, {}).values())
    for overrides in override_sets:
        named += [(key, overrides[key]) for key in PATH_KEYS if overrides.get(key)]
    named += [(f"teacher_weights[{k}]", v) for k, v in getattr(spec, "teacher_weights", {}).items()]
    named += [(f"test_folders[{k}]", v) for k, v in getattr(spec, "test_folders", {}).items()]
    missing = [f"{key}={path!r}" for key, path in named if not Path(path).exists()]
    if missing:
        raise ConfigError(f"missing path(s): {', '.join(missing)}; point them at your data (see the preset's "
                          "YAML comments) or override them with --set")


def check_batch(batch: int) -> None:
    """Crops per QAT step of an experiment: ConfigError unless >= 1."""
    if batch < 1:
        raise ConfigError(f"batch={batch} is invalid; allowed: >= 1")


def check_checkpoints(checkpoints: list[float]) -> None:
    """Learning-curve checkpoints: fractions of the training budget in [0, 1], including 1 (ConfigError if not)."""
    if not checkpoints or any(not 0 <= f <= 1 for f in checkpoints) or max(checkpoints) != 1:
        raise ConfigError(f"checkpoints={checkpoints} is invalid; allowed: fractions in [0, 1] including 1")


def checkpoint_budgets(train_steps: int, checkpoints: list[float]) -> list[int]:
    """Training env steps at the checkpoints (increasing, the last is ``train_steps``)."""
    return sorted({int(round(f * train_steps)) for f in checkpoints})


def cell_name(cell: dict[str, Any]) -> str:
    """``{task: sr_x2, arch: fsrcnn, w_bits: 2, a_bits: 2}`` -> ``"sr_x2 fsrcnn w_bits=2 a_bits=2"``."""
    rest = " ".join(f"{k}={v}" for k, v in cell.items() if k not in ("task", "arch"))
    return " ".join(str(p) for p in (cell.get("task", ""), cell.get("arch", ""), rest) if p)
