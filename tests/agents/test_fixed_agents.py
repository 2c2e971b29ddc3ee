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


def test_heuristic_scale_sharpens_its_map_and_its_weights():
    env = TargetCellsEnv()
    grids = np.stack([env.reset(seed=s)[0] for s in range(3)])
    plain = make_agent("heuristic_combined", env)
    sharp = make_agent("heuristic_combined", env, scale=2.0)
    score = np.clip(plain.act(grids), -1, 1)
    np.testing.assert_allclose(sharp.act(grids), np.clip(2.0 * plain.act(grids), -1, 1), atol=1e-6)
    assert (np.abs(sharp.act(grids)) >= np.abs(score) - 1e-6).all()
    np.testing.assert_allclose(sharp.channel_weights(), 2.0 * plain.channel_weights())
    inverse_flat = make_agent("heuristic_combined", env, sign=-1, scale=0.5)
    np.testing.assert_allclose(inverse_flat.channel_weights(), np.full(4, -0.125))
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match=r"scale=.* is invalid; allowed: a finite number > 0"):
            make_agent("heuristic_combined", env, scale=bad)
