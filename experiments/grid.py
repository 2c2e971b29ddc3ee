"""The grid runner shared by the experiment scripts: resumable results, a progress bar, local or Ray execution.

A grid is a list of jobs: small frozen dataclasses (they pickle to Ray workers) with a ``key`` dict of the key
columns (experiments.qat_runs.QATJob is the QAT experiments' one). ``run_grid`` skips the jobs whose key is already
in the results CSV, runs the others on a backend, and appends every finished job's rows to the CSVs as soon as it
returns, so a crash loses at most the runs in flight and a rerun resumes.

A job function takes a job and returns ``{table name: [row dicts]}``; the table ``results`` holds the rows
the resume check reads (each must carry the key columns), other tables (per-step curves, examples) are appended
alongside as ``<name>.csv``. Rows cut by a kill mid-write are dropped on the next read (``ResultsStore.repair``), and
whole-file rewrites go through a temporary file and a rename, so a crash never corrupts finished results. Arrays
(weight maps) go in the table ``arrays`` and are stored as ``arrays/<id>.npz``; saved agents go in the table
``policies`` and saved students in the table ``students`` (rows ``{"file": relative path, "data": bytes}``) are
stored as ``<table>/<file>``.
"""
from __future__ import annotations

import csv
import io
import multiprocessing
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from tqdm import tqdm

FILE_TABLES = ("policies", "students")  # tables whose rows are files: {"file": relative path, "data": bytes}


class Job(Protocol):
    """What the runner needs of a job: the key columns of its result rows."""

    key: dict[str, Any]


JobFunction = Callable[[Any], dict[str, list[dict]]]


def job_label(job: Job) -> str:
    """Progress-bar label of a job: its key values, the seed last (``sr_x2 edsr 4 kd_uniform seed 0``)."""
    key = dict(job.key)
    seed = key.pop("seed", None)
    return " ".join(str(v) for v in key.values()) + ("" if seed is None else f" seed {seed}")


class ResultsStore:
    """CSV tables in a run folder; ``results.csv`` rows are identified by ``key_columns``."""

    def __init__(self, folder: Path, key_columns: Iterable[str]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.key_columns = tuple(key_columns)
        self.job_order: list[tuple[str, ...]] = []  # set by run_grid: results come back in grid order
        self._checked: set[Path] = set()  # CSVs already repaired: only a crash before this store can cut a row

    def key(self, row: dict) -> tuple[str, ...]:
        missing = [k for k in self.key_columns if k not in row]
        if missing:
            raise KeyError(f"row lacks key column(s) {missing}; key columns: {self.key_columns}")
        return tuple(str(row[k]) for k in self.key_columns)

    def table(self, name: str = "results") -> pd.DataFrame:
        """A CSV table; ``results`` rows sorted in grid order (a worker pool finishes runs in any order, and
        bootstrap resamples must not depend on it), rows of other grids last. Rows cut by a crash mid-write are
        dropped first (``repair``)."""
        path = self.folder / f"{name}.csv"
        self._repair_once(path)
        frame = pd.read_csv(path) if path.is_file() and path.stat().st_size else pd.DataFrame()
        if name != "results" or frame.empty or not self.job_order:
            return frame
        position = {key: i for i, key in enumerate(self.job_order)}
        ranks = [position.get(self.key(row), len(position)) for row in frame.to_dict("records")]
        return frame.iloc[np.argsort(ranks, kind="stable")].reset_index(drop=True)

    def finished(self) -> set[tuple[str, ...]]:
        frame = self.table()
        if frame.empty:
            return set()
        return {self.key(row) for row in frame.to_dict("records")}

    def add(self, name: str, rows: list[dict]) -> None:
        """Append rows to ``<name>.csv`` (rewritten through pandas when a row brings a new column)."""
        if not rows:
            return
        if name == "arrays":
            for row in rows:
                (self.folder / "arrays").mkdir(exist_ok=True)
                np.savez_compressed(self.folder / "arrays" / f"{row['id']}.npz",
                                    **{k: np.asarray(v) for k, v in row.items() if k != "id"})
            return
        if name in FILE_TABLES:
            for row in rows:
                target = self.folder / name / row["file"]
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(target.name + ".partial")
                partial.write_bytes(row["data"])
                partial.replace(target)
            return
        path = self.folder / f"{name}.csv"
        self._repair_once(path)
        new = pd.DataFrame(rows)
        if not path.is_file() or not path.stat().st_size:
            _write_atomically(new, path)
        elif list(new.columns) == list(pd.read_csv(path, nrows=0).columns):
            new.to_csv(path, mode="a", header=False, index=False)
        else:
            _write_atomically(pd.concat([pd.read_csv(path), new], ignore_index=True), path)

    def _repair_once(self, path: Path) -> None:
        if path not in self._checked:
            self.repair(path)
            self._checked.add(path)

    @staticmethod
    def repair(path: Path) -> None:
        """Drop the rows of a CSV that a crash cut mid-write (a last line without its newline, or a record with
        another number of fields than the header), with a warning naming each; their runs are then redone."""
        if not path.is_file() or not path.stat().st_size:
            return
        text = path.read_text()
        complete, _, cut = text.rpartition("\n") if not text.endswith("\n") else (text, "", "")
        records = list(csv.reader(io.StringIO(complete)))
        if not records:  # even the header was cut: nothing in the file is a finished run
            warnings.warn(f"{path}: dropping a file cut before its header ended: {cut[:200]!r}", stacklevel=3)
            path.unlink()
            return
        header, *body = records
        dropped = [",".join(r) for r in body if len(r) != len(header)] + ([cut] if cut else [])
        if not dropped:
            return
        for row in dropped:
            warnings.warn(f"{path}: dropping a row cut by an interrupted write (its run will be redone): "
                          f"{row[:200]!r}", stacklevel=3)
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([header, *(r for r in body if len(r) == len(header))])
        _replace_text(path, buffer.getvalue())


def _replace_text(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it over ``path`` (atomic on POSIX): a kill
    leaves the old file or the new one, never half of one."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _write_atomically(frame: pd.DataFrame, path: Path) -> None:
    _replace_text(path, frame.to_csv(index=False))


class LocalBackend:
    """Runs jobs on this machine: one after another in this process (``workers=1``), or in a pool of ``workers``
    processes (spawned, so each has its own torch state), results yielded as they finish."""

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise SystemExit(f"--workers={workers} is invalid; allowed: >= 1")
        self.workers = workers

    def imap(self, fn: JobFunction, jobs: list[Job]) -> Iterator[tuple[Job, dict]]:
        if self.workers == 1 or len(jobs) <= 1:
            for job in jobs:
                yield job, fn(job)
            return
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(self.workers, len(jobs)), mp_context=context) as pool:
            futures = {pool.submit(fn, job): job for job in jobs}
            try:
                for future in as_completed(futures):
                    yield futures[future], future.result()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise


class RayBackend:
    """Runs each job as a Ray task (``num_cpus`` / ``num_gpus`` per run) on the cluster at ``address`` (``None``
    starts a local Ray instance); results come back as they finish. Every node needs this project installed."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: float = 1, num_gpus: float = 0,
                 init_kwargs: dict | None = None) -> None:
        try:
            import ray
        except ImportError as error:
            raise SystemExit("the Ray backend needs Ray: pip install -e '.[ray]'") from error
        self.ray = ray
        self.address = address
        self.resources = {"num_cpus": num_cpus, "num_gpus": num_gpus}
        self.init_kwargs = init_kwargs or {}

    def imap(self, fn: JobFunction, jobs: list[Job]) -> Iterator[tuple[Job, dict]]:
        ray = self.ray
        if not ray.is_initialized():
            ray.init(address=self.address, **self.init_kwargs)
        remote = ray.remote(**self.resources)(fn)
        pending = {remote.remote(job): job for job in jobs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            yield pending.pop(done[0]), ray.get(done[0])


def default_workers() -> int:
    """Local worker processes by default: one per CPU core (runs use one torch thread each)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def make_backend(name: str, address: str | None = None, num_gpus: float = 0,
                 workers: int = 1) -> LocalBackend | RayBackend:
    if name == "local":
        return LocalBackend(workers)
    if name == "ray":
        return RayBackend(address, num_gpus=num_gpus)
    raise SystemExit(f"unknown backend '{name}'; allowed: local, ray")


def run_grid(jobs: list[Job], fn: JobFunction, store: ResultsStore, backend: LocalBackend | RayBackend,
             desc: str = "grid") -> int:
    """Run the unfinished ``jobs``; returns how many ran. A progress bar shows the finished count and a running
    cell (local backends: the oldest started run; Ray: the latest finished one)."""
    store.job_order = [store.key(job.key) for job in jobs]
    finished = store.finished()
    todo = [job for job in jobs if store.key(job.key) not in finished]
    if len(todo) < len(jobs):
        print(f"{desc}: {len(jobs) - len(todo)} of {len(jobs)} runs already in {store.folder}/results.csv; "
              f"running the other {len(todo)}", file=sys.stderr)
    bar = tqdm(total=len(todo), desc=desc, dynamic_ncols=True)
    unfinished = list(todo)  # local backends start jobs in this order, so the first one is running
    if unfinished and backend.name == "local":
        bar.set_postfix_str(job_label(unfinished[0]))
    for job, output in backend.imap(fn, todo):
        for name, rows in output.items():
            store.add(name, rows)
        unfinished.remove(job)
        bar.update(1)
        if backend.name == "local":
            bar.set_postfix_str(job_label(unfinished[0]) if unfinished else "done")
        else:
            bar.set_postfix_str(f"finished {job_label(job)}")
    bar.close()
    return len(todo)
