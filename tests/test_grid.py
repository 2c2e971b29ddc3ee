"""The grid runner: results written as runs finish, reruns resume, crashes lose nothing."""
import pandas as pd
import pytest

from experiments.grid import LocalBackend, ResultsStore, run_grid


def _jobs(n):
    return [{"name": f"job{i}", "seed": i} for i in range(n)]


def test_rows_are_appended_and_a_rerun_skips_finished(tmp_path):
    calls = []

    def fn(job):
        calls.append(job["name"])
        return {"results": [{"name": job["name"], "seed": job["seed"], "value": job["seed"] * 2.0}],
                "curves": [{"name": job["name"], "step": s} for s in range(3)]}

    store = ResultsStore(tmp_path, ["name", "seed"])
    assert run_grid(_jobs(3), fn, store, LocalBackend()) == 3
    assert run_grid(_jobs(4), fn, store, LocalBackend()) == 1
    assert calls == ["job0", "job1", "job2", "job3"]
    results = pd.read_csv(tmp_path / "results.csv")
    assert results["value"].tolist() == [0.0, 2.0, 4.0, 6.0]
    assert len(pd.read_csv(tmp_path / "curves.csv")) == 12


def test_a_crash_keeps_the_finished_runs(tmp_path):
    def fn(job):
        if job["seed"] == 2:
            raise RuntimeError("boom")
        return {"results": [{"name": job["name"], "seed": job["seed"]}]}

    store = ResultsStore(tmp_path, ["name", "seed"])
    with pytest.raises(RuntimeError, match="boom"):
        run_grid(_jobs(4), fn, store, LocalBackend())
    assert store.finished() == {("job0", "0"), ("job1", "1")}


def test_new_columns_are_merged(tmp_path):
    store = ResultsStore(tmp_path, ["name"])
    store.add("results", [{"name": "a", "x": 1}])
    store.add("results", [{"name": "b", "x": 2, "error": "diverged"}])
    frame = store.table()
    assert frame["name"].tolist() == ["a", "b"] and frame["error"].isna().tolist() == [True, False]


def test_rows_must_carry_the_key(tmp_path):
    with pytest.raises(KeyError, match="seed"):
        ResultsStore(tmp_path, ["name", "seed"]).key({"name": "a"})


def test_results_come_back_in_grid_order(tmp_path):
    store = ResultsStore(tmp_path, ["name", "seed"])
    store.add("results", [{"name": f"job{i}", "seed": i} for i in (2, 0, 1)])  # as a pool might finish them
    run_grid(_jobs(3), lambda job: {}, store, LocalBackend())
    assert store.table()["name"].tolist() == ["job0", "job1", "job2"]
