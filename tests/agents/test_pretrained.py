import configparser
import fnmatch
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import spark_env  # noqa: F401
from agents import make_agent
from agents.parameter_search import load_policy_file
from agents.pretrained import POLICY_DIR, SHIPPED_POLICY, read_policy_manifest, shipped_policies
from experiments.benchmark import BenchmarkSpec
from experiments.spec import load_spec
from spark_env.action_spaces import channel_weights_map
from spark_env.difficulty import CHANNELS
from spark_env.errors import ConfigError
from spark_env.models.teachers import file_sha256
from spark_env.testing import TargetCellsEnv


def tiny_env(**overrides):
    return gym.make("SparkKD-v2", preset="tiny", **overrides)


def test_shipped_policy_matches_its_manifest_hash_and_weights():
    manifest = read_policy_manifest()
    assert manifest["policy_file"] == SHIPPED_POLICY.name
    assert file_sha256(SHIPPED_POLICY) == manifest["sha256"]
    mu, config = load_policy_file(SHIPPED_POLICY, manifest["sha256"])
    assert config["policy"] == "linear" and mu.shape == (len(CHANNELS),)
    np.testing.assert_allclose(mu, [manifest["weights"][f"w_{c}"] for c in CHANNELS])
    runs = manifest["training_runs"]  # the mean of the recorded training runs' weights is the policy
    np.testing.assert_allclose(mu, [np.mean([run[f"w_{c}"] for run in runs]) for c in CHANNELS])
    made_by = manifest["made_by"]
    assert made_by["command"].startswith("python -m experiments.train_policy")
    assert made_by["run_config"]["cells"] and made_by["run_config"]["seeds"]
    assert len(runs) == len(made_by["run_config"]["cells"]) * len(made_by["run_config"]["seeds"])


def test_every_shipped_policy_loads_by_name_with_its_manifest_hash_and_parameters():
    assert "spark_pretrained" in shipped_policies()
    for name in shipped_policies():
        manifest = read_policy_manifest(POLICY_DIR / f"{name}.json")
        assert file_sha256(POLICY_DIR / manifest["policy_file"]) == manifest["sha256"]
        agent = make_agent("spark_pretrained", TargetCellsEnv(), shipped=name)
        assert agent.config["policy"] == manifest["policy"] and agent.policy_parameters() == manifest["weights"]
        runs = manifest["training_runs"]  # the mean of the recorded training runs' parameters is the policy
        np.testing.assert_allclose(list(agent.policy_parameters().values()),
                                   [np.mean([run[key] for run in runs]) for key in manifest["weights"]])
    with pytest.raises(ConfigError, match="shipped='nope' is not a shipped policy; allowed: .*spark_pretrained"):
        make_agent("spark_pretrained", TargetCellsEnv(), shipped="nope")
    with pytest.raises(ConfigError, match="shipped='spark_pretrained' and path=.*allowed: one of them"):
        make_agent("spark_pretrained", TargetCellsEnv(), shipped="spark_pretrained", path=SHIPPED_POLICY)


def test_shipped_policy_acts_on_every_cell_of_the_quick_preset():
    quick = load_spec(BenchmarkSpec, "benchmark", "quick")
    assert "spark_trained" in quick.methods
    for task in quick.tasks:
        for student in quick.students:
            for bits in quick.bits:
                env = tiny_env(task=task, arch=student, w_bits=bits, a_bits=bits, episode_steps=2)
                agent = make_agent("spark_pretrained", env)
                grid = env.reset(seed=0)[0]
                action = agent.act(grid)
                np.testing.assert_allclose(action, channel_weights_map(agent.mu, grid[None])[0], atol=1e-6)
                assert action.shape == (8, 8) and np.all(np.abs(action) <= 1) and action.std() > 0
                agent.learn(env.unwrapped.config.episode_steps)  # drives a QAT run
                assert set(agent.policy_parameters()) == {f"w_{c}" for c in CHANNELS}


def test_pretrained_agent_acts_with_its_weights_in_the_channel_weights_space():
    env = tiny_env(action_space="channel_weights")
    agent = make_agent("spark_pretrained", env)
    actions = agent.act(np.stack([env.reset(seed=0)[0]] * 3))
    np.testing.assert_allclose(actions, np.tile(agent.mu, (3, 1)), atol=1e-6)


def test_a_saved_pgpe_policy_is_applied_unchanged(tmp_path):
    trained = make_agent("pgpe", TargetCellsEnv(), seed=0)
    trained.mu = np.array([0.7, -0.2, 0.1, 0.4])
    trained.save(tmp_path / "mine.pt")
    applied = make_agent("spark_pretrained", TargetCellsEnv(), path=tmp_path / "mine.pt")
    grids = np.random.default_rng(0).random((5, 4, 8, 8), dtype=np.float32)
    np.testing.assert_array_equal(applied.act(grids), trained.act(grids))
    applied.save(tmp_path / "again.pt")  # its own file round-trips
    again = make_agent("spark_pretrained", TargetCellsEnv(), path=tmp_path / "again.pt")
    np.testing.assert_array_equal(again.act(grids), trained.act(grids))
    shipped = make_agent("spark_pretrained", TargetCellsEnv())
    assert not np.array_equal(shipped.act(grids), trained.act(grids))
    shipped.load(tmp_path / "mine.pt")  # load switches the policy it acts with
    np.testing.assert_array_equal(shipped.act(grids), trained.act(grids))


def test_a_cnn_policy_file_is_applied(tmp_path):
    trained = make_agent("spark_episodic", TargetCellsEnv(), seed=0, hidden=4)
    trained.mu = trained.mu + np.random.default_rng(0).normal(0, 0.1, trained.mu.shape)
    trained.save(tmp_path / "cnn.pt")
    applied = make_agent("spark_pretrained", TargetCellsEnv(), path=tmp_path / "cnn.pt")
    grids = np.random.default_rng(1).random((3, 4, 8, 8), dtype=np.float32)
    np.testing.assert_allclose(applied.act(grids), trained.act(grids), atol=1e-6)


def test_wrong_or_corrupt_policy_files_are_clear_errors(tmp_path):
    env = TargetCellsEnv()
    with pytest.raises(ConfigError, match="does not exist"):
        make_agent("spark_pretrained", env, path=tmp_path / "none.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(SHIPPED_POLICY.read_bytes()[:-20])  # truncated
    with pytest.raises(ConfigError, match="does not match the SHA-256 recorded .*modified or replaced"):
        make_agent("spark_pretrained", env, path=corrupt, sha256=read_policy_manifest()["sha256"])
    with pytest.raises(ConfigError, match="expected SHA-256 'abc' .* invalid; allowed: 64 hex digits"):
        make_agent("spark_pretrained", env, path=corrupt, sha256="abc")
    with pytest.raises(ConfigError, match="without a path"):
        make_agent("spark_pretrained", env, sha256=read_policy_manifest()["sha256"])
    with pytest.raises(ConfigError, match="cannot be read as a policy file"):
        make_agent("spark_pretrained", env, path=corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(4)}, foreign)
    with pytest.raises(ConfigError, match="expected a dict with 'mu'"):
        make_agent("spark_pretrained", env, path=foreign)
    wrong_size = tmp_path / "wrong_size.pt"
    torch.save({"mu": torch.zeros(5, dtype=torch.float64), "config": {"policy": "linear"}}, wrong_size)
    with pytest.raises(ConfigError, match="holds 5 parameters; a linear policy has 4"):
        make_agent("spark_pretrained", env, path=wrong_size)
    unknown = tmp_path / "unknown.pt"
    torch.save({"mu": torch.zeros(4, dtype=torch.float64), "config": {"policy": "mlp"}}, unknown)
    with pytest.raises(ConfigError, match="policy 'mlp'; allowed: linear, gated, cnn"):
        make_agent("spark_pretrained", env, path=unknown)
    nan = tmp_path / "nan.pt"
    torch.save({"mu": torch.full((4,), float("nan"), dtype=torch.float64), "config": {"policy": "linear"}}, nan)
    with pytest.raises(ConfigError, match="non-finite"):
        make_agent("spark_pretrained", env, path=nan)
    cnn = tmp_path / "cnn.pt"
    make_agent("spark_episodic", env, seed=0, hidden=4).save(cnn)
    with pytest.raises(ConfigError, match="does not fit this env: .*allowed: map"):
        make_agent("spark_pretrained", tiny_env(action_space="channel_weights"), path=cnn)
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        read_policy_manifest(manifest)
    manifest.write_text(json.dumps({"weights": {}}))
    with pytest.raises(ConfigError, match="no 'sha256'"):
        read_policy_manifest(manifest)



def test_the_policy_folder_is_package_data():
    config = configparser.ConfigParser()
    config.read(Path(__file__).resolve().parents[2] / "setup.cfg")
    globs = [g.strip() for g in config["options.package_data"]["agents"].split(",")]
    for shipped in SHIPPED_POLICY.parent.iterdir():  # every shipped file installs with the package
        assert any(fnmatch.fnmatch(f"policies/{shipped.name}", g) for g in globs), shipped
