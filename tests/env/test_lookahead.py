"""Lookahead (meta-gradient) scores: the twice-differentiable quantizers, Adam's derivative, agreement with measured
one-step reward changes, no side effects, the env option and the two agents built on the scores."""
import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch

import spark_env  # noqa: F401
from agents import make_agent
from agents.lookahead import scores_to_action
from experiments import lookahead_scores
from spark_env.config import make_config
from spark_env.errors import ConfigError
from spark_env.lookahead import adam_update_and_derivative
from spark_env.qat import QATSession
from spark_env.quant.quantizers import lsq_fake_quantize


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_lsq_fake_quantize_matches_pytorchs_operators_and_differentiates_twice(axis):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6, 5, 3, 3, generator=gen) * 2
    scale = torch.rand(1 if axis is None else x.shape[axis], generator=gen) * 0.3 + 0.1
    qmin = -8 if axis is None else -7
    grad_out = torch.randn(x.shape, generator=gen)
    ours_x, ours_s = x.clone().requires_grad_(), scale.clone().requires_grad_()
    ref_x, ref_s = x.clone().requires_grad_(), scale.clone().requires_grad_()
    ours = lsq_fake_quantize(ours_x, ours_s, qmin, 7, 0.37, axis)
    if axis is None:
        ref = torch._fake_quantize_learnable_per_tensor_affine(ref_x, ref_s, torch.zeros(1), qmin, 7, 0.37)
    else:
        ref = torch._fake_quantize_learnable_per_channel_affine(ref_x, ref_s, torch.zeros(len(scale)), axis, qmin,
                                                                7, 0.37)
    assert torch.equal(ours, ref)
    grads = torch.autograd.grad((ours * grad_out).sum(), [ours_x, ours_s], create_graph=True)
    (ref * grad_out).sum().backward()
    assert torch.allclose(grads[0], ref_x.grad, atol=1e-6)
    assert torch.allclose(grads[1], ref_s.grad, rtol=1e-5, atol=1e-5)
    # the gradient is itself differentiable (PyTorch's fused operator raises here)
    second, = torch.autograd.grad(grads[1].sum(), ours_s)
    assert torch.isfinite(second).all()


def test_adam_update_and_its_derivative_match_torch_adam_and_finite_differences():
    param = torch.nn.Parameter(torch.randn(50, generator=torch.Generator().manual_seed(1)))
    optimizer = torch.optim.Adam([param], lr=0.01)
    gen = torch.Generator().manual_seed(2)
    for _ in range(3):
        param.grad = torch.randn(50, generator=gen)
        optimizer.step()
    grad = torch.randn(50, generator=gen, dtype=torch.float32)
    update, derivative = adam_update_and_derivative(optimizer, param, grad)
    before = param.detach().clone()
    state = {k: v.clone() for k, v in optimizer.state[param].items()}
    param.grad = grad.clone()
    optimizer.step()
    assert torch.allclose(before - 0.01 * update, param.detach(), atol=1e-6)
    optimizer.state[param].update(state)  # the derivative below reads the state before that step
    with torch.no_grad():
        param.copy_(before)
    h = 1e-3
    numeric = (adam_update_and_derivative(optimizer, param, grad.double() + h)[0]
               - adam_update_and_derivative(optimizer, param, grad.double() - h)[0]) / (2 * h)
    assert torch.allclose(derivative.double(), numeric, rtol=1e-3, atol=1e-4)


def _session_after_warmup(seed: int, steps: int = 5, **overrides) -> QATSession:
    session = QATSession(make_config("tiny", **overrides))
    session.start(seed)
    for _ in range(steps):
        crops = session.sample(1)
        session.optimize(crops, session.forward(crops), None)
    return session


def test_scores_agree_with_measured_one_step_reward_changes_on_the_tiny_preset():
    """Every cell is nudged by +-0.01 for one real QAT step and the probe PSNR (the score's objective) measured
    (experiments.lookahead_scores.finite_differences). Quantizer rounding makes that reward piecewise smooth: a
    nudge that moves a latent weight or an activation across a rounding boundary jumps (measured: up to 0.2 dB per
    unit weight against scores of 1e-3), so only the cells whose one-sided differences agree are compared. On them,
    pooled over four states, the scores must agree in sign (>= 90 %; measured >= 95 % with AVX2 kernels, 94.3 % with
    AVX512 ones, which move which cells sit on a rounding boundary), rank (Spearman >= 0.9) and size (median ratio
    within 2x: the score is first order), with at least 64 such cells."""
    kept_scores, kept_measured = [], []
    for seed in range(4):
        session = _session_after_warmup(seed)
        scores, measured, smooth = lookahead_scores.finite_differences(session, session.sample(1), delta=0.01)
        kept_scores.append(scores[smooth])
        kept_measured.append(measured[smooth])
    scores, measured = np.concatenate(kept_scores), np.concatenate(kept_measured)
    assert len(scores) >= 64, len(scores)
    assert np.mean(np.sign(scores) == np.sign(measured)) >= 0.90
    assert lookahead_scores.spearman(scores, measured) >= 0.9
    assert 0.5 <= np.median(measured / scores) <= 2.0


def test_scores_leave_the_run_and_the_global_generators_untouched():
    session = _session_after_warmup(0)
    crops = session.sample(2)
    pending = session.forward(crops)
    student = {k: v.clone() for k, v in session.student.state_dict().items()}
    optimizer = str(session.optimizer.state_dict())
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    scores = session.lookahead_scores(crops)
    assert scores.shape == (2, 8, 8) and torch.isfinite(scores).all() and scores.abs().sum() > 0
    assert all(torch.equal(v, student[k]) for k, v in session.student.state_dict().items())
    assert str(session.optimizer.state_dict()) == optimizer
    assert torch.equal(torch.get_rng_state(), torch_state) and np.array_equal(np.random.get_state()[1], numpy_state)
    assert session.optimize(crops, pending, None)["finite"]  # the pending pass is still the one a step trains on


def test_scores_are_zero_without_kd_and_finite_with_feature_kd():
    no_kd = _session_after_warmup(0, lambda_kd=0.0)
    assert torch.count_nonzero(no_kd.lookahead_scores(no_kd.sample(1))) == 0
    fakd = _session_after_warmup(0, feature_kd="fakd", lambda_feat=0.5)
    crops = fakd.sample(1)
    pending = fakd.forward(crops)
    assert torch.isfinite(fakd.lookahead_scores(crops)).all()
    assert pending.features and fakd.optimize(crops, pending, None)["finite"]  # the pass carries its features


def _rollout(**overrides):
    env = gym.make_vec("SparkKD-v2", num_envs=2, vectorization_mode="vector_entry_point", preset="tiny",
                       **overrides)
    obs, info = env.reset(seed=3)
    infos, probes = [info], []
    for step in range(8):
        obs, _, _, _, info = env.step(np.full((2, 8, 8), 0.1 * step - 0.3, np.float32))
        infos.append(info)
        probes.append(info["final_info"]["probe_psnr"][0] if "final_info" in info else info["probe_psnr"][0])
    return env, infos, probes


def test_lookahead_info_is_off_by_default_and_changes_nothing_when_on():
    _, plain_infos, plain = _rollout()
    env, infos, probes = _rollout(lookahead_info=True)
    assert probes == plain  # the scores are computed beside the run, never in it
    assert "lookahead_scores" not in plain_infos[0]
    assert all(info["lookahead_scores"].shape == (2, 8, 8) for info in infos)
    assert np.isfinite(infos[3]["lookahead_scores"]).all()
    assert env.unwrapped.timings["lookahead"] > 0
    single = gym.make("SparkKD-v2", preset="tiny", lookahead_info=True)
    _, info = single.reset(seed=0)
    assert info["lookahead_scores"].shape == (8, 8)


def test_scores_to_action_keeps_the_positive_part_relative_to_the_spread():
    scores = np.zeros((2, 8, 8))
    scores[0, 0, 0], scores[0, 1, 1], scores[0, 2, 2] = 10.0, 0.01, -5.0
    actions = scores_to_action(scores)
    assert actions.shape == (2, 8, 8) and actions.dtype == np.float32
    assert actions[0, 0, 0] == 1.0 and 0 < actions[0, 1, 1] < 0.1 and actions[0, 2, 2] == 0.0
    assert np.count_nonzero(actions[1]) == 0  # all-zero scores: the uniform map
    assert actions[0, 1, 1] < scores_to_action(scores, temperature=0.01)[0, 1, 1]


def test_lookahead_agent_acts_on_its_env_scores():
    env = gym.make_vec("SparkKD-v2", num_envs=2, vectorization_mode="vector_entry_point", preset="tiny")
    agent = make_agent("lookahead", env, seed=0)
    obs, _ = env.reset(seed=0)
    actions = agent.act(obs)
    expected = scores_to_action(env.unwrapped.episode.lookahead_scores().numpy())
    assert np.array_equal(actions, expected) and actions.max() == 1.0
    with pytest.raises(ValueError, match="2 crop"):
        agent.act(obs[:1])
    with pytest.raises(ValueError, match="temperature"):
        make_agent("lookahead", env, temperature=0.0)
    with pytest.raises(ValueError, match="heuristic=-1.0 is invalid; allowed: a finite number >= 0"):
        make_agent("lookahead", env, heuristic=-1.0)
    combined = make_agent("lookahead", env, seed=0, heuristic=0.5).act(obs)  # the heuristic's map added, clipped
    heuristic = make_agent("heuristic_combined", env, scale=0.5).act(obs)
    np.testing.assert_allclose(combined, np.clip(expected + heuristic, -1, 1), atol=1e-6)
    assert combined.min() < 0 and not np.array_equal(combined, expected)
    steps = []
    agent.learn(16, callback=lambda local: steps.append(local["step"]))  # a whole tiny run: 8 steps x 2 crops
    assert [step.steps_done for step in steps] == list(range(2, 17, 2))
    assert steps[-1].done.all() and (steps[-1].info["qat_step"] == 7).all()
    for step in steps:  # every map is the scores' map: in [0, 1], full weight on the best cells of each crop
        assert step.action.shape == (2, 8, 8) and step.action.min() >= 0 and (step.action.max((1, 2)) == 1).all()


def test_spark_distill_needs_the_env_option_and_learns_to_predict_the_lookahead_map(tmp_path):
    plain = gym.make_vec("SparkKD-v2", num_envs=2, vectorization_mode="vector_entry_point", preset="tiny")
    with pytest.raises(ConfigError, match="lookahead_info=True"):
        make_agent("spark_distill", plain, seed=0).learn(4)
    env = gym.make_vec("SparkKD-v2", num_envs=4, vectorization_mode="vector_entry_point", preset="tiny",
                       lookahead_info=True)
    agent = make_agent("spark_distill", env, seed=0, update_every=8, epochs=50)
    agent.learn(96)
    losses = [row["mse"] for row in agent.history]
    assert len(losses) == 12 and losses[-1] < losses[0]
    obs, _ = env.reset(seed=1)
    agent.save(tmp_path / "distill.pt")
    loaded = make_agent("spark_distill", env, seed=5).load(tmp_path / "distill.pt")
    assert np.array_equal(loaded.act(obs), agent.act(obs))
    assert agent.act(obs[0]).shape == (8, 8)


def test_the_scores_study_reports_correlations_per_channel(tmp_path):
    lookahead_scores.main(["--preset", "tiny", "--seeds", "2", "--steps", "4", "--batch", "2", "--out",
                           str(tmp_path)])
    summary = (tmp_path / "summary.md").read_text()
    for figure in ("median abs score (1e-3 dB)", "positive share", "r gap", "r heuristic map",
                   "r lookahead map vs heuristic map"):
        assert f"| {figure} |" in summary
    per_step = pd.read_csv(tmp_path / "per_step.csv")
    assert len(per_step) == 8 and per_step["r heuristic map"].between(-1, 1).all()


def test_the_finite_difference_check_prints_one_row_per_state(capsys):
    lookahead_scores.main(["--finite-differences", "--preset", "tiny", "--seeds", "1"])
    out = capsys.readouterr().out
    assert "| seed | smooth cells | sign agreement | spearman |" in out and "\n| 0 |" in out
