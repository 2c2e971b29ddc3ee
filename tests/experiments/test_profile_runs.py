"""The per-phase profile: exclusive phase times that add up to each run's wall time, every wrapper removed after."""
import pytest

import spark_env.qat as qat
from experiments import profile_runs
from experiments.benchmark import BenchmarkSpec


def test_phases_add_up_to_the_run_and_the_functions_are_restored():
    original_forward, original_observe = qat.QATSession.__dict__["forward"], qat.QATSession.__dict__["observe"]
    spec = BenchmarkSpec(students=["fsrcnn"], bits=[2], seeds=[0], methods=["kd_uniform", "kd_fakd"],
                         env_preset="tiny")
    rows = profile_runs.profile(spec)
    for method, runs in rows.groupby("method"):
        wall = runs.loc[runs.phase == "run", "seconds"].item()
        phases = runs[runs.phase != "run"].set_index("phase")["seconds"]
        assert phases.sum() == pytest.approx(wall, rel=0.01, abs=0.01)
        assert {"forward", "backward", "quantizers", "probe", "test evaluation"} <= set(phases.index)
        assert (phases.get("KD loss", 0.0) > 0.0) if method == "kd_fakd" else True
    table = profile_runs.phase_table(rows)
    assert list(table.columns[:3]) == ["student", "bits", "method"] and table.columns[-1] == "run"
    assert qat.QATSession.__dict__["forward"] is original_forward
    assert qat.QATSession.__dict__["observe"] is original_observe


def test_a_phase_counts_only_its_own_time():
    clock = profile_runs.PhaseClock()
    with clock.phase("outer"):
        with clock.phase("inner"):
            sum(range(100_000))
    assert clock.seconds["inner"] > 0 and clock.seconds["outer"] >= 0
    assert set(clock.seconds) == {"inner", "outer"}
