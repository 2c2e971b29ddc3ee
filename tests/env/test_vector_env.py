import gymnasium as gym
import numpy as np
import pytest

import spark_env  # noqa: F401


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
