"""Exploration held for a whole run: SB3 PPO / A2C with one decision per run on the channel weights (one Gaussian
draw per episode, the same action for every crop), and PGPE on the SPARK agent's 3-conv CNN."""
import gymnasium as gym
import numpy as np
import pytest

import spark_env  # noqa: F401  (registers the SparkKD env ids)
from agents import AGENTS, make_agent
from spark_env.difficulty import CHANNELS


def tiny_vector_env(agent: str, num_envs: int = 2, **overrides):
    return gym.make_vec("SparkKD-v2", num_envs=num_envs, vectorization_mode="vector_entry_point", preset="tiny",
                        **{**AGENTS[agent].env_overrides, **overrides})


class ActionLog(gym.vector.VectorWrapper):
    """Records every batch of actions the env receives and every episode's length in env steps."""

    def __init__(self, env) -> None:
        super().__init__(env)
        self.actions, self.episode_lengths, self._length = [], [], 0

    def step(self, actions):
        self.actions.append(np.array(actions))
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        self._length += 1
        if terminated[0] or truncated[0]:
            self.episode_lengths.append(self._length)
            self._length = 0
        return obs, rewards, terminated, truncated, info


@pytest.mark.parametrize("name", ["ppo_episodic", "a2c_episodic"])
def test_sb3_episodic_draws_once_per_run_for_every_crop_and_updates(name):
    env = ActionLog(tiny_vector_env(name, num_envs=2))
    agent = make_agent(name, env, seed=0)
    before = {k: v.clone() for k, v in agent.model.policy.state_dict().items()}
    agent.learn(4 * 2)  # 4 runs: one decision each, 2 crops per decision (env steps count every crop)
    assert env.episode_lengths == [1, 1, 1, 1]  # one env step (one decision) per QAT run of 8 steps
    draws = np.stack(env.actions)
    assert draws.shape == (4, 2, len(CHANNELS))
    assert np.array_equal(draws[:, 0], draws[:, 1])  # one action for every crop
    assert len({tuple(d[0]) for d in draws}) == 4  # a fresh Gaussian draw per run
    assert agent.model.num_timesteps == 4
    after = agent.model.policy.state_dict()
    assert any(not np.allclose(before[k].numpy(), after[k].numpy()) for k in before)  # at least one update
    acted = agent.act(np.random.default_rng(0).uniform(0, 1, (2, 4, 8, 8)).astype(np.float32), deterministic=True)
    assert acted.shape == (2, len(CHANNELS)) and np.array_equal(acted[0], acted[1])


@pytest.mark.parametrize("name", ["ppo_episodic_crn", "a2c_episodic_crn"])
def test_crn_rollouts_share_one_qat_seed_across_learn_calls(name):
    """Common random numbers: the 4 runs of each rollout start from one QAT seed, a fresh one per rollout, and a
    second learn call starts a new group instead of splitting a rollout over two seeds."""
    env = tiny_vector_env(name, num_envs=2)
    seeds = []
    reset = env.unwrapped.episode.reset
    env.unwrapped.episode.reset = lambda seed: seeds.append(seed) or reset(seed)
    agent = make_agent(name, env, seed=0)
    before = {k: v.clone() for k, v in agent.model.policy.state_dict().items()}
    agent.learn(8 * 2)  # 8 runs: two rollouts
    agent.learn(4 * 2)  # one more rollout, in a new learn call
    rollouts = [seeds[0:4], seeds[4:8], seeds[9:13]]  # seeds[8]: the autoreset the second call's reset replaces
    assert [len(set(r)) for r in rollouts] == [1, 1, 1]
    assert len({r[0] for r in rollouts}) == 3
    after = agent.model.policy.state_dict()
    assert any(not np.allclose(before[k].numpy(), after[k].numpy()) for k in before)
    with pytest.raises(ValueError, match=f"{name} needs an env with .*'episodes_per_seed': 4"):
        make_agent(name, tiny_vector_env(name.removesuffix("_crn")))
    with pytest.raises(ValueError, match="n_steps=6 runs would mix QAT seeds; allowed: a multiple of .*=4"):
        make_agent(name, tiny_vector_env(name), n_steps=6, **({"batch_size": 6} if name.startswith("ppo") else {}))


def test_shared_decision_needs_the_batched_env():
    from agents.sb3 import SB3Agent
    with pytest.raises(ValueError, match="shared_decision needs the natively batched env"):
        SB3Agent(gym.make("SparkKD-v2", preset="tiny", action_space="channel_weights"), "ppo",
                 shared_decision=True)


def test_spark_episodic_searches_the_cnn_from_the_zero_map_and_updates():
    env = ActionLog(tiny_vector_env("spark_episodic"))
    agent = make_agent("spark_episodic", env, seed=0, pairs_per_update=1)
    assert agent.mu.size == 10_721  # the 3-conv CNN with 32 hidden channels
    grids = np.random.default_rng(0).uniform(0, 1, (2, 4, 8, 8)).astype(np.float32)
    assert not agent.act(grids).any()  # the last convolution starts at zero: uniform KD
    start = agent.mu.copy()
    agent.learn(2 * 8 * 2)  # one antithetic pair of 8-step runs on 2 crops
    assert env.episode_lengths == [8, 8]
    assert not np.array_equal(agent.mu, start) and agent.policy_parameters()["parameter_norm"] > 0
    with pytest.raises(ValueError, match="policy='cnn' outputs an 8x8 map"):
        make_agent("spark_episodic", tiny_vector_env("spark_episodic", action_space="channel_weights"))


def test_pgpe_acts_in_either_space_with_the_same_run():
    """PGPE's linear policy sends the map in the map space and its 4 weights in the channel-weights space: the
    measured runs are identical."""
    returns = []
    for space in ("map", "channel_weights"):
        env = tiny_vector_env("pgpe", action_space=space)
        agent = make_agent("pgpe", env, seed=0, init=[0.3, 0.1, -0.2, 0.25])
        obs, _ = env.reset(seed=5)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, _, _ = env.step(agent.act(obs))
            total += reward[0]
            done = terminated[0]
        returns.append(total)
    assert returns[0] == returns[1]


def test_fixed_agents_act_in_the_channel_weights_space():
    env = tiny_vector_env("uniform", action_space="channel_weights")
    grids = np.random.default_rng(0).uniform(0, 1, (2, 4, 8, 8)).astype(np.float32)
    assert np.array_equal(make_agent("uniform", env).act(grids), np.zeros((2, 4), np.float32))
    assert np.allclose(make_agent("heuristic_combined", env).act(grids), 0.25)
    assert np.array_equal(make_agent("heuristic_error", env).act(grids)[0], [0, 0, 1, 0])
    random = make_agent("random", env, seed=1).act(grids)
    assert random.shape == (2, 4) and np.abs(random).max() <= 1 and not np.array_equal(random[0], random[1])
    held = tiny_vector_env("random_weights")
    assert held.unwrapped.config.decision_interval == 0
    shared = make_agent("random_weights", held, seed=1)
    first, second = shared.act(grids), shared.act(grids)
    assert np.array_equal(first[0], first[1]) and not np.array_equal(first, second)  # one draw per decision


def test_sb3_episodic_spends_its_budget_in_whole_rollouts_and_needs_its_env():
    env = ActionLog(tiny_vector_env("ppo_episodic"))
    agent = make_agent("ppo_episodic", env, seed=0)
    agent.learn(3 * 2)  # 3 runs' budget: short of one rollout of 4 runs, so nothing runs yet
    assert env.episode_lengths == []
    agent.learn(1 * 2)  # the 4th run completes the rollout
    assert env.episode_lengths == [1, 1, 1, 1] and agent.model.num_timesteps == 4
    map_env = gym.make_vec("SparkKD-v2", num_envs=2, vectorization_mode="vector_entry_point", preset="tiny")
    with pytest.raises(ValueError, match="ppo_episodic needs an env with .*'action_space': 'map'"):
        make_agent("ppo_episodic", map_env)
    with pytest.raises(ValueError, match="SparkAgent outputs 8x8 maps; the env's action_space is 'channel_weights'"):
        make_agent("spark", tiny_vector_env("uniform", action_space="channel_weights"))


def test_gated_policy_needs_the_map_space():
    with pytest.raises(ValueError, match="policy='gated' sends 8x8 maps"):
        make_agent("pgpe", tiny_vector_env("pgpe", action_space="channel_weights"), policy="gated")
