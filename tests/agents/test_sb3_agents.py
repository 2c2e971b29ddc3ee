import gymnasium as gym
import numpy as np
import pytest

import spark_env  # noqa: F401
from agents import make_agent
from spark_env.testing import TargetCellsEnv, mean_step_reward


@pytest.mark.parametrize("name", ["ppo", "a2c", "sac", "td3"])
def test_sb3_agents_learn_and_act_on_the_real_env(name, tmp_path):
    env = gym.make("SparkKD-v2", preset="tiny", episode_steps=4)
    agent = make_agent(name, env, seed=0)
    agent.learn(40 if name in ("sac", "td3") else 16)
    obs, _ = env.reset(seed=0)
    action = agent.act(obs, deterministic=True)
    assert action.shape == (8, 8) and action.dtype == np.float32
    agent.save(tmp_path / name)
    clone = make_agent(name, env, seed=1).load(tmp_path / f"{name}.zip")
    np.testing.assert_array_equal(clone.act(obs, deterministic=True), action)


def test_sb3_on_the_natively_batched_env():
    envs = gym.make_vec("SparkKD-v2", num_envs=2, vectorization_mode="vector_entry_point", preset="tiny",
                        episode_steps=3)
    agent = make_agent("a2c", envs.unwrapped if hasattr(envs, "unwrapped") else envs, seed=0, n_steps=3)
    agent.learn(12)
    obs, _ = envs.reset(seed=0)
    assert agent.act(obs).shape == (2, 8, 8)


def test_task_figures_reach_the_sb3_logger(tmp_path):
    from stable_baselines3.common.logger import configure
    env = gym.make("SparkKD-v2", preset="tiny", episode_steps=4)
    agent = make_agent("a2c", env, seed=0, n_steps=4)
    agent.model.set_logger(configure(str(tmp_path), ["csv"]))
    agent.learn(8)
    header = (tmp_path / "progress.csv").read_text().splitlines()[0]
    for key in ("spark/probe_psnr", "spark/gap_to_teacher", "spark/kd_loss", "spark/map_entropy"):
        assert key in header


def make_tiny_env():
    return gym.make("SparkKD-v2", preset="tiny", episode_steps=3)


def test_sb3_with_subprocess_vec_env():
    from stable_baselines3.common.vec_env import SubprocVecEnv
    vec_env = SubprocVecEnv([make_tiny_env, make_tiny_env], start_method="spawn")
    try:
        agent = make_agent("ppo", vec_env, seed=0, n_steps=4, batch_size=8, n_epochs=1)
        agent.learn(8)
        assert agent.act(vec_env.reset()).shape == (2, 8, 8)
    finally:
        vec_env.close()
