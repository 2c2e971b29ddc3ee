import gymnasium as gym
import numpy as np
import pytest

import spark_env  # noqa: F401
from agents import make_agent
from spark_env.testing import TargetCellsEnv, mean_step_reward


class SeedLog(gym.Wrapper):
    """Records the seed of every reset."""

    def __init__(self, env):
        super().__init__(env)
        self.seeds = []

    def reset(self, *, seed=None, options=None):
        self.seeds.append(seed)
        return self.env.reset(seed=seed, options=options)


def test_pgpe_learns_the_known_map_from_uniform_on_antithetic_pairs():
    env = SeedLog(TargetCellsEnv())
    agent = make_agent("pgpe", env, seed=0)
    np.testing.assert_array_equal(agent.act(env.reset(seed=0)[0]), 0.0)  # starts as uniform KD
    env.seeds.clear()
    agent.learn(16 * 2 * 12)  # 12 pairs of 16-step episodes
    assert len(env.seeds) == 24 and env.seeds[0::2] == env.seeds[1::2]  # both halves of a pair share a seed
    assert len(set(env.seeds[0::2])) == 12
    assert int(np.argmax(agent.mu)) == 3, agent.mu  # the channel the reward pays for
    chance = mean_step_reward(make_agent("random", env, seed=0), env)
    assert mean_step_reward(agent, env) > chance + 1.0


def test_pgpe_budget_carries_over_between_learn_calls_and_round_trips(tmp_path):
    whole = make_agent("pgpe", TargetCellsEnv(), seed=1).learn(16 * 2 * 4)
    chunked = make_agent("pgpe", TargetCellsEnv(), seed=1)
    for _ in range(8):
        chunked.learn(16)  # half a pair each time
    np.testing.assert_allclose(chunked.mu, whole.mu)
    whole.save(tmp_path / "pgpe.pt")
    clone = make_agent("pgpe", TargetCellsEnv(), seed=9).load(tmp_path / "pgpe.pt")
    np.testing.assert_array_equal(clone.mu, whole.mu)
    with pytest.raises(ValueError, match="sigma > 0"):
        make_agent("pgpe", TargetCellsEnv(), sigma=0.0)
    with pytest.raises(ValueError, match="expected 4"):
        make_agent("pgpe", TargetCellsEnv(), init=[0.0, 1.0])


def test_gated_policy_starts_as_the_linear_one_and_its_gate_scales_the_map(tmp_path):
    """policy='gated': 9 parameters (w, v, b) starting at (init, 0, 1), the linear policy's map times
    g = max(0, b + v . channel means); the gate follows the crop's mean levels."""
    env = TargetCellsEnv()
    grids = np.random.default_rng(0).uniform(0, 1, (3, 4, 8, 8)).astype(np.float32)
    gated = make_agent("pgpe", env, seed=0, policy="gated", init=[0.25] * 4)
    np.testing.assert_array_equal(gated.act(grids), make_agent("pgpe", env, init=[0.25] * 4).act(grids))
    np.testing.assert_allclose(gated.act(grids), make_agent("heuristic_combined", env).act(grids), atol=1e-6)
    assert gated.mu.shape == (9,) and gated.policy_parameters()["gate_bias"] == 1.0
    gated.mu = np.array([0.25] * 4 + [0.0] * 4 + [0.0])  # gate 0: uniform KD
    np.testing.assert_array_equal(gated.act(grids), 0.0)
    gated.mu = np.array([1.0, 0, 0, 0] + [0, 0, 0, -1.0] + [1.0])  # gate 1 - mean of the gap channel
    from spark_env.action_spaces import channel_weights_map
    gates = 1.0 - grids[:, 3].mean(axis=(1, 2))
    np.testing.assert_allclose(gated.act(grids), channel_weights_map(gates[:, None] * [[1.0, 0, 0, 0]], grids),
                               atol=1e-6)
    gated.save(tmp_path / "gated.pt")
    clone = make_agent("pgpe", env, seed=3).load(tmp_path / "gated.pt")
    assert clone.config.policy == "gated" and np.array_equal(clone.act(grids), gated.act(grids))


def test_pgpe_learns_the_known_map_with_the_gated_policy():
    env = TargetCellsEnv()
    agent = make_agent("pgpe", env, seed=0, policy="gated").learn(16 * 2 * 12)
    assert int(np.argmax(agent.mu[:4])) == 3, agent.mu
    assert mean_step_reward(agent, env) > mean_step_reward(make_agent("random", env, seed=0), env) + 1.0
