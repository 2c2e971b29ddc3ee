"""The gradient signal-to-noise diagnosis: estimator arithmetic on known data, and a tiny end-to-end run."""
import numpy as np
import pandas as pd
import pytest

from experiments import gradient_snr
from spark_env.difficulty import CHANNELS


def synthetic_runs(pairs: int, seed_spread: float, rng) -> pd.DataFrame:
    """Returns linear in the weights (gradient (1, 0, 0, 0)) plus a per-seed offset that both runs of a pair share."""
    rows = []
    for pair in range(pairs):
        eps, offset = rng.normal(0, 0.3, 4), rng.normal(0, seed_spread)
        for sign in (1, -1):
            rows.append({"pair": pair, "sign": sign, **{f"eps_{c}": e for c, e in zip(CHANNELS, eps)},
                         "return": offset + sign * eps[0]})
    return pd.DataFrame(rows)


def test_pairing_cancels_the_seed_spread_that_drowns_the_unpaired_estimate():
    rng = np.random.default_rng(0)
    table = gradient_snr.estimators(synthetic_runs(400, 1.0, rng), 0.3).set_index("estimator")
    paired, unpaired = table.loc["paired (PGPE)"], table.loc["unpaired (REINFORCE / PPO)"]
    # the paired estimate is exact here: eps eps^T / sigma^2 averages to the identity
    assert paired["grad laplacian"] == pytest.approx(1.0, abs=0.1) and abs(paired["grad error"]) < 0.1
    assert paired["per-sample SNR"] > 5 * unpaired["per-sample SNR"]
    assert unpaired["runs for SNR 1"] > paired["runs for SNR 1"]


def test_tiny_end_to_end_resumes(tmp_path):
    args = ["--pairs", "3", "--preset", "tiny", "--batch", "2", "--out", str(tmp_path), "--set", "episode_steps=4"]
    gradient_snr.main(args)
    runs = pd.read_csv(tmp_path / "returns.csv")
    assert len(runs) == 6 and set(runs.sign) == {1, -1} and np.isfinite(runs["return"]).all()
    assert (runs.groupby("pair").seed.nunique() == 1).all()  # both runs of a pair share the QAT seed
    gradient_snr.main(args)  # nothing left to run: the same table
    assert len(pd.read_csv(tmp_path / "returns.csv")) == 6
    assert "paired (PGPE)" in (tmp_path / "gradient_snr.md").read_text()


def test_a_folder_of_other_settings_is_refused(tmp_path):
    (tmp_path / "settings.json").write_text('{"pairs": 99}')
    with pytest.raises(SystemExit, match="holds runs of other settings"):
        gradient_snr.main(["--pairs", "3", "--preset", "tiny", "--out", str(tmp_path)])
