import json

import numpy as np
import pandas as pd
import pytest
import yaml

from agents import make_agent
from agents.pretrained import read_policy_manifest
from experiments import rl_benchmark
from experiments.qat_runs import key_path
from experiments.rl_benchmark import RLBenchmarkSpec
from experiments.spec import cell_name, load_spec
from experiments.train_policy import main, write_policy
from spark_env.errors import ConfigError
from spark_env.models.teachers import file_sha256
from spark_env.testing import TargetCellsEnv

CELLS = [{"task": "sr_x2", "arch": "fsrcnn", "w_bits": 4, "a_bits": 4},
         {"task": "sr_x2", "arch": "fsrcnn", "w_bits": 3, "a_bits": 3}]


def fake_run_folder(folder, policy="linear", seeds=(0, 1), skip=None):
    """An rl_benchmark run folder with final PGPE policy files of known weights; returns those weights."""
    config = {"agents": ["pgpe", "uniform"], "cells": CELLS, "seeds": list(seeds), "train_steps": 64}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    weights = []
    for cell in CELLS:
        for seed in seeds:
            if (cell_name(cell), seed) == skip:
                continue
            agent = make_agent("pgpe", TargetCellsEnv(), seed=seed, policy=policy, hidden=4)
            agent.mu = agent.mu + np.random.default_rng(seed + 10 * cell["w_bits"]).normal(0, 0.3, agent.mu.shape)
            key = {"cell": cell_name(cell), "agent": "pgpe", "seed": seed}
            agent.save(folder / "policies" / key_path(key) / "steps64.pt")
            weights.append(agent.mu)
    return np.array(weights)


def test_the_written_policy_is_the_mean_of_the_runs_with_its_hash_and_provenance(tmp_path):
    weights = fake_run_folder(tmp_path / "run")
    out = tmp_path / "policy" / "mine.pt"
    main(["--run-folder", str(tmp_path / "run"), "--policy-out", str(out)])
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["sha256"] == file_sha256(out)
    assert manifest["made_by"]["run_config"]["cells"] == CELLS and len(manifest["training_runs"]) == 4
    assert manifest["made_by"]["command"].startswith("python -m experiments.train_policy --run-folder")
    agent = make_agent("spark_pretrained", TargetCellsEnv(), path=out, sha256=manifest["sha256"])
    np.testing.assert_allclose(agent.mu, weights.mean(axis=0))
    np.testing.assert_allclose(list(manifest["weights"].values()), weights.mean(axis=0))


def test_an_unfinished_run_or_a_cnn_policy_is_refused(tmp_path):
    fake_run_folder(tmp_path / "unfinished", skip=(cell_name(CELLS[1]), 1))
    with pytest.raises(ConfigError, match="seed1/steps64.pt' is missing: the run has not finished"):
        write_policy(tmp_path / "unfinished", "pgpe", tmp_path / "p.pt", "test")
    fake_run_folder(tmp_path / "cnn", policy="cnn")
    with pytest.raises(ConfigError, match="holds a 'cnn' policy; only linear and gated policies"):
        write_policy(tmp_path / "cnn", "pgpe", tmp_path / "p.pt", "test")
    with pytest.raises(ConfigError, match="agent 'cmaes' is not among the run's agents"):
        write_policy(tmp_path / "cnn", "cmaes", tmp_path / "p.pt", "test")
    with pytest.raises(ConfigError, match="not an rl_benchmark run folder"):
        write_policy(tmp_path / "nothing", "pgpe", tmp_path / "p.pt", "test")
    with pytest.raises(ConfigError, match="'uniform' was not trained in this run"):
        write_policy(tmp_path / "cnn", "uniform", tmp_path / "p.pt", "test")


def test_gated_policies_are_averaged_parameter_by_parameter_and_not_mixed_with_linear_ones(tmp_path):
    weights = fake_run_folder(tmp_path / "gated", policy="gated")
    manifest = write_policy(tmp_path / "gated", "pgpe", tmp_path / "gated.pt", "test")
    agent = make_agent("spark_pretrained", TargetCellsEnv(), path=tmp_path / "gated.pt", sha256=manifest["sha256"])
    np.testing.assert_allclose(agent.mu, weights.mean(axis=0))
    assert manifest["policy"] == "gated" and list(manifest["weights"]) == list(agent.policy_parameters())
    assert manifest["training_runs"][0]["gate_bias"] == pytest.approx(weights[0, -1])
    fake_run_folder(tmp_path / "mixed")  # linear files, then one training's file replaced by a gated one
    gated = make_agent("pgpe", TargetCellsEnv(), seed=0, policy="gated")
    gated.save(tmp_path / "mixed" / "policies" / key_path({"cell": cell_name(CELLS[1]), "agent": "pgpe", "seed": 1})
               / "steps64.pt")
    with pytest.raises(ConfigError, match="holds a 'gated' policy and the run's first one a 'linear' policy"):
        write_policy(tmp_path / "mixed", "pgpe", tmp_path / "p.pt", "test")


def test_the_output_path_is_checked(tmp_path):
    fake_run_folder(tmp_path / "run")
    with pytest.raises(ConfigError, match="suffix .json; allowed"):
        write_policy(tmp_path / "run", "pgpe", tmp_path / "p.json", "test")
    with pytest.raises(SystemExit):  # only the default command may write the shipped policy
        main(["--run-folder", str(tmp_path / "run")])


def test_the_transfer_preset_plans_on_the_tiny_preset_and_measures_the_shipped_policy(tmp_path, capsys):
    rl_benchmark.main(["--preset", "transfer", "--dry-run", "--set", "env_preset=tiny"])
    planned = capsys.readouterr().out
    spec = load_spec(RLBenchmarkSpec, "rl_benchmark", "transfer")
    per_cell = 1 + (1 + len(spec.agents)) * len(spec.seeds)  # the FP teacher, PTQ and each agent per seed
    assert planned.startswith(f"{len(spec.cells) * per_cell} runs into")
    for cell in spec.cells:
        assert f"{cell_name(cell)} spark_pretrained seed 9" in planned
    assert len({(c["arch"], c["task"], c["w_bits"]) for c in spec.cells}) == len(spec.cells) >= 4
    rl_benchmark.main(["--preset", "transfer", "--out", str(tmp_path / "run"), "--workers", "1",
                       "--set", "env_preset=tiny", "--set", "seeds=[0]", "--set", f"cells=[{spec.cells[1]}]",
                       "--set", "overrides={episode_steps: 4, image_set: v0}"])
    rows = pd.read_csv(tmp_path / "run" / "results.csv").set_index("agent")
    weights = read_policy_manifest()["weights"]
    assert rows.loc["spark_pretrained", list(weights)].tolist() == pytest.approx(list(weights.values()))
    assert rows.loc["spark_pretrained", "psnr"] != rows.loc["uniform", "psnr"]
