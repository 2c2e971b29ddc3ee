"""rl-zoo3 on SparkKD: the zoo's train entry point runs in the benchmark's setting (offline, tiny preset), a zoo
model is measured like any agent, and the shipped hyperparameter files say what the benchmark's agents use."""
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from agents import EPISODIC_ENV, EPISODIC_SB3
from agents.sb3 import DEFAULTS
from experiments.qat_runs import RunSpec, check_run_agent, qat_run


ZOO_CONFIGS = Path(__file__).resolve().parents[2] / "experiments" / "configs" / "zoo"
TINY_EPISODIC = ["preset:'tiny'", "episode_steps:4", "action_space:'channel_weights'", "decision_interval:0"]


@pytest.fixture(scope="module")
def zoo_model(tmp_path_factory):
    """PPO trained by the zoo's own entry point for 8 runs of the tiny preset, one decision per run."""
    folder = tmp_path_factory.mktemp("zoo")
    completed = subprocess.run(
        [sys.executable, "-m", "rl_zoo3.train", "--algo", "ppo", "--env", "SparkKD-v2", "--gym-packages", "spark_env",
         "--conf-file", str(ZOO_CONFIGS / "ppo_episodic.yml"), "-f", str(folder), "--seed", "100000",
         "--eval-freq", "-1", "-n", "8", "--env-kwargs", *TINY_EPISODIC],
        capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return folder / "ppo" / "SparkKD-v2_1" / "SparkKD-v2.zip", completed.stdout


def test_the_zoo_trains_in_the_benchmarks_setting(zoo_model):
    path, log = zoo_model
    assert path.is_file()
    assert re.search(r"ep_len_mean\s*\|\s*1\s", log)  # one decision per QAT run
    assert re.search(r"total_timesteps\s*\|\s*8\s", log)


def test_a_zoo_model_is_measured_like_any_agent(zoo_model):
    path, _ = zoo_model
    run = RunSpec(agent="agents.zoo:ZOO_EPISODIC", agent_kwargs={"path": str(path), "algo": "ppo"},
                  preset="tiny", overrides={"episode_steps": 4}, seed=0)
    check_run_agent(run)  # what a grid does first
    result = qat_run(run)
    assert np.isfinite(result.metrics["psnr"]) and result.metrics["qat_steps"] == 4


def test_a_missing_zoo_model_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="zoo model .* does not exist"):
        qat_run(RunSpec(agent="agents.zoo:ZooPolicy", agent_kwargs={"path": str(tmp_path / "none.zip")},
                        preset="tiny", overrides={**EPISODIC_ENV, "episode_steps": 2}))


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_the_shipped_zoo_files_use_the_benchmarks_settings(algo):
    episodic = yaml.safe_load((ZOO_CONFIGS / f"{algo}_episodic.yml").read_text())["SparkKD-v2"]
    expected = {k: v for k, v in EPISODIC_SB3[algo].items() if k != "policy_kwargs"}
    assert {k: episodic[k] for k in expected} == expected
    assert f"log_std_init={math.log(0.3)!r}" in episodic["policy_kwargs"]
    assert {k: episodic["env_kwargs"][k] for k in EPISODIC_ENV} == EPISODIC_ENV
    per_step = yaml.safe_load((ZOO_CONFIGS / f"{algo}.yml").read_text())["SparkKD-v2"]
    assert {k: per_step[k] for k in DEFAULTS[algo]} == DEFAULTS[algo]
    for config in (episodic, per_step):
        assert config["n_envs"] == 1 and "agents.zoo.shared_student" in config["vec_env_wrapper"][0]


@pytest.mark.parametrize("algo,params", [
    ("ppo", {"n_steps": 4, "initial_std": 0.3, "learning_rate": 1e-3, "n_epochs": 10, "clip_range": 0.2}),
    ("a2c", {"n_steps": 4, "initial_std": 0.3, "learning_rate": 1e-3, "normalize_advantage": True})])
def test_the_sparkkd_search_space_holds_the_shipped_setting(algo, params):
    """agents.zoo_search replaces the zoo's samplers; the shipped episodic setting is a point of its space."""
    import optuna
    from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER, HYPERPARAMS_SAMPLER

    from agents import zoo_search
    from agents.sb3 import GridFeaturesExtractor

    assert HYPERPARAMS_SAMPLER[algo] is getattr(zoo_search, f"sample_{algo}")
    hyperparams = HYPERPARAMS_SAMPLER[algo](optuna.trial.FixedTrial(params), 4, 1, {})
    expected = {k: v for k, v in EPISODIC_SB3[algo].items() if k != "policy_kwargs"}
    assert {k: hyperparams[k] for k in expected} == pytest.approx(expected)
    assert hyperparams["policy_kwargs"]["features_extractor_class"] is GridFeaturesExtractor
    assert hyperparams["policy_kwargs"]["log_std_init"] == pytest.approx(math.log(0.3))
    assert HYPERPARAMS_CONVERTER[algo](params) == hyperparams  # --trial-id loads a trial through the converter
