"""Feature KD terms of the baselines (attention transfer, feature affinity) and their use in the QAT step."""
import gymnasium as gym
import numpy as np
import pytest
import torch

import spark_env  # noqa: F401
from spark_env.errors import ConfigError
from spark_env.kd import (attention_map, attention_transfer_loss, feature_affinity, feature_affinity_loss,
                          feature_kd_loss, matched_layers)


def test_attention_map_is_unit_norm_and_scale_invariant():
    features = torch.rand(2, 8, 5, 6)
    maps = attention_map(features)
    assert maps.shape == (2, 30)
    assert torch.allclose(maps.norm(dim=1), torch.ones(2))
    assert torch.allclose(attention_map(3.0 * features), maps, atol=1e-6)
    assert attention_transfer_loss(features, 7.0 * features).item() == pytest.approx(0.0, abs=1e-10)


def test_attention_transfer_sees_where_activations_are():
    flat = torch.ones(1, 4, 4, 4)
    peaked = flat.clone()
    peaked[:, :, 0, 0] = 10.0
    assert attention_transfer_loss(peaked, flat).item() > 1e-3


def test_feature_affinity_is_cosine_between_positions():
    features = torch.rand(2, 8, 3, 4)
    affinity = feature_affinity(features)
    assert affinity.shape == (2, 12, 12)
    assert torch.allclose(torch.diagonal(affinity, dim1=1, dim2=2), torch.ones(2, 12), atol=1e-6)
    # rescaling each position's feature vector changes nothing; a different direction does
    scaled = features * torch.rand(2, 1, 3, 4).add(0.5)
    assert feature_affinity_loss(scaled, features).item() == pytest.approx(0.0, abs=1e-6)
    assert feature_affinity_loss(torch.rand(2, 8, 3, 4), features).item() > 1e-3


@pytest.mark.parametrize("shape", [(4, 3, 8, 8), (2, 16, 16, 16), (3, 5, 6, 7)])
def test_feature_affinity_loss_matches_autograd(shape):
    """The fused loss (gradient computed in its forward pass) equals the plain autograd form: value and gradient to
    float32 rounding (the gradient was equal to the last bit at power-of-2 scales on AVX512 kernels, not on AVX2
    ones: about one unit in the last place there), and it backpropagates through a graph twice."""
    teacher = torch.rand(shape)
    student = torch.rand(shape, requires_grad=True)
    reference = (feature_affinity(student) - feature_affinity(teacher)).abs().mean()
    expected, = torch.autograd.grad(0.25 * reference, student)
    fused = feature_affinity_loss(student, teacher)
    got, = torch.autograd.grad(0.25 * fused, student, create_graph=True)
    assert fused.item() == pytest.approx(reference.item(), rel=1e-6)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-9)
    # differentiable once more in what feeds it (as the lookahead's double backward needs)
    scale = torch.ones((), requires_grad=True)
    again, = torch.autograd.grad(feature_affinity_loss(scale * student, teacher), student, create_graph=True)
    assert again.requires_grad
    assert feature_affinity_loss(student.detach(), teacher).requires_grad is False


def test_layers_are_matched_evenly_and_sizes_checked():
    assert matched_layers(4, 4) == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert matched_layers(2, 4) == [(0, 1), (1, 3)]
    assert matched_layers(4, 2)[-1] == (3, 1)
    with pytest.raises(ValueError, match="spatial size"):
        feature_kd_loss([torch.rand(1, 4, 8, 8)], [torch.rand(1, 4, 16, 16)], "at")
    with pytest.raises(ValueError, match="unknown feature KD loss 'kl'; allowed: at, fakd"):
        feature_kd_loss([torch.rand(1, 4, 8, 8)], [torch.rand(1, 4, 8, 8)], "kl")


def test_feature_kd_needs_a_weight():
    with pytest.raises(ConfigError, match="lambda_feat=0.0 is invalid; allowed: > 0 when feature_kd='at'"):
        spark_env.make_config("tiny", feature_kd="at")
    with pytest.raises(ConfigError, match="feature_kd='kl' is invalid; allowed: none, at, fakd"):
        spark_env.make_config("tiny", feature_kd="kl", lambda_feat=1.0)


@pytest.mark.parametrize("kind", ["at", "fakd"])
def test_feature_kd_changes_the_student_update(kind):
    """Same seed, same crops: with the feature term the student ends elsewhere than without it."""
    finals = {}
    for feature_kd, weight in (("none", 0.0), (kind, 100.0)):
        env = gym.make("SparkKD-v2", preset="tiny", lambda_kd=0.0, feature_kd=feature_kd, lambda_feat=weight,
                       w_bits=2, a_bits=2)
        env.reset(seed=5)
        for _ in range(3):
            _, _, _, _, info = env.step(np.zeros((8, 8), np.float32))
        assert (info["feat_loss"] > 0) == (feature_kd != "none")
        finals[feature_kd] = torch.cat([p.detach().flatten() for p in env.unwrapped.session.student.parameters()])
    assert not torch.allclose(finals["none"], finals[kind])
