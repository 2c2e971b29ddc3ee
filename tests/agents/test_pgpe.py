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
