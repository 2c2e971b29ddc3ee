import gymnasium as gym
import numpy as np
import pytest

import spark_env  # noqa: F401
from agents import AGENTS, make_agent
from spark_env.testing import TargetCellsEnv, mean_step_reward


@pytest.mark.parametrize("name", [n for n, entry in AGENTS.items() if not entry.learns and n != "lookahead"])
def test_fixed_agents_act_in_range(name):
    env = TargetCellsEnv()
    obs, _ = env.reset(seed=0)
    agent = make_agent(name, env)
    action = agent.act(obs)
    assert action.shape == (8, 8) and action.dtype == np.float32 and np.abs(action).max() <= 1
    assert agent.act(np.stack([obs, obs])).shape == (2, 8, 8)


def test_heuristic_weights_rise_with_its_channel():
    env = TargetCellsEnv()
    obs, _ = env.reset(seed=0)
    action = make_agent("heuristic_gap", env).act(obs)
    assert np.corrcoef(action.ravel(), obs[3].ravel())[0, 1] > 0.9
    assert mean_step_reward(make_agent("heuristic_gap", env), env) > 0.5
