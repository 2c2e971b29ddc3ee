"""The RL-algorithm benchmark and the reward-shaping study on tiny grids, and their statistics."""
import re
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from agents.pretrained import POLICY_DIR, read_policy_manifest
from experiments import reward_shaping, rl_benchmark
from experiments.qat_runs import key_path
from experiments.scoring import aggregate, normalized_scores

TINY_CELL = {"task": "sr_x2", "arch": "fsrcnn", "w_bits": 2, "a_bits": 2}


def _write(tmp_path, data):
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_rl_benchmark_end_to_end(tmp_path):
    config = _write(tmp_path, {"agents": ["spark", "pgpe", "ppo", "random", "uniform", "heuristic_combined"],
                               "cells": [TINY_CELL], "seeds": [0, 1], "train_steps": 32, "batch": 2,
                               "checkpoints": [0, 0.5, 1],
                               "agent_kwargs": {"ppo": {"n_steps": 8, "batch_size": 16},
                                                "pgpe": {"pairs_per_update": 1}},
                               "env_preset": "tiny", "overrides": {"episode_steps": 8, "image_set": "v0"}})
    rl_benchmark.main(["--config", config, "--out", str(tmp_path / "run"), "--workers", "1"])
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    assert sorted(results.agent.unique()) == ["heuristic_combined", "pgpe", "ppo", "ptq", "random", "spark",
                                              "teacher", "uniform"]
    learned = results[results.agent.isin(["spark", "pgpe", "ppo"])]
    for (agent, seed), curve in learned.groupby(["agent", "seed"]):  # one measured run per checkpoint
        assert list(curve.train_steps) == [0, 16, 32], (agent, seed)
        assert curve.pretrain_seconds.iloc[0] == 0 and curve.pretrain_seconds.iloc[-1] > 0
    assert (learned.qat_steps == 8).all()
    pgpe_untrained = learned[(learned.agent == "pgpe") & (learned.train_steps == 0)].set_index("seed").psnr
    uniform = results[results.agent == "uniform"].set_index("seed").psnr
    assert np.allclose(pgpe_untrained, uniform)  # PGPE starts at w = 0: exactly uniform KD
    pgpe_rows = learned[learned.agent == "pgpe"]
    weights = pgpe_rows[["w_laplacian", "w_variance", "w_error", "w_gap"]].to_numpy()
    assert (weights[pgpe_rows.train_steps == 0] == 0).all() and (weights[pgpe_rows.train_steps == 32] != 0).any()
    # one pair of tiny runs (2 x 8 steps x 2 crops) is 32 env steps: PGPE updated its weights once on the real env
    pgpe_trained = learned[(learned.agent == "pgpe") & (learned.train_steps == 32)].set_index("seed").psnr
    assert not np.allclose(pgpe_trained, uniform)
    assert (results[results.agent == "uniform"].pretrain_seconds == 0).all()
    summary = pd.read_csv(tmp_path / "run" / "summary.csv")
    assert list(summary.agent) == ["spark", "pgpe", "ppo", "random", "uniform", "heuristic_combined"]
    assert (summary.runs == 2).all()  # one (final-budget) run per seed in the tables
    assert {"score IQM [95% CI]", "score median [95% CI]", "score mean [95% CI]"} <= set(summary.columns)
    for plot in ("aggregates.png", "learning_curves.png"):
        assert (tmp_path / "run" / plot).stat().st_size > 5_000
    curves = pd.read_csv(tmp_path / "run" / "learning_curves.csv")
    assert list(curves[curves.agent == "pgpe"]["train env steps"]) == [0, 16, 32]
    untrained = curves[(curves.agent == "pgpe") & (curves["train env steps"] == 0)]["h-score [95% CI]"].iloc[0]
    assert re.fullmatch(r"-?0\.00 \[(-?0\.00, -?0\.00|not defined)\]", untrained), untrained  # uniform KD: 0
    per_cell = pd.read_csv(tmp_path / "run" / "per_cell.csv").set_index("agent")
    assert per_cell.loc["uniform", "test PSNR mean"] == pytest.approx(uniform.mean())
    heuristic = results[results.agent == "heuristic_combined"].set_index("seed").psnr
    random_maps = results[results.agent == "random"].set_index("seed").psnr
    expected_h = (random_maps - uniform).mean() / (heuristic - uniform).mean()
    assert per_cell.loc["random", "h-score [95% CI]"].startswith(f"{expected_h:.2f} [")
    policies = tmp_path / "run" / "policies" / key_path({"cell": results.cell.iloc[0]})
    for agent in ("spark", "pgpe", "ppo"):  # every learner saved after every budget, per seed
        for seed in (0, 1):
            folder = policies / agent / f"seed{seed}"
            assert sorted(p.name.split(".")[0] for p in folder.iterdir()) == ["steps0", "steps16", "steps32"]
    saved = torch.load(policies / "pgpe" / "seed0" / "steps32.pt", weights_only=True)
    trained_weights = pgpe_rows[(pgpe_rows.seed == 0) & (pgpe_rows.train_steps == 32)]
    assert np.allclose(saved["mu"].numpy(), trained_weights[["w_laplacian", "w_variance", "w_error",
                                                             "w_gap"]].to_numpy()[0])
    assert per_cell.loc["uniform", "vs uniform dB [95% CI]"] == "-"
    assert per_cell.loc["random", "vs random dB [95% CI]"] == "-"
    assert per_cell.loc["heuristic_combined", "vs heuristic_combined dB [95% CI]"] == "-"
    assert per_cell.loc["pgpe", "vs heuristic_combined dB call"] in ("above", "below", "inconclusive")


def test_scores_are_the_fraction_of_the_gap_closed():
    rows = [{"cell": "c", "agent": "teacher", "seed": 0, "psnr": 32.0},
            {"cell": "c", "agent": "ptq", "seed": 0, "psnr": 30.0},
            {"cell": "c", "agent": "ptq", "seed": 1, "psnr": 31.0},
            {"cell": "c", "agent": "uniform", "seed": 0, "psnr": 31.0},
            {"cell": "c", "agent": "uniform", "seed": 1, "psnr": 31.5},
            {"cell": "c", "agent": "spark", "seed": 0, "psnr": 31.5},
            {"cell": "c", "agent": "spark", "seed": 1, "psnr": 31.5}]
    runs = normalized_scores(pd.DataFrame(rows), "agent").set_index(["agent", "seed"])
    assert runs.loc[("uniform", 0), "score"] == pytest.approx(0.5)
    assert runs.loc[("uniform", 1), "score"] == pytest.approx(0.5)
    assert runs.loc[("spark", 0), "score"] == pytest.approx(0.75)
    assert runs.loc[("spark", 0), "vs_uniform"] == pytest.approx(0.5)
    table = aggregate(runs.reset_index(), "agent").set_index("agent")
    assert table.loc["spark", "vs uniform dB mean [95% CI]"].startswith("0.250")
    assert table.loc["uniform", "vs uniform dB mean [95% CI]"] == "-"


def test_reward_shaping_with_a_user_reward(tmp_path, monkeypatch):
    module = tmp_path / "my_rewards.py"
    module.write_text("def doubled_gain(ctx):\n    return 2.0 * (ctx.psnr_after - ctx.psnr_before)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = _write(tmp_path, {"rewards": ["probe_psnr_gain", "my_rewards:doubled_gain"], "cells": [TINY_CELL],
                               "seeds": [0], "train_steps": 8, "env_preset": "tiny", "overrides": {"episode_steps": 4, "image_set": "v0"}})
    reward_shaping.main(["--config", config, "--out", str(tmp_path / "run"), "--workers", "1"])
    summary = pd.read_csv(tmp_path / "run" / "summary.csv")
    assert list(summary.reward) == ["uniform", "probe_psnr_gain", "my_rewards:doubled_gain"]
    assert np.isfinite(summary["test PSNR mean"]).all()
    sys.modules.pop("my_rewards", None)


def test_reward_shaping_learning_curves_are_paired_with_the_first_reward(tmp_path):
    """With checkpoints, each reward's agent is measured along a learning curve (PGPE: one pair per 32 env steps on
    the tiny preset), and the per-cell table pairs every reward with the first one."""
    config = _write(tmp_path, {"rewards": ["probe_psnr_gain", "crop_psnr_gain"], "agent": "pgpe",
                               "agent_kwargs": {"pairs_per_update": 1}, "cells": [TINY_CELL], "seeds": [0, 1],
                               "train_steps": 64, "checkpoints": [0.5, 1.0], "batch": 2, "env_preset": "tiny",
                               "overrides": {"image_set": "v0"}})
    reward_shaping.main(["--config", config, "--out", str(tmp_path / "run"), "--workers", "1"])
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    learned = results[results.reward.isin(["probe_psnr_gain", "crop_psnr_gain"])]
    assert sorted(learned.train_steps.unique()) == [32, 64] and len(learned) == 8
    per_cell = pd.read_csv(tmp_path / "run" / "per_cell.csv").set_index("reward")
    assert per_cell.loc["probe_psnr_gain", "vs probe_psnr_gain dB [95% CI]"] == "-"
    assert per_cell.loc["crop_psnr_gain", "vs probe_psnr_gain dB call"] in ("above", "below", "inconclusive")
    curves = pd.read_csv(tmp_path / "run" / "learning_curves.csv")
    assert set(curves.reward) == {"probe_psnr_gain", "crop_psnr_gain"}
    with pytest.raises(SystemExit, match=r"checkpoints=\[0.5\] is invalid"):
        reward_shaping.main(["--dry-run", "--set", "checkpoints=[0.5]"])


def test_reward_shaping_rejects_unknown_rewards(tmp_path):
    with pytest.raises(SystemExit, match="unknown reward 'psnr'; available: probe_psnr_gain"):
        reward_shaping.main(["--dry-run", "--set", "rewards=[psnr]"])
    with pytest.raises(SystemExit, match="cannot import module 'no_such_module'"):
        reward_shaping.main(["--dry-run", "--set", "rewards=[no_such_module:f]"])


def test_learning_curve_budgets_buy_the_same_qat_runs_with_held_decisions():
    """Budgets count crop-steps: with 3 decisions per 8-step run (decision_interval 3) a 2-run budget is 2 runs."""
    from experiments.qat_runs import RunSpec, learning_curve

    spec = RunSpec(agent="pgpe", batch=2, seed=0, preset="tiny", agent_kwargs={"pairs_per_update": 1},
                   overrides={"decision_interval": 3, "image_set": "v0"})
    first, second = learning_curve(spec, [32, 64])  # one pair of runs, then another
    assert first.metrics["qat_steps"] == second.metrics["qat_steps"] == 8
    assert first.metrics["w_laplacian"] != 0 and second.metrics["w_laplacian"] != first.metrics["w_laplacian"]


def test_score_split_val_scores_the_validation_photographs(tmp_path):
    from spark_env.data import split_names

    config = _write(tmp_path, {"agents": ["uniform"], "cells": [TINY_CELL], "seeds": [0], "train_steps": 0,
                               "batch": 2, "env_preset": "tiny", "score_split": "val",
                               "overrides": {"episode_steps": 2}})
    rl_benchmark.main(["--config", config, "--out", str(tmp_path / "run"), "--workers", "1"])
    per_image = pd.read_csv(tmp_path / "run" / "per_image.csv")
    assert set(per_image.image) == set(split_names("val"))
    with pytest.raises(SystemExit, match="score_split='train' is invalid; allowed: test, val"):
        rl_benchmark.main(["--dry-run", "--set", "score_split=train"])


def test_variants_run_a_registered_agent_with_their_own_kwargs():
    spec = rl_benchmark.RLBenchmarkSpec(
        agents=["uniform", "pgpe", "pgpe_sigma_half"], cells=[TINY_CELL], seeds=[3], train_steps=64,
        checkpoints=[1.0], agent_kwargs={"pgpe": {"pairs_per_update": 1}},
        variants={"pgpe_sigma_half": {"agent": "pgpe", "kwargs": {"sigma": 0.15}}})
    runs = {job.key["agent"]: job for job in rl_benchmark.jobs(spec)}
    assert runs["pgpe_sigma_half"].run.agent == "pgpe" and runs["pgpe_sigma_half"].kind == "curve"
    assert runs["pgpe_sigma_half"].run.agent_kwargs == {"pairs_per_update": 1, "sigma": 0.15}
    assert runs["pgpe"].run.agent_kwargs == {"pairs_per_update": 1}


@pytest.mark.parametrize("variants, message", [
    ({"pgpe": {"agent": "pgpe"}}, "variant 'pgpe' shadows the registered agent"),
    ({"fast": {"kwargs": {"sigma": 1}}}, "variant 'fast': .* is invalid; allowed: {agent: <registered agent>"),
    ({"fast": {"agent": "pgpe", "sigma": 1}}, "variant 'fast': .* is invalid"),
    ({"fast": {"agent": "pgpe", "kwargs": [1]}}, r"variant 'fast': kwargs=\[1\] is invalid; allowed: a mapping"),
    ({"fast": {"agent": "no_such_agent"}}, "no_such_agent"),
])
def test_a_bad_variant_is_refused_with_its_name(variants, message):
    from spark_env.errors import ConfigError

    with pytest.raises((ConfigError, ValueError), match=message):
        rl_benchmark.RLBenchmarkSpec(agents=["uniform", *variants], variants=variants)


@pytest.mark.parametrize("key", ["agent_kwargs", "agent_overrides"])
def test_agent_settings_keyed_by_a_variant_are_refused(key):
    from spark_env.errors import ConfigError

    variants = {"fast": {"agent": "pgpe", "kwargs": {"sigma": 0.6}}}
    with pytest.raises(ConfigError, match=rf"{key} names the variants \['fast'\]"):
        rl_benchmark.RLBenchmarkSpec(agents=["uniform", "fast"], variants=variants, **{key: {"fast": {}}})


def test_learning_curves_without_heuristic_plot_the_gain_over_uniform(tmp_path, monkeypatch):
    """A reward-shaping study has no heuristic runs: its curves are the paired gain in dB, not an undefined h-score."""
    import matplotlib.pyplot as plt

    from experiments.scoring import normalized_scores, plot_learning_curves

    rows = [{"cell": "c", "reward": "teacher", "seed": 0, "psnr": 32.0}]
    rows += [{"cell": "c", "reward": kind, "seed": s, "psnr": psnr} for s in range(3)
             for kind, psnr in (("ptq", 28.0), ("uniform", 30.0))]
    rows += [{"cell": "c", "reward": "probe", "seed": s, "psnr": 30.0 + 0.1 * steps / 8 + 0.01 * s,
              "train_steps": steps} for s in range(3) for steps in (4, 8)]
    runs = normalized_scores(pd.DataFrame(rows), "reward")
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    plot_learning_curves(runs, "reward", ["probe"], tmp_path / "curves.png")
    ax = figures[0].axes[0]
    probe = next(line for line in ax.lines if line.get_label() == "probe")
    assert np.allclose(probe.get_xdata(), [4, 8]) and np.allclose(probe.get_ydata(), [0.06, 0.11])
    assert ax.get_ylabel() == "gain over uniform KD (dB)"


def test_the_headroom_gated_preset_trains_the_gated_policy_from_the_heuristic(tmp_path):
    """The preset's gated PGPE variant runs end to end (a tiny grid) and records its 9 parameters per run."""
    rl_benchmark.main(["--preset", "headroom_gated", "--out", str(tmp_path / "run"), "--workers", "1",
                       "--set", "env_preset=tiny", "--set", "seeds=[0]", "--set", "train_steps=128",
                       "--set", "agents=[pgpe_gated, uniform]",
                       "--set", "cells=[{task: sr_x2, arch: fsrcnn, w_bits: 4, a_bits: 4}]",
                       "--set", "overrides={episode_steps: 4, image_set: v0}"])
    rows = pd.read_csv(tmp_path / "run" / "results.csv")
    gated = rows[rows["agent"] == "pgpe_gated"].iloc[-1]
    columns = [f"{prefix}_{channel}" for prefix in ("w", "gate") for channel in
               ("laplacian", "variance", "error", "gap")] + ["gate_bias"]
    assert np.isfinite(gated[columns].astype(float)).all()
    assert gated[columns].astype(float).tolist() != [0.25] * 4 + [0.0] * 4 + [1.0]  # two pairs, one update, moved it


def test_the_headroom_fixed_preset_measures_shipped_candidates_without_training(tmp_path):
    """The preset's fixed candidates run on a tiny grid: a shipped gated policy, its parameters recorded per run, and
    the lookahead map plus the heuristic's."""
    rl_benchmark.main(["--preset", "headroom_fixed", "--out", str(tmp_path / "run"), "--workers", "1",
                       "--set", "env_preset=tiny", "--set", "seeds=[10]",
                       "--set", "agents=[gated_edsr, lookahead_plus_heuristic, uniform]",
                       "--set", "cells=[{task: sr_x2, arch: fsrcnn, w_bits: 4, a_bits: 4}]",
                       "--set", "overrides={episode_steps: 4, image_set: v0}"])
    rows = pd.read_csv(tmp_path / "run" / "results.csv").set_index("agent")
    manifest = read_policy_manifest(POLICY_DIR / "gated_edsr_x2_w4a4.json")
    assert manifest["policy"] == "gated"
    for name, value in manifest["weights"].items():
        assert rows.loc["gated_edsr", name] == pytest.approx(value)
    assert np.isfinite(rows.loc[["gated_edsr", "lookahead_plus_heuristic", "uniform"], "psnr"]).all()
