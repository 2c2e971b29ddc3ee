"""The reward-alignment study on the tiny preset: every reward's return from one run per policy and seed."""
import pandas as pd
import pytest

from experiments import reward_alignment
from experiments.qat_runs import RunSpec, qat_run
from spark_env.rewards import REWARDS

POLICIES = ["uniform", "random", "heuristic_combined", "inverse_heuristic_combined"]
CELL = {"task": "sr_x2", "arch": "fsrcnn"}


def test_alignment_end_to_end_records_every_reward_without_changing_the_run(tmp_path):
    reward_alignment.main(["--preset", "tiny", "--set", f"policies=[{', '.join(POLICIES)}]",
                           "--out", str(tmp_path / "run"), "--workers", "1"])
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    assert len(results) == 8 and set(results.policy) == set(POLICIES)
    assert {f"return {name}" for name in REWARDS} <= set(results.columns)
    per_image = pd.read_csv(tmp_path / "run" / "per_image.csv")
    assert len(per_image) == 8 * 3 and set(per_image.policy) == set(POLICIES)  # 8 runs x 3 test photographs
    # a plain run under one reward: same test PSNR (same trajectory) and the same return as recorded
    for policy in ("random", "inverse_heuristic_combined"):
        reference = reward_alignment.POLICIES[policy]
        plain = qat_run(RunSpec(agent=reference.agent, agent_kwargs=reference.agent_kwargs, batch=2, seed=1,
                                preset="tiny", overrides={**CELL, "episode_steps": 4, "reward": "val_psnr_gain",
                                                                "image_set": "v0"}))
        row = results[(results.policy == policy) & (results.seed == 1)].iloc[0]
        assert row.psnr == pytest.approx(plain.metrics["psnr"], abs=1e-9)
        assert row["return val_psnr_gain"] == pytest.approx(plain.metrics["return"], abs=1e-9)
    summary = pd.read_csv(tmp_path / "run" / "summary.csv").set_index("reward")
    assert list(summary.index) == ["test PSNR (yardstick)", *REWARDS]
    assert summary.loc["test PSNR (yardstick)", "tau-b (policy means)"] == pytest.approx(1.0)
    assert summary["tau-b (policy means)"].between(-1, 1).all()
    assert summary["heuristic_combined - random [95% CI]"].str.match(r"-?\d+\.\d{4} \[").all()
    assert (tmp_path / "run" / "return_vs_test.png").stat().st_size > 5_000


def test_alignment_rejects_unknown_policies_and_rewards():
    with pytest.raises(SystemExit, match="unknown policy"):
        reward_alignment.main(["--dry-run", "--set", "policies=[oracle]"])
    with pytest.raises(SystemExit, match="unknown reward 'psnr'"):
        reward_alignment.main(["--dry-run", "--set", "rewards=[psnr]"])
    with pytest.raises(SystemExit, match=r"probe design \[4, 32\] is invalid; allowed: \[count, size, pooling\]"):
        reward_alignment.main(["--dry-run", "--set", "probes=[[4, 32]]"])
    with pytest.raises(SystemExit, match="probe_crop_size=4 is invalid; allowed: >= 8"):
        reward_alignment.main(["--dry-run", "--set", "probes=[[4, 4, crop]]"])
    with pytest.raises(SystemExit, match="probe_pooling='pixel' is invalid"):
        reward_alignment.main(["--dry-run", "--set", "probes=[[4, 32, pixel]]"])
