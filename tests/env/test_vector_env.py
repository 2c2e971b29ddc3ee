import gymnasium as gym
import numpy as np
import pytest

import spark_env  # noqa: F401
from spark_env.errors import ConfigError
from spark_env.vector_env import SparkKDVectorEnv


def test_native_batched_vector_env_shares_one_student():
    envs = gym.make_vec("SparkKD-v2", num_envs=3, vectorization_mode="vector_entry_point", preset="tiny",
                        episode_steps=2)
    obs, info = envs.reset(seed=0)
    assert obs.shape == (3, 4, 8, 8) and envs.action_space.shape == (3, 8, 8)
    assert not np.array_equal(obs[0], obs[1])  # different crops
    obs, rewards, terminated, truncated, info = envs.step(np.zeros((3, 8, 8), np.float32))
    assert rewards.shape == (3,) and np.all(rewards == rewards[0]) and not terminated.any()
    assert info["qat_step"].tolist() == [1, 1, 1]  # one optimizer step for the whole batch
    obs, rewards, terminated, truncated, info = envs.step(np.zeros((3, 8, 8), np.float32))
    assert terminated.all() and "final_obs" in info and info["final_info"]["qat_step"].tolist() == [2, 2, 2]
    assert info["qat_step"].tolist() == [0, 0, 0]  # same-step autoreset: a fresh run has begun
    with pytest.raises(ValueError, match=r"expected \(3, 8, 8\)"):
        envs.step(np.zeros((8, 8), np.float32))


def test_sync_vector_env_runs_independent_copies():
    envs = gym.make_vec("SparkKD-v2", num_envs=2, vectorization_mode="sync", preset="tiny", episode_steps=2)
    obs, _ = envs.reset(seed=[0, 1])
    assert obs.shape == (2, 4, 8, 8)
    obs, rewards, *_ = envs.step(np.zeros((2, 8, 8), np.float32))
    assert rewards.shape == (2,)
    envs.close()


def test_async_vector_env_runs_in_worker_processes():
    envs = gym.make_vec("SparkKD-v2", num_envs=2, vectorization_mode="async", preset="tiny", episode_steps=2,
                        vector_kwargs={"context": "spawn"})
    obs, _ = envs.reset(seed=[0, 0])
    np.testing.assert_array_equal(obs[0], obs[1])  # same seed, same start, in separate processes
    obs, rewards, *_ = envs.step(np.zeros((2, 8, 8), np.float32))
    assert rewards[0] == rewards[1]
    envs.close()


def test_episodes_per_seed_groups_runs_on_one_seed():
    """Common random numbers: consecutive episodes of a group start from one QAT seed (the same run under the same
    actions), an explicit seed or the new_seed_group option starts a new group, and the default draws a fresh seed
    per episode as before."""
    from spark_env.episode import EpisodeSeeds
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    fresh = [EpisodeSeeds(1).next(rng_a) for _ in range(4)]
    assert fresh == [int(rng_b.integers(0, 2 ** 31 - 1)) for _ in range(4)]
    grouped, rng = EpisodeSeeds(3), np.random.default_rng(0)
    seeds = [grouped.next(rng) for _ in range(7)]
    assert seeds[0:3] == [seeds[0]] * 3 and seeds[3:6] == [seeds[3]] * 3 and len({seeds[0], seeds[3], seeds[6]}) == 3
    assert grouped.next(rng, new_group=True) != seeds[6]  # the group of seeds[6] is cut short

    env = SparkKDVectorEnv(num_envs=2, preset="tiny", episode_steps=2, episodes_per_seed=2)
    action = np.full(env.action_space.shape, 0.3, np.float32)
    returns = []
    obs, _ = env.reset(seed=11)
    for _ in range(4):  # 4 episodes of 2 steps through autoreset: two groups of two
        total = 0.0
        for _ in range(2):
            obs, reward, terminated, _, _ = env.step(action)
            total += float(reward[0])
        assert terminated[0]
        returns.append(total)
    assert returns[0] == returns[1] and returns[2] == returns[3] and returns[0] != returns[2]
    with pytest.raises(ConfigError, match="episodes_per_seed=0 is invalid"):
        SparkKDVectorEnv(num_envs=2, preset="tiny", episodes_per_seed=0)
