"""The env ids' protocols (spark_env.protocols) and the probe's pooling (spark_env.probe)."""
import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

import spark_env  # noqa: F401  (registers the SparkKD env ids)
from spark_env.config import make_config
from spark_env.data import get_task
from spark_env.data.pairs import ImagePair
from spark_env.errors import ConfigError
from spark_env.metrics import psnr, psnr_of_mse, squared_errors
from spark_env.probe import ProbeSet
from spark_env.protocols import ENV_ID, PROTOCOLS, latest_env_id, protocol_config


def test_every_protocol_is_a_registered_env_id_and_the_newest_is_the_default():
    assert ENV_ID == f"SparkKD-{list(PROTOCOLS)[-1]}"
    for version in PROTOCOLS:
        assert f"SparkKD-{version}" in gym.registry


def test_the_protocol_sets_the_probe_under_the_preset_and_the_overrides():
    v2, v1 = protocol_config("v2", "quick", {}), protocol_config("v1", "quick", {})
    v2, v1 = (v2.probe_crops, v2.probe_crop_size, v2.probe_pooling, v2.probe_every, v2.image_set), \
        (v1.probe_crops, v1.probe_crop_size, v1.probe_pooling, v1.probe_every, v1.image_set)
    assert v2 == (32, 48, "image", 16, "v1") and v1 == (4, 32, "crop", 1, "v1")
    tiny = protocol_config("v2", "tiny", {})  # the preset's own probe wins over the protocol's
    assert (tiny.probe_crops, tiny.probe_crop_size, tiny.probe_pooling, tiny.probe_every) == (2, 16, "image", 1)
    assert protocol_config("v2", "quick", {}) == make_config("quick")  # the defaults are the newest protocol's
    assert protocol_config("v2", "quick", {"probe_crops": 8}).probe_crops == 8  # and the user's overrides win


def test_an_image_set_other_than_the_protocols_is_an_error_naming_both():
    with pytest.raises(ConfigError, match=r"image_set='v0' contradicts SparkKD-v2.*SparkKD-v0"):
        gym.make("SparkKD-v2", preset="tiny", image_set="v0")
    with pytest.raises(ConfigError, match=r"image_set='v0' contradicts SparkKD-v1.*use SparkKD-v0"):
        gym.make("SparkKD-v1", config=make_config("tiny", image_set="v0"))
    with pytest.raises(ConfigError, match="unknown SparkKD protocol 'v9'; allowed: v0, v1, v2"):
        protocol_config("v9", "quick", {})


def test_the_newest_env_id_of_an_image_set():
    assert latest_env_id("v1") == "SparkKD-v2" and latest_env_id("v0") == "SparkKD-v0"
    with pytest.raises(ConfigError, match="no SparkKD protocol uses image set 'v7'"):
        latest_env_id("v7")


class _Noisy(nn.Module):
    """Nearest x2 upscaling plus noise whose strength differs per crop: a network with known, uneven errors."""

    def forward(self, x):
        up = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
        strength = torch.linspace(0.01, 0.2, x.shape[0]).view(-1, 1, 1, 1)
        return up + strength * torch.randn(up.shape, generator=torch.Generator().manual_seed(0))


def _pairs():
    rng = np.random.default_rng(0)
    return [ImagePair(f"image{i}", rng.random((24, 24, 3)).astype(np.float32),
                      rng.random((48, 48, 3)).astype(np.float32)) for i in range(2)]


def test_crop_pooling_averages_the_crops_psnrs():
    probe = ProbeSet(_pairs(), 6, 16, get_task("sr_x2"), torch.device("cpu"), pooling="crop")
    out = _Noisy()(probe.lq)
    assert probe.psnr_of(out) == pytest.approx(psnr(out, probe.hr, border=probe.border))


def test_image_pooling_pools_the_squared_errors_of_each_images_crops():
    probe = ProbeSet(_pairs(), 6, 16, get_task("sr_x2"), torch.device("cpu"), pooling="image")
    out = _Noisy()(probe.lq)
    mse = squared_errors(out, probe.hr, border=probe.border).numpy()
    assert list(probe.source) == [0, 1, 0, 1, 0, 1]
    expected = np.mean([psnr_of_mse(mse[[0, 2, 4]].mean()), psnr_of_mse(mse[[1, 3, 5]].mean())])
    assert probe.psnr_of(out) == pytest.approx(expected)
    assert probe.psnr_of(out) < psnr(out, probe.hr, border=probe.border)  # the noisiest crops weigh more


def test_unknown_pooling_and_non_finite_outputs():
    with pytest.raises(ValueError, match="probe pooling 'pixel' is invalid; allowed: crop, image"):
        ProbeSet(_pairs(), 2, 16, get_task("sr_x2"), torch.device("cpu"), pooling="pixel")
    with pytest.raises(ConfigError, match="probe_pooling='pixel' is invalid"):
        protocol_config("v2", "tiny", {"probe_pooling": "pixel"})
    probe = ProbeSet(_pairs(), 2, 16, get_task("sr_x2"), torch.device("cpu"), pooling="image")
    assert probe.psnr_of(torch.full((2, 3, 32, 32), float("nan"))) == -np.inf


def test_probe_every_carries_the_probe_over_and_keeps_the_return():
    """Between probe evaluations the reward is 0 and info's probe PSNR is carried; the return is the same gain."""
    def run(every):
        env = gym.make("SparkKD-v2", preset="tiny", episode_steps=5, probe_every=every).unwrapped
        _, info = env.reset(seed=3)
        start, rewards, probes = info["probe_psnr"], [], []
        for _ in range(5):
            _, reward, _, _, info = env.step(np.zeros((8, 8), np.float32))
            rewards.append(reward)
            probes.append(info["probe_psnr"])
        return start, rewards, probes

    start, dense, dense_probes = run(1)
    _, sparse, sparse_probes = run(2)
    assert sparse[0] == 0.0 and sparse[2] == 0.0 and sparse[1] != 0.0
    assert sparse_probes[0] == start and sparse_probes[2] == sparse_probes[1] == dense_probes[1]
    assert sparse_probes[4] == dense_probes[4]  # the last step is always measured
    assert sum(sparse) == pytest.approx(sum(dense)) == pytest.approx(dense_probes[4] - start)
