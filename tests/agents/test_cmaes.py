"""CMA-ES on the 4 channel weights: one QAT seed per generation, the agent's own generator, the policy file."""
import gymnasium as gym
import numpy as np
import pytest

import spark_env  # noqa: F401  (registers the SparkKD env ids)
from agents import AGENTS, make_agent


def tiny_env():
    return gym.make_vec("SparkKD-v2", num_envs=2, vectorization_mode="vector_entry_point", preset="tiny",
                        **AGENTS["cmaes"].env_overrides)


def test_cmaes_runs_each_generation_on_one_seed_and_moves_its_mean(tmp_path):
    env = tiny_env()
    seeds = []  # the QAT seed of each candidate's run
    reset = env.reset
    env.reset = lambda seed=None, options=None: seeds.append(seed) or reset(seed=seed, options=options)
    np.random.seed(123)
    global_state = np.random.get_state()[1].copy()
    agent = make_agent("cmaes", env, seed=4)
    grids = np.random.default_rng(0).uniform(0, 1, (2, 4, 8, 8)).astype(np.float32)
    assert not agent.act(grids).any()  # starts at uniform KD
    agent.learn(7 * 2)  # short of 2 generations of 4 one-decision runs on 2 crops: one generation, rest carried
    assert len(seeds) == 4 and len(set(seeds)) == 1 and len(agent.history) == 1
    agent.learn(1 * 2)
    assert len(seeds) == 8 and len(set(seeds[4:])) == 1 and seeds[4] != seeds[0]
    assert np.array_equal(np.random.get_state()[1], global_state)  # numpy's global generator untouched
    weights = agent.policy_parameters()
    assert set(weights) == {"w_laplacian", "w_variance", "w_error", "w_gap"} and any(weights.values())
    assert np.allclose(agent.act(grids), list(weights.values()))  # acts with the mean, the same for every crop
    twin = make_agent("cmaes", tiny_env(), seed=4).learn(8 * 2)
    assert np.array_equal(twin.mu, agent.mu)  # reproducible from its seed
    agent.save(tmp_path / "cmaes.pt")
    loaded = make_agent("cmaes", tiny_env(), seed=9).load(tmp_path / "cmaes.pt")
    assert np.array_equal(loaded.mu, agent.mu)
    assert np.allclose(loaded.strategy.mean, agent.mu)  # the search restarts from the loaded mean


def test_cmaes_rejects_bad_settings():
    with pytest.raises(ValueError, match="popsize >= 2"):
        make_agent("cmaes", tiny_env(), popsize=1)
    with pytest.raises(ValueError, match="sigma0 > 0"):
        make_agent("cmaes", tiny_env(), sigma0=float("nan"))
    with pytest.raises(ValueError, match="policy 'cnn' is not offered; allowed: linear"):
        make_agent("cmaes", tiny_env(), policy="cnn")


def test_cmaes_refuses_to_load_a_policy_file_it_cannot_search(tmp_path):
    from agents.parameter_search import save_policy_file
    from spark_env.errors import ConfigError
    save_policy_file(tmp_path / "gated.pt", np.zeros(9), {"policy": "gated", "init": [0.0] * 4})
    agent = make_agent("cmaes", tiny_env(), seed=0)
    before = agent.mu.copy()
    with pytest.raises(ConfigError, match="holds a gated policy; CMA-ES searches linear policies only"):
        agent.load(tmp_path / "gated.pt")
    assert agent.config.policy == "linear" and np.array_equal(agent.mu, before)  # left as it was
