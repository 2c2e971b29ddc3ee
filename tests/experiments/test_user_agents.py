"""A user's agent named by import path: checked before a grid starts (a broken one is named, nothing runs), and
measured like the built-in agents as a benchmark method."""
import sys
import textwrap

import pandas as pd
import pytest
import yaml

from experiments import benchmark, rl_benchmark
from experiments.qat_runs import RunSpec, check_run_agent
from spark_env.errors import ConfigError

MODULE = textwrap.dedent('''
    import numpy as np
    from agents import Agent

    class Constant(Agent):
        """A fixed map that puts more KD on the upper half of every crop."""
        learns = False

        def act_batch(self, grids, deterministic=False):
            maps = np.zeros((len(grids), 8, 8), np.float32)
            maps[:, :4] = 0.5
            return maps

    class WrongShape(Constant):
        def act_batch(self, grids, deterministic=False):
            return np.zeros((len(grids), 4, 4), np.float32)

    class CrashesWhileLearning(Constant):
        learns = True

        def observe(self, step):
            raise RuntimeError("my bug")
''')


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "user_agents.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "user_agents"
    sys.modules.pop("user_agents", None)


def test_a_good_agent_passes_and_broken_ones_are_named(user_module):
    check_run_agent(RunSpec(agent=f"{user_module}:Constant", preset="tiny"))
    with pytest.raises(ConfigError, match=r"agent 'user_agents:WrongShape' failed its check before the grid: "
                                          r"ConfigError: act returned float32 of shape \(2, 4, 4\); expected finite "
                                          r"float32 of shape \(2, 8, 8\)"):
        check_run_agent(RunSpec(agent=f"{user_module}:WrongShape", preset="tiny"))
    with pytest.raises(ConfigError, match="CrashesWhileLearning' failed .*RuntimeError: my bug"):
        check_run_agent(RunSpec(agent=f"{user_module}:CrashesWhileLearning", preset="tiny"))


def test_a_broken_agent_stops_the_grid_before_any_run(user_module, tmp_path):
    config = tmp_path / "rl.yaml"
    config.write_text(yaml.safe_dump({"agents": ["uniform", f"{user_module}:WrongShape"], "seeds": [0],
                                      "train_steps": 0, "env_preset": "tiny", "overrides": {"episode_steps": 2}}))
    with pytest.raises(SystemExit, match="user_agents:WrongShape' failed its check"):
        rl_benchmark.main(["--config", str(config), "--out", str(tmp_path / "run"), "--workers", "1"])
    assert not (tmp_path / "run" / "results.csv").exists()


def test_a_user_agent_is_a_benchmark_method(user_module, tmp_path):
    config = tmp_path / "bench.yaml"
    config.write_text(yaml.safe_dump({"students": ["fsrcnn"], "bits": [4], "seeds": [0, 1], "env_preset": "tiny",
                                      "methods": ["kd_uniform", f"{user_module}:Constant"],
                                      "overrides": {"episode_steps": 2, "image_set": "v0"}}))
    benchmark.main(["--config", str(config), "--out", str(tmp_path / "run"), "--workers", "1"])
    summary = pd.read_csv(tmp_path / "run" / "summary.csv")
    row = summary[summary.method == "agent user_agents:Constant"].iloc[0]
    assert row.runs == 2 and row["vs uniform KD (dB) call"] in ("above", "below", "inconclusive")
    with pytest.raises(SystemExit, match="unknown method 'nope'; allowed: .* or an agent"):
        benchmark.main(["--preset", "quick", "--dry-run", "--set", "methods=[kd_uniform, nope]"])
