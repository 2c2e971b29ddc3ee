"""The grid runner: results written as runs finish, reruns resume, crashes lose nothing."""
from dataclasses import dataclass

import pandas as pd
import pytest

from experiments.grid import LocalBackend, ResultsStore, run_grid


@dataclass(frozen=True)
class _Job:
    key: dict


def _jobs(n):
    return [_Job({"name": f"job{i}", "seed": i}) for i in range(n)]


def test_rows_are_appended_and_a_rerun_skips_finished(tmp_path):
    calls = []

    def fn(job):
        calls.append(job.key["name"])
        return {"results": [{"name": job.key["name"], "seed": job.key["seed"], "value": job.key["seed"] * 2.0}],
                "curves": [{"name": job.key["name"], "step": s} for s in range(3)]}

    store = ResultsStore(tmp_path, ["name", "seed"])
    assert run_grid(_jobs(3), fn, store, LocalBackend()) == 3
    assert run_grid(_jobs(4), fn, store, LocalBackend()) == 1
    assert calls == ["job0", "job1", "job2", "job3"]
    results = pd.read_csv(tmp_path / "results.csv")
    assert results["value"].tolist() == [0.0, 2.0, 4.0, 6.0]
    assert len(pd.read_csv(tmp_path / "curves.csv")) == 12


def test_a_crash_keeps_the_finished_runs(tmp_path):
    def fn(job):
        if job.key["seed"] == 2:
            raise RuntimeError("boom")
        return {"results": [{"name": job.key["name"], "seed": job.key["seed"]}]}

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


def _value_job(job):
    return {"results": [{"name": job.key["name"], "seed": job.key["seed"], "value": job.key["seed"] * 1.25,
                         "error": "" if job.key["seed"] != 1 else "diverged, late"}]}


def _uninterrupted(tmp_path, n=4):
    store = ResultsStore(tmp_path / "reference", ["name", "seed"])
    run_grid(_jobs(n), _value_job, store, LocalBackend())
    return store.table()


def test_a_row_cut_by_a_kill_is_dropped_with_a_warning_and_redone(tmp_path):
    store = ResultsStore(tmp_path / "run", ["name", "seed"])
    run_grid(_jobs(3), _value_job, store, LocalBackend())
    path = tmp_path / "run" / "results.csv"
    text = path.read_text()
    path.write_text(text[:-6])  # killed while writing the last row: its tail and newline are missing
    store = ResultsStore(tmp_path / "run", ["name", "seed"])  # the rerun after the crash
    with pytest.warns(UserWarning, match=r"dropping a row cut by an interrupted write .*'job2,2"):
        assert store.finished() == {("job0", "0"), ("job1", "1")}
    assert run_grid(_jobs(4), _value_job, store, LocalBackend()) == 2  # job2 redone, job3 new
    pd.testing.assert_frame_equal(store.table(), _uninterrupted(tmp_path))


def test_a_record_with_missing_fields_is_dropped(tmp_path):
    store = ResultsStore(tmp_path / "run", ["name", "seed"])
    run_grid(_jobs(2), _value_job, store, LocalBackend())
    path = tmp_path / "run" / "results.csv"
    path.write_text(path.read_text() + "job2,2\n")
    store = ResultsStore(tmp_path / "run", ["name", "seed"])  # the rerun after the crash
    with pytest.warns(UserWarning, match="'job2,2'"):
        assert ("job2", "2") not in store.finished()
    run_grid(_jobs(4), _value_job, store, LocalBackend())
    pd.testing.assert_frame_equal(store.table(), _uninterrupted(tmp_path))


def test_an_interrupted_rewrite_keeps_every_earlier_result(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path / "run", ["name", "seed"])
    run_grid(_jobs(2), _value_job, store, LocalBackend())
    before = (tmp_path / "run" / "results.csv").read_text()

    def killed(self, text, *args, **kwargs):
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(type(tmp_path), "write_text", killed)  # the rewrite dies before the rename
    with pytest.raises(KeyboardInterrupt):
        store.add("results", [{"name": "job2", "seed": 2, "value": 2.5, "error": "", "extra": 1.0}])
    monkeypatch.undo()
    assert (tmp_path / "run" / "results.csv").read_text() == before
    run_grid(_jobs(4), _value_job, store, LocalBackend())
    pd.testing.assert_frame_equal(store.table(), _uninterrupted(tmp_path))
