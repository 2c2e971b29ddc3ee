import gymnasium as gym
import numpy as np
import pytest

import spark_env  # noqa: F401
from agents import AGENT_NAMES, make_agent
from spark_env.testing import TargetCellsEnv


def mean_reward(agent, env, episodes=10, deterministic=True):
    total = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=1000 + episode)
        done = False
        while not done:
            obs, reward, done, _, _ = env.step(np.clip(agent.act(obs, deterministic=deterministic), -1, 1))
            total.append(reward)
    return float(np.mean(total))


def test_spark_agent_learns_the_known_map_against_random():
    env = TargetCellsEnv()
    agent = make_agent("spark", env, seed=0).learn(3000)
    learned = mean_reward(agent, env)
    chance = mean_reward(make_agent("random", env, seed=0), env)
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
    chance = mean_reward(make_agent("random", env, seed=0), env)
    assert mean_reward(agent, env) > chance + 1.0
    agent.learn(32)  # REINFORCE from there
    assert any("policy_loss" in row for row in agent.history)
    with pytest.raises(ValueError, match="unknown heuristic channel 'edges'"):
        make_agent("spark", env, warm_start="edges")


def test_unknown_agent_lists_names():
    with pytest.raises(ValueError, match="unknown agent 'dqn'; available: spark, spark_distill, pgpe, ppo, a2c"):
        make_agent("dqn", TargetCellsEnv())


@pytest.mark.parametrize("name", [n for n in AGENT_NAMES if n.startswith("heuristic") or n in ("uniform", "random")])
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
    assert mean_reward(make_agent("heuristic_gap", env), env) > 0.5


def test_spark_agent_online_in_one_qat_run_leaves_no_inference_cost(tmp_path):
    def trained_student(agent_name):
        env = gym.make("SparkKD-v0", preset="tiny", episode_steps=4).unwrapped
        make_agent(agent_name, env).learn(4)
        return env.session.student

    spark, uniform = trained_student("spark"), trained_student("uniform")
    shapes = lambda m: {k: tuple(v.shape) for k, v in m.state_dict().items()}  # noqa: E731
    assert shapes(spark) == shapes(uniform)
    assert [type(m) for m in spark.modules()] == [type(m) for m in uniform.modules()]
    assert not any("policy" in k for k in spark.state_dict())


def test_online_learning_keeps_the_trained_student_of_the_run():
    env = gym.make("SparkKD-v0", preset="tiny", episode_steps=4).unwrapped
    make_agent("spark", env).learn(4)
    assert env.session.steps_done == 4


def test_spark_agent_save_load_round_trip(tmp_path):
    env = TargetCellsEnv()
    agent = make_agent("spark", env, seed=0).learn(32)
    obs, _ = env.reset(seed=0)
    agent.save(tmp_path / "spark.pt")
    clone = make_agent("spark", env, seed=5).load(tmp_path / "spark.pt")
    np.testing.assert_array_equal(agent.act(obs, deterministic=True), clone.act(obs, deterministic=True))


@pytest.mark.parametrize("name", ["ppo", "a2c", "sac", "td3"])
def test_sb3_agents_learn_and_act_on_the_real_env(name, tmp_path):
    env = gym.make("SparkKD-v0", preset="tiny", episode_steps=4)
    agent = make_agent(name, env, seed=0)
    agent.learn(40 if name in ("sac", "td3") else 16)
    obs, _ = env.reset(seed=0)
    assert agent.act(obs).shape == (8, 8)
    agent.save(tmp_path / name)
    agent.load(tmp_path / f"{name}.zip")


def test_sb3_on_the_natively_batched_env():
    envs = gym.make_vec("SparkKD-v0", num_envs=2, vectorization_mode="vector_entry_point", preset="tiny",
                        episode_steps=3)
    agent = make_agent("a2c", envs.unwrapped if hasattr(envs, "unwrapped") else envs, seed=0, n_steps=3)
    agent.learn(12)
    obs, _ = envs.reset(seed=0)
    assert agent.act(obs).shape == (2, 8, 8)


def test_task_figures_reach_the_sb3_logger(tmp_path):
    from stable_baselines3.common.logger import configure
    env = gym.make("SparkKD-v0", preset="tiny", episode_steps=4)
    agent = make_agent("a2c", env, seed=0, n_steps=4)
    agent.model.set_logger(configure(str(tmp_path), ["csv"]))
    agent.learn(8)
    header = (tmp_path / "progress.csv").read_text().splitlines()[0]
    for key in ("spark/probe_psnr", "spark/gap_to_teacher", "spark/kd_loss", "spark/map_entropy"):
        assert key in header


def make_tiny_env():
    return gym.make("SparkKD-v0", preset="tiny", episode_steps=3)


def test_sb3_with_subprocess_vec_env():
    from stable_baselines3.common.vec_env import SubprocVecEnv
    vec_env = SubprocVecEnv([make_tiny_env, make_tiny_env], start_method="spawn")
    try:
        agent = make_agent("ppo", vec_env, seed=0, n_steps=4, batch_size=8, n_epochs=1)
        agent.learn(8)
        assert agent.act(vec_env.reset()).shape == (2, 8, 8)
    finally:
        vec_env.close()


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
    chance = mean_reward(make_agent("random", env, seed=0), env)
    assert mean_reward(agent, env) > chance + 1.0


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
