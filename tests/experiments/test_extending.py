"""A user's own agent and reward reach the experiments from this file alone: the agent is registered here, the
reward is named 'test_extending:toy_reward' (this module), and both run through rl_benchmark and reward_shaping on
the tiny preset like the built-in ones."""
import numpy as np
import pandas as pd
import pytest
import yaml

from agents import Agent, agent_names, register_agent, unregister_agent
from experiments import reward_shaping, rl_benchmark

TINY_CELL = {"task": "sr_x2", "arch": "fsrcnn", "w_bits": 2, "a_bits": 2}


class CornerAgent(Agent):
    """A toy learning agent: more KD in the top-left quarter, by a margin that grows with every step it sees."""

    name = "corner"

    def __init__(self, env, seed=None):
        super().__init__(env, seed)
        self.margin = 0.0

    def act_batch(self, grids, deterministic=False):
        actions = np.full((len(grids), 8, 8), -self.margin, np.float32)
        actions[:, :4, :4] = self.margin
        return actions

    def observe(self, step):
        self.margin = min(1.0, self.margin + 0.01 * len(step.reward))


def toy_reward(ctx):
    """Probe-PSNR gain, halved."""
    return 0.5 * (ctx.psnr_after - ctx.psnr_before)


@pytest.fixture
def corner_agent():
    register_agent("corner", CornerAgent, learns=True, summary="toy agent of test_extending")
    yield "corner"
    unregister_agent("corner")


def _config(tmp_path, data):
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_a_registered_agent_runs_through_the_rl_benchmark(tmp_path, corner_agent):
    assert corner_agent in agent_names()
    config = _config(tmp_path, {"agents": [corner_agent, "uniform", "heuristic_combined"], "cells": [TINY_CELL],
                                "seeds": [0], "train_steps": 16, "batch": 2, "checkpoints": [0, 1],
                                "env_preset": "tiny", "overrides": {"episode_steps": 4, "image_set": "v0"}})
    rl_benchmark.main(["--config", config, "--out", str(tmp_path / "run"), "--workers", "1"])
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    corner = results[results.agent == corner_agent].set_index("train_steps")
    assert list(corner.index) == [0, 16]  # it learns, so it is measured along a learning curve
    uniform = results[results.agent == "uniform"].psnr.iloc[0]
    assert corner.loc[0, "psnr"] == pytest.approx(uniform)  # margin 0 is the zero action: uniform KD
    assert corner.loc[16, "psnr"] != pytest.approx(uniform)  # after 16 steps it sets a map of its own
    summary = pd.read_csv(tmp_path / "run" / "summary.csv")
    assert corner_agent in set(summary.agent)


def test_a_user_reward_and_agent_run_through_reward_shaping(tmp_path, corner_agent):
    config = _config(tmp_path, {"rewards": ["probe_psnr_gain", "test_extending:toy_reward"], "agent": corner_agent,
                                "cells": [TINY_CELL], "seeds": [0], "train_steps": 8, "env_preset": "tiny",
                                "batch": 2, "overrides": {"episode_steps": 4, "image_set": "v0"}})
    reward_shaping.main(["--config", config, "--out", str(tmp_path / "run"), "--workers", "1"])
    results = pd.read_csv(tmp_path / "run" / "results.csv").set_index("reward")
    # the toy agent ignores the reward, so both rewards give the same run; the toy reward's return is half
    assert results.loc["test_extending:toy_reward", "psnr"] == pytest.approx(results.loc["probe_psnr_gain", "psnr"])
    assert results.loc["test_extending:toy_reward", "return"] == pytest.approx(
        0.5 * results.loc["probe_psnr_gain", "return"])


def test_unknown_or_broken_specs_fail_before_the_grid_starts():
    with pytest.raises(SystemExit, match="unknown agent 'dqn'; available: spark"):
        rl_benchmark.main(["--dry-run", "--set", "agents=[dqn, uniform]"])
    with pytest.raises(SystemExit, match="module 'test_extending' has no attribute 'NoAgent'"):
        rl_benchmark.main(["--dry-run", "--set", "agents=[test_extending:NoAgent, uniform]"])
    register_agent("twice", CornerAgent, learns=False)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_agent("twice", CornerAgent, learns=False)
    finally:
        unregister_agent("twice")
