import gymnasium as gym
import numpy as np
import pytest

import torch

import spark_env  # noqa: F401
from agents import make_agent
from spark_env.testing import TargetCellsEnv, mean_step_reward


def test_spark_agent_learns_the_known_map_against_random():
    env = TargetCellsEnv()
    agent = make_agent("spark", env, seed=0).learn(3000)
    learned = mean_step_reward(agent, env)
    chance = mean_step_reward(make_agent("random", env, seed=0), env)
    assert abs(chance) < 0.3
    assert learned > chance + 1.0, (learned, chance)


def test_spark_warm_start_imitates_the_heuristic_then_keeps_learning():
    env = TargetCellsEnv()
    agent = make_agent("spark", env, seed=0, warm_start="gap", warm_start_steps=32)
    agent.learn(32)  # imitation only: the policy now maps grids the way heuristic_gap does
    assert agent.imitated is None and "imitation_mse" in agent.history[-1]
    heuristic = make_agent("heuristic_gap", env)
    grids = np.random.default_rng(5).random((64, 4, 8, 8)).astype(np.float32)
    correlation = np.corrcoef(agent.act(grids, deterministic=True).ravel(), heuristic.act(grids).ravel())[0, 1]
    assert correlation > 0.8, correlation
    chance = mean_step_reward(make_agent("random", env, seed=0), env)
    assert mean_step_reward(agent, env) > chance + 1.0
    agent.learn(32)  # REINFORCE from there
    assert any("policy_loss" in row for row in agent.history)
    with pytest.raises(ValueError, match="unknown heuristic channel 'edges'"):
        make_agent("spark", env, warm_start="edges")


def test_spark_agent_online_in_one_qat_run_leaves_no_inference_cost(tmp_path):
    def trained_student(agent_name):
        env = gym.make("SparkKD-v2", preset="tiny", episode_steps=4).unwrapped
        make_agent(agent_name, env).learn(4)
        return env.session.student

    spark, uniform = trained_student("spark"), trained_student("uniform")
    shapes = lambda m: {k: tuple(v.shape) for k, v in m.state_dict().items()}  # noqa: E731
    assert shapes(spark) == shapes(uniform)
    assert [type(m) for m in spark.modules()] == [type(m) for m in uniform.modules()]
    assert not any("policy" in k for k in spark.state_dict())


def test_online_learning_keeps_the_trained_student_of_the_run():
    env = gym.make("SparkKD-v2", preset="tiny", episode_steps=4).unwrapped
    agent = make_agent("spark", env, seed=0)
    agent.learn(4)
    assert env.session.steps_done == 4 and agent.history[-1]["step"] == 4
    # the env was not reset after the run's last step: its student is the trained one, not a fresh PTQ student
    trained = {k: v.clone() for k, v in env.session.student.state_dict().items()}
    assert env.session.probe_psnr() == pytest.approx(agent.history[-1]["probe_psnr"])
    start = gym.make("SparkKD-v2", preset="tiny", episode_steps=4).unwrapped
    start.reset(seed=0)
    assert any(not torch.equal(v, start.session.student.state_dict()[k]) for k, v in trained.items())


def test_seed_is_honoured_with_a_config():
    from agents import SparkAgentConfig
    env = TargetCellsEnv()
    agent = make_agent("spark", env, seed=7, config=SparkAgentConfig(hidden=8))
    assert agent.config.seed == 7 and agent.config.hidden == 8
    same = make_agent("spark", env, seed=7, hidden=8)
    grids = np.random.default_rng(0).random((2, 4, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(agent.act(grids, deterministic=True), same.act(grids, deterministic=True))
    with pytest.raises(ValueError, match="not both"):
        make_agent("spark", env, config=SparkAgentConfig(), hidden=8)


def test_spark_agent_save_load_round_trip(tmp_path):
    env = TargetCellsEnv()
    agent = make_agent("spark", env, seed=0).learn(32)
    obs, _ = env.reset(seed=0)
    agent.save(tmp_path / "spark.pt")
    clone = make_agent("spark", env, seed=5).load(tmp_path / "spark.pt")
    np.testing.assert_array_equal(agent.act(obs, deterministic=True), clone.act(obs, deterministic=True))
