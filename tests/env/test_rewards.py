import gymnasium as gym
import numpy as np
import pytest

from spark_env.data import split_names

from spark_env.errors import ConfigError

import spark_env  # noqa: F401
from spark_env.rewards import REWARDS, RewardContext


def episode_rewards(reward, steps=3, action=None):
    env = gym.make("SparkKD-v2", preset="tiny", reward=reward, episode_steps=steps).unwrapped
    _, info = env.reset(seed=3)
    action = np.zeros((8, 8), np.float32) if action is None else action
    out = []
    infos = [info]
    for _ in range(steps):
        _, r, _, _, info = env.step(action)
        out.append(r)
        infos.append(info)
    return np.array(out), infos


@pytest.mark.parametrize("name", list(REWARDS))
def test_every_named_reward_runs_and_is_finite(name):
    rewards, _ = episode_rewards(name)
    assert np.isfinite(rewards).all()


def test_counterfactual_against_uniform_is_zero_for_the_uniform_action():
    rewards, _ = episode_rewards("counterfactual_uniform")
    np.testing.assert_allclose(rewards, 0.0, atol=1e-9)
    peaked = np.full((8, 8), -1.0, np.float32)
    peaked[:2, :2] = 1.0
    rewards, _ = episode_rewards("counterfactual_uniform", action=peaked)
    assert np.abs(rewards).max() > 0


def test_counterfactual_does_not_change_the_trajectory():
    _, plain = episode_rewards("probe_psnr_gain")
    _, forked = episode_rewards("counterfactual_uniform")
    assert [i["probe_psnr"] for i in plain] == [i["probe_psnr"] for i in forked]


def test_final_psnr_is_sparse_and_sums_to_the_episode_gain():
    rewards, infos = episode_rewards("final_psnr", steps=4)
    assert (rewards[:-1] == 0).all()
    assert rewards[-1] == pytest.approx(infos[-1]["probe_psnr"] - infos[0]["probe_psnr"])
    dense, _ = episode_rewards("probe_psnr_gain", steps=4)
    assert dense.sum() == pytest.approx(rewards[-1])


def test_gap_potential_is_shaped_probe_gain():
    rewards, infos = episode_rewards("gap_potential")
    for r, before, after in zip(rewards, infos, infos[1:]):
        gap_after = after["probe_psnr"] - after["teacher_psnr"]
        gap_before = before["probe_psnr"] - before["teacher_psnr"]
        assert r == pytest.approx(0.99 * gap_after - gap_before)


def test_user_callable_and_reward_scale():
    seen = []

    def my_reward(ctx: RewardContext) -> float:
        seen.append(ctx.step_index)
        return 2.0 * (ctx.psnr_after - ctx.psnr_before)

    custom, _ = episode_rewards(my_reward)
    default, _ = episode_rewards("probe_psnr_gain")
    np.testing.assert_allclose(custom, 2.0 * default)
    assert seen == [0, 1, 2]
    env = gym.make("SparkKD-v2", preset="tiny", reward_scale=10.0, episode_steps=1).unwrapped
    env.reset(seed=3)
    assert env.step(np.zeros((8, 8), np.float32))[1] == pytest.approx(10.0 * default[0])


def test_val_psnr_gain_sums_to_the_validation_gain_whatever_the_frequency():
    from spark_env.data import load_pairs
    from spark_env.evaluation import evaluate
    returns = {}
    for every in (0, 2):
        env = gym.make("SparkKD-v2", preset="tiny", reward="val_psnr_gain", val_reward_every=every,
                       episode_steps=5).unwrapped
        env.reset(seed=3)
        start = env.session.val_history[0][1]
        rewards = [env.step(np.zeros((8, 8), np.float32))[1] for _ in range(5)]
        nonzero = [i for i, r in enumerate(rewards) if r != 0.0]
        assert nonzero == ([4] if every == 0 else [1, 3, 4])
        final = evaluate(env.session.student, load_pairs(env.session.task, "val", None), env.session.task)["psnr"]
        assert sum(rewards) == pytest.approx(final - start, abs=1e-9)
        returns[every] = sum(rewards)
    assert returns[0] == pytest.approx(returns[2], abs=1e-9)


def test_val_psnr_gain_reads_the_validation_split_only():
    env = gym.make("SparkKD-v2", preset="tiny", reward="val_psnr_gain").unwrapped
    env.reset(seed=0)
    names = [pair.name for pair in env.session.validation.pairs]
    assert names and set(names) == set(split_names("val", "v1"))  # whole validation photographs, never test ones
    with pytest.raises(ConfigError, match="val_reward_every=-1 is invalid"):
        gym.make("SparkKD-v2", preset="tiny", val_reward_every=-1)
    from spark_env.rewards import val_psnr_gain
    wrapped = gym.make("SparkKD-v2", preset="tiny", episode_steps=1, reward=lambda ctx: val_psnr_gain(ctx)).unwrapped
    wrapped.reset(seed=0)
    with pytest.raises(RuntimeError, match="needs_val_start"):
        wrapped.step(np.zeros((8, 8), np.float32))


def test_paired_uniform_gain_is_the_gain_over_the_same_seeds_uniform_run():
    """Uniform KD earns exactly 0 on every step; another policy's return is its final probe PSNR minus the uniform
    run's on the same seed; the reference run of a seed is computed once."""
    uniform_rewards, _ = episode_rewards("paired_uniform_gain", steps=4)
    assert (uniform_rewards == 0).all()
    action = np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8)
    paired, infos = episode_rewards("paired_uniform_gain", steps=4, action=action)
    plain_uniform, uniform_infos = episode_rewards("probe_psnr_gain", steps=4)
    assert paired.sum() == pytest.approx(infos[-1]["probe_psnr"] - uniform_infos[-1]["probe_psnr"], abs=1e-9)
    env = gym.make("SparkKD-v2", preset="tiny", reward="paired_uniform_gain", episode_steps=4).unwrapped
    env.episode.reset(3)
    took, first = env.timings["reference"], env.episode.reference
    env.episode.reset(3)
    assert env.timings["reference"] == took and env.episode.reference is first
