"""Shipped baselines: a finished run's baseline rows ship with their provenance, a new run folder starts from them
(only the other agents run), a run whose config differs is refused by name; the shipped presets match their
configs."""
import re

import pandas as pd
import pytest
import yaml

from experiments import baselines, rl_benchmark
from experiments.rl_benchmark import RLBenchmarkSpec
from experiments.spec import load_spec
from spark_env.errors import ConfigError

TINY = {"agents": ["uniform", "heuristic_combined", "random"], "cells": [{"task": "sr_x2", "arch": "fsrcnn"}],
        "seeds": [0, 1], "train_steps": 0, "batch": 2, "env_preset": "tiny",
        "overrides": {"episode_steps": 2, "image_set": "v0"}}


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    folder = tmp_path_factory.mktemp("baselines")
    config = folder / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    rl_benchmark.main(["--config", str(config), "--out", str(folder / "run"), "--workers", "1"])
    target = baselines.ship(folder / "run", "tiny", target=folder / "shipped")
    return folder, target


def test_shipped_rows_carry_their_provenance(shipped):
    _, target = shipped
    results = pd.read_csv(target / "results.csv")
    assert set(results.agent) == {"uniform", "heuristic_combined", "random", "teacher", "ptq"}
    assert set(results.env_id) == {"SparkKD-v0"} and results.spark_env_version.notna().all()
    assert results.cpu_capability.notna().all() and (target / "per_image.csv").is_file()


def test_a_new_run_starts_from_the_shipped_rows(shipped, monkeypatch, tmp_path, capsys):
    folder, target = shipped
    monkeypatch.setattr(baselines, "SHIPPED", target.parents[1])
    config = tmp_path / "mine.yaml"
    config.write_text(yaml.safe_dump({**TINY, "agents": ["uniform", "heuristic_laplacian", "heuristic_combined"],
                                      "seeds": [1], "baselines": "tiny"}))
    rl_benchmark.main(["--config", str(config), "--out", str(tmp_path / "run"), "--workers", "1"])
    assert "baseline rows (uniform, heuristic_combined, teacher, PTQ) copied" in capsys.readouterr().out
    mine, original = pd.read_csv(tmp_path / "run" / "results.csv"), pd.read_csv(folder / "run" / "results.csv")
    assert set(mine.agent) == {"uniform", "heuristic_laplacian", "heuristic_combined", "teacher", "ptq"}
    assert set(mine.seed) == {1}  # the run's seeds only (the teacher row is keyed by the run's first seed)
    copied = mine[mine.spark_env_version.notna()]
    assert set(copied.agent) == {"uniform", "heuristic_combined", "ptq"}
    assert mine[mine.agent.isin(["heuristic_laplacian", "teacher"])].spark_env_version.isna().all()  # run here
    for _, row in copied.iterrows():  # copied as they were, to the last digit
        same = original[(original.agent == row.agent) & (original.seed == row.seed)]
        assert same.psnr.tolist() == [row.psnr]
    assert (tmp_path / "run" / "per_cell.md").is_file()


def test_a_differing_config_is_refused_by_name(shipped, monkeypatch, tmp_path):
    _, target = shipped
    monkeypatch.setattr(baselines, "SHIPPED", target.parents[1])
    for change, named in (({"batch": 4}, "batch: run 4, shipped 2"), ({"seeds": [0, 5]}, "seeds [5] are not shipped"),
                          ({"baselines": "nope"}, "no shipped baselines 'nope'; shipped: tiny")):
        with pytest.raises(ConfigError, match=re.escape(named)):  # when the config is read, before any folder
            RLBenchmarkSpec(**{**TINY, "baselines": "tiny", **change})
    cells = [{"task": "sr_x2", "arch": "fsrcnn", "w_bits": 4}]
    with pytest.raises(ConfigError, match="cells: run"):
        RLBenchmarkSpec(**{**TINY, "cells": cells, "baselines": "tiny"})


@pytest.mark.parametrize("preset", baselines.shipped_presets())
def test_shipped_presets_match_their_configs(preset):
    folder = baselines.SHIPPED / "rl_benchmark" / preset
    spec = load_spec(RLBenchmarkSpec, "rl_benchmark", preset)
    shipped = baselines.shipped_spec(folder, RLBenchmarkSpec)
    assert all(getattr(shipped, key) == getattr(spec, key) for key in baselines.MATCHED)
    results = pd.read_csv(folder / "results.csv")
    assert set(results.agent) <= {*baselines.BASELINE_AGENTS, *baselines.REFERENCE_ROWS}
    assert set(results.seed) == set(spec.seeds) and results.env_id.notna().all()
    assert len(baselines.shipped_presets()) >= 2
