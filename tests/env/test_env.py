import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import spark_env  # noqa: F401  (registers the SparkKD env ids)
from spark_env.env import SparkKDEnv
from spark_env.errors import ConfigError


def tiny_env(**overrides) -> SparkKDEnv:
    return gym.make("SparkKD-v2", preset="tiny", **overrides).unwrapped


def run_episode(env, seed, policy=None):
    obs, info = env.reset(seed=seed)
    trace = [obs.copy()]
    rewards, done = [], False
    while not done:
        action = np.zeros((8, 8), np.float32) if policy is None else policy(obs)
        obs, reward, done, truncated, info = env.step(action)
        assert not truncated
        trace.append(obs.copy())
        rewards.append(reward)
    return np.stack(trace), np.array(rewards), info


def test_spaces_and_first_observation():
    env = tiny_env()
    assert env.observation_space == gym.spaces.Box(0, 1, (4, 8, 8), np.float32)
    assert env.action_space == gym.spaces.Box(-1, 1, (8, 8), np.float32)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert info["raw_grid"].shape == (4, 8, 8) and (info["raw_grid"] >= 0).all()
    assert np.isfinite(info["probe_psnr"]) and info["teacher_psnr"] > info["probe_psnr"] - 1.0


def test_gymnasium_env_checker_passes():
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=UserWarning)
        check_env(tiny_env(), skip_render_check=False)


# SB3's checker sees a 3-D observation and assumes an image for its default CnnPolicy. These three warnings are
# expected and harmless: the grid is float32 in [0, 1] by design, and agents.sb3 brings a features extractor for
# 8x8 inputs (NatureCNN needs 36x36). Any other warning is a bug.
EXPECTED_SB3_WARNINGS = ("is an image but its `dtype` is (float32)", "upper and lower bounds are not in [0, 255]",
                         "minimal resolution for an image is 36x36")


def test_stable_baselines3_env_checker_passes():
    from stable_baselines3.common.env_checker import check_env as sb3_check_env
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb3_check_env(tiny_env(), warn=True)
    messages = [str(w.message) for w in caught]
    unexpected = [m for m in messages if not any(e in m for e in EXPECTED_SB3_WARNINGS)]
    assert not unexpected, unexpected


def test_same_seed_gives_identical_episodes():
    rng_policy = lambda obs: np.tanh(obs[2] - obs[3]).astype(np.float32)  # noqa: E731
    a = run_episode(tiny_env(), 7, rng_policy)
    b = run_episode(tiny_env(), 7, rng_policy)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2]["probe_psnr"] == b[2]["probe_psnr"]
    c = run_episode(tiny_env(), 8, rng_policy)
    assert not np.array_equal(a[0], c[0])


def test_episode_length_termination_and_step_after_end():
    env = tiny_env(episode_steps=3)
    trace, rewards, info = run_episode(env, 0)
    assert len(rewards) == 3 and info["env_step"] == 3 and info["qat_step"] == 3
    with pytest.raises(RuntimeError, match="episode that has ended"):
        env.step(np.zeros((8, 8), np.float32))


def test_inner_steps_count_qat_steps():
    env = tiny_env(episode_steps=2, inner_steps=3)
    *_, info = run_episode(env, 0)
    assert info["qat_step"] == 6


def test_zero_action_is_uniform_kd_and_rewards_track_probe_psnr():
    env = tiny_env(episode_steps=4)
    _, info = env.reset(seed=0)
    previous = info["probe_psnr"]
    for _ in range(4):
        _, reward, _, _, info = env.step(np.zeros((8, 8), np.float32))
        np.testing.assert_allclose(info["weight_map"], 1.0, rtol=1e-6)
        assert reward == pytest.approx(info["probe_psnr"] - previous)
        previous = info["probe_psnr"]


@pytest.mark.parametrize("bad,match", [
    (np.zeros((4, 4), np.float32), r"shape \(4, 4\); expected \(8, 8\) with values in \[-1, 1\]"),
    (np.zeros(64, np.float32), r"shape \(64,\)"),
    (np.full((8, 8), np.nan, np.float32), "NaN or infinite"),
    (np.zeros((8, 8), np.int64), "dtype int64"),
])
def test_bad_actions_are_rejected_with_the_expected_shape(bad, match):
    env = tiny_env()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(bad)


def test_out_of_range_actions_are_clipped():
    a, b = tiny_env(), tiny_env()
    a.reset(seed=0)
    b.reset(seed=0)
    big = np.full((8, 8), -5.0, np.float32)
    big[0, 0] = 5.0
    clipped = np.clip(big, -1, 1)
    assert a.step(big)[4]["weight_map"].tolist() == b.step(clipped)[4]["weight_map"].tolist()


def test_divergence_ends_episode_with_penalty_not_exception():
    env = tiny_env(lr=1e30, quant_lr=1e30, episode_steps=6, divergence_penalty=-7.0)
    env.reset(seed=0)
    ended = False
    for _ in range(6):
        _, reward, done, _, info = env.step(np.ones((8, 8), np.float32))
        if "error" in info:
            assert reward == -7.0 and done
            ended = True
            break
    assert ended


def test_env_pickles_and_keeps_running():
    env = tiny_env()
    env.reset(seed=0)
    clone = pickle.loads(pickle.dumps(env))
    a = env.step(np.zeros((8, 8), np.float32))
    b = clone.step(np.zeros((8, 8), np.float32))
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]


def test_render_panel():
    env = tiny_env(render_mode="rgb_array")
    env.reset(seed=0)
    env.step(np.zeros((8, 8), np.float32))
    frame = env.render()
    assert frame.shape == (256, 512, 3) and frame.dtype == np.uint8 and frame.std() > 0


def test_overrides_are_validated():
    with pytest.raises(ConfigError, match="unknown config key\\(s\\) 'bits'"):
        gym.make("SparkKD-v2", preset="tiny", bits=3)
    with pytest.raises(ConfigError, match="unknown reward 'psnr'"):
        gym.make("SparkKD-v2", preset="tiny", reward="psnr")


def test_cuda_request_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        env = tiny_env(device="cuda")
        env.reset(seed=0)
        assert next(env.session.student.parameters()).is_cuda
    else:
        with pytest.raises(ConfigError, match="device='cuda'.*no CUDA device"):
            tiny_env(device="cuda")


def test_paper_preset_needs_matching_weights_and_runs_with_them(tmp_path):
    with pytest.raises(ConfigError, match="no shipped teacher for architecture 'edsr_official'.*import_edsr"):
        gym.make("SparkKD-v2", preset="paper")
    with pytest.raises(ConfigError, match="arch_options .* differ from the student's FP weights"):
        gym.make("SparkKD-v2", preset="paper", arch="edsr")
    from spark_env.models import build_model, save_weights
    path = tmp_path / "edsr_baseline_sr_x2.pt"
    save_weights(build_model("edsr_official", 2), "edsr_official", "sr_x2", path)
    # SparkKD-v0: its smaller training images keep the 16-block teacher's forward passes cheap
    env = gym.make("SparkKD-v0", preset="paper", teacher_weights=str(path), device="cpu", crop_size=16,
                   probe_crops=1, probe_crop_size=16, episode_steps=1).unwrapped
    env.reset(seed=0)
    _, reward, done, _, info = env.step(np.zeros((8, 8), np.float32))
    assert done and np.isfinite(reward) and env.session.student.config["n_blocks"] == 16


def test_the_library_leaves_the_global_rngs_alone_and_stays_reproducible():
    import torch

    from agents import make_agent
    torch.manual_seed(123)
    np.random.seed(7)
    torch_state, numpy_state = torch.random.get_rng_state().clone(), np.random.get_state()[1].copy()
    env = gym.make("SparkKD-v2", preset="tiny", episode_steps=4)
    obs, _ = env.reset(seed=0)
    env.step(np.zeros((8, 8), np.float32))
    envs = gym.make_vec("SparkKD-v2", num_envs=2, vectorization_mode="vector_entry_point", preset="tiny",
                        episode_steps=2)
    envs.reset(seed=0)
    envs.step(np.zeros((2, 8, 8), np.float32))
    for name in ("spark", "pgpe", "random", "heuristic_combined"):
        agent = make_agent(name, env, seed=3)
        agent.act(obs)
        agent.learn(4)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state)
    torch.manual_seed(1)
    first = make_agent("spark", env, seed=5).policy.state_dict()
    torch.manual_seed(2)  # a different global state: the same agent seed still gives the same policy
    second = make_agent("spark", env, seed=5).policy.state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_channels_last_layout_trains_the_same_run_up_to_rounding():
    """``channels_last=True`` puts teacher and student in channels-last layout; the run is the same up to the
    last-bit differences of other convolution kernels."""
    probes = {}
    for layout in (False, True):
        env = gym.make("SparkKD-v2", preset="tiny", channels_last=layout, w_bits=4, a_bits=4)
        env.reset(seed=3)
        for _ in range(4):
            _, _, _, _, info = env.step(np.zeros((8, 8), np.float32))
        session = env.unwrapped.session
        weights = [m.weight for m in session.student.modules() if isinstance(m, torch.nn.Conv2d)]
        assert all(w.is_contiguous(memory_format=torch.channels_last) == layout for w in weights if w.dim() == 4
                   and w.shape[-1] > 1)
        probes[layout] = info["probe_psnr"]
    assert probes[True] == pytest.approx(probes[False], abs=0.02)
