"""The named action spaces and held decisions (spark_env.action_spaces): spaces, checkers, mapping, batched env,
bad actions, and that a held channel-weights decision is the same QAT run as the per-step map it stands for."""
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import spark_env  # noqa: F401  (registers the SparkKD env ids)
from spark_env.action_spaces import ACTION_SPACES, channel_weights_map, get_action_space, zscore
from spark_env.errors import ConfigError

WEIGHTS = np.array([0.4, -0.2, 0.3, 0.1], np.float32)


def tiny_env(**overrides):
    return gym.make("SparkKD-v2", preset="tiny", **overrides).unwrapped


def tiny_vector_env(num_envs: int = 3, **overrides):
    return gym.make_vec("SparkKD-v2", num_envs=num_envs, vectorization_mode="vector_entry_point", preset="tiny",
                        **overrides)


def episode(env, seed: int, act) -> tuple[list[float], dict]:
    """(rewards, last info) of one episode; ``act(obs)`` gives the action."""
    obs, info = env.reset(seed=seed)
    rewards, done = [], False
    while not done:
        obs, reward, terminated, truncated, info = env.step(act(obs))
        rewards.append(float(np.atleast_1d(reward)[0]))
        done = bool(np.atleast_1d(terminated)[0] or np.atleast_1d(truncated)[0])
    return rewards, info


def test_spaces_have_their_documented_shapes_bounds_and_names():
    assert set(ACTION_SPACES) == {"map", "channel_weights"}
    assert tiny_env().action_space == gym.spaces.Box(-1, 1, (8, 8), np.float32)
    assert tiny_env(action_space="channel_weights").action_space == gym.spaces.Box(-1, 1, (4,), np.float32)
    envs = tiny_vector_env(3, action_space="channel_weights")
    assert envs.action_space == gym.spaces.Box(-1, 1, (3, 4), np.float32)
    assert envs.single_action_space == gym.spaces.Box(-1, 1, (4,), np.float32)
    with pytest.raises(ConfigError, match=r"action_space='weights' is invalid; allowed: map, channel_weights"):
        tiny_env(action_space="weights")
    with pytest.raises(ValueError, match="unknown action_space 'cells'; allowed: map, channel_weights"):
        get_action_space("cells")
    with pytest.raises(ConfigError, match="decision_interval=-1 is invalid"):
        tiny_env(decision_interval=-1)


@pytest.mark.parametrize("overrides", [{"action_space": "channel_weights"},
                                       {"action_space": "channel_weights", "decision_interval": 0},
                                       {"decision_interval": 3},
                                       {"action_space": "channel_weights", "decision_interval": 0,
                                        "episodes_per_seed": 2}])
def test_gymnasium_and_sb3_checkers_pass(overrides):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the checkers' advice about unbounded / non-symmetric spaces
        check_env(tiny_env(**overrides))
        sb3_check_env(tiny_env(**overrides), warn=True)


def test_channel_weights_map_is_the_clipped_weighted_sum_of_z_scores(rng):
    obs = rng.uniform(0, 1, (5, 4, 8, 8)).astype(np.float32)
    expected = np.clip(sum(w * zscore(obs[:, c]) for c, w in enumerate(WEIGHTS.astype(np.float64))), -1, 1)
    assert np.array_equal(channel_weights_map(WEIGHTS, obs), expected.astype(np.float32))
    per_crop = np.stack([WEIGHTS, np.zeros(4, np.float32)] * 2 + [WEIGHTS])
    maps = channel_weights_map(per_crop, obs)
    assert np.array_equal(maps[0], expected[0].astype(np.float32)) and not maps[1].any()
    combined = channel_weights_map(np.full(4, 0.25), obs)  # the combined heuristic's map (to rounding)
    assert np.allclose(combined, np.clip(np.mean([zscore(obs[:, c]) for c in range(4)], 0), -1, 1), atol=1e-6)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((8, 8), np.float32), r"shape \(8, 8\); expected \(4,\) with values in \[-1, 1\] \(channel_weights"),
    (np.array([0.1, np.nan, 0, 0], np.float32), "NaN or infinite"),
    (np.zeros(4, np.int64), "dtype int64"),
])
def test_bad_channel_weight_actions_are_rejected(bad, match):
    env = tiny_env(action_space="channel_weights")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(bad)


def test_a_held_channel_weights_decision_is_the_per_step_map_run():
    """One decision per run in the channel-weights space, per-step decisions in that space and the per-step maps
    in the map space are the same QAT run: same per-step rewards summed, same final probe PSNR."""
    per_step_maps, info_maps = episode(tiny_env(), 3, lambda obs: channel_weights_map(WEIGHTS, obs[None])[0])
    per_step_weights, info_weights = episode(tiny_env(action_space="channel_weights"), 3, lambda obs: WEIGHTS)
    held = tiny_env(action_space="channel_weights", decision_interval=0)
    held_rewards, info_held = episode(held, 3, lambda obs: WEIGHTS)
    assert per_step_maps == per_step_weights
    assert len(per_step_maps) == 8 and len(held_rewards) == 1
    assert held_rewards[0] == pytest.approx(sum(per_step_maps), abs=1e-9)
    assert info_maps["probe_psnr"] == info_weights["probe_psnr"] == info_held["probe_psnr"]
    assert info_held["qat_step"] == 8 and info_held["env_step"] == 1


def test_decision_interval_holds_an_action_for_that_many_qat_steps():
    env = tiny_env(decision_interval=3)  # 8 QAT steps: decisions of 3, 3 and 2 steps
    assert env.config.episode_env_steps == 3
    obs, _ = env.reset(seed=0)
    qat_steps = []
    for _ in range(3):
        obs, _, terminated, _, info = env.step(np.zeros((8, 8), np.float32))
        qat_steps.append(info["qat_step"])
    assert qat_steps == [3, 6, 8] and terminated


def test_the_batched_env_takes_one_weight_vector_per_crop():
    envs = tiny_vector_env(3, action_space="channel_weights")
    obs, _ = envs.reset(seed=0)
    actions = np.stack([WEIGHTS, -WEIGHTS, np.zeros(4, np.float32)])
    _, rewards, _, _, info = envs.step(actions)
    assert np.allclose(info["weight_map"][2], 1.0)  # zero weights: uniform KD on that crop
    assert not np.allclose(info["weight_map"][0], 1.0) and rewards.shape == (3,)
    with pytest.raises(ValueError, match=r"shape \(4,\); expected \(3, 4\)"):
        envs.step(WEIGHTS)
