"""Where a benchmark run's time goes: exclusive wall-clock seconds per phase, per method, for one cell and seed.

    python -m experiments.profile_runs                                   # EDSR and FSRCNN W4A4, every method
    python -m experiments.profile_runs --students fsrcnn --methods kd_uniform kd_fakd --out runs/profile/mine

Each method's run is the main job's (``experiments.benchmark.jobs``, the ``quick`` preset and its overrides), run in
this process one after the other. Phases are timed by wrapping the functions that implement them (only in this
process, for this profile); a phase's time is *exclusive*: time spent in a phase nested inside it (the forward
passes inside the lookahead, the teacher outputs inside the session build) counts for the inner phase, so the
phases of a run add up to its wall time. ``other`` is what no phase covers (the agent, the env wrappers, Python).

Phases: ``session build`` (teacher, training / probe / validation sets), ``teacher outputs`` (the teacher on the
training and probe images; cached per process after the first run of a student), ``calibration`` (quantizing and
calibrating the student), ``data`` (training-crop sampling), ``forward`` (the student's training pass, except its
quantizers), ``quantizers`` (fake-quantization of weights and activations in every student pass), ``KD loss``
(output and feature KD terms, with the teacher's feature pass), ``backward``, ``optimizer step``, ``observation``
(the difficulty grid of a pass), ``probe`` (the reward's probe), ``test evaluation`` (the final student, or the
teacher / PTQ student, on the test photographs), ``lookahead`` (the meta-gradient scores), ``snapshot`` (run-state
copies for counterfactual rewards). Process start-up (importing the project and torch) is timed once in a fresh
interpreter.

Writes ``phases.csv`` (one row per method and phase: seconds, share of the run) and ``profile.csv`` / ``profile.md``
(methods x phases) to ``--out``.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import torch

import experiments.qat_runs as qat_runs
import spark_env.qat as qat
from experiments.benchmark import METHODS, BenchmarkSpec, jobs
from experiments.common import write_table
from experiments.spec import load_spec
from spark_env.probe import ProbeSet, ValidationSet
from spark_env.quant.quantizers import ActivationQuantizer, WeightQuantizer
from spark_env.training_set import TrainingSet

PHASE_ORDER = ("session build", "teacher outputs", "calibration", "data", "forward", "quantizers", "KD loss",
               "backward", "optimizer step", "observation", "probe", "test evaluation", "lookahead", "snapshot",
               "other")


class PhaseClock:
    """Exclusive wall-clock seconds per phase: while a wrapped function runs, time counts for its phase and not for
    the phase of the function that called it."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._stack: list[list] = []  # [phase, time it last became the innermost phase]

    def _enter(self, phase: str) -> None:
        now = time.perf_counter()
        if self._stack:
            outer = self._stack[-1]
            self.seconds[outer[0]] += now - outer[1]
        self._stack.append([phase, now])

    def _leave(self) -> None:
        now = time.perf_counter()
        phase, since = self._stack.pop()
        self.seconds[phase] += now - since
        if self._stack:
            self._stack[-1][1] = now

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self._enter(name)
        try:
            yield
        finally:
            self._leave()

    def wrap(self, name: str, function: Callable) -> Callable:
        @functools.wraps(function)
        def timed(*args, **kwargs):
            with self.phase(name):
                return function(*args, **kwargs)
        return timed


def _instrument(clock: PhaseClock) -> Callable[[], None]:
    """Wrap the phase functions (see the module docstring); returns the function that restores them."""
    targets = [
        (qat.QATSession, "__init__", "session build"), (qat.QATSession, "_teacher_output", "teacher outputs"),
        (qat, "make_student", "calibration"), (TrainingSet, "sample", "data"), (qat.QATSession, "forward", "forward"),
        (WeightQuantizer, "forward", "quantizers"), (ActivationQuantizer, "forward", "quantizers"),
        (qat.QATSession, "losses", "KD loss"), (torch.Tensor, "backward", "backward"),
        (torch.optim.Adam, "step", "optimizer step"), (qat.QATSession, "observe", "observation"),
        (ProbeSet, "psnr", "probe"), (ValidationSet, "psnr", "probe"), (qat_runs, "evaluate_images", "test evaluation"),
        (qat.QATSession, "lookahead_scores", "lookahead"), (qat.QATSession, "snapshot", "snapshot"),
    ]
    originals = [(owner, name, owner.__dict__[name]) for owner, name, _ in targets]
    for (owner, name, original), (_, _, phase) in zip(originals, targets):
        if isinstance(original, staticmethod):
            setattr(owner, name, staticmethod(clock.wrap(phase, original.__func__)))
        else:
            setattr(owner, name, clock.wrap(phase, original))

    def restore() -> None:
        for owner, name, original in originals:
            setattr(owner, name, original)
    return restore


def startup_seconds() -> float:
    """Wall time of a fresh interpreter that imports the benchmark (torch, gymnasium, the project) and exits."""
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import experiments.benchmark"], check=True)
    return time.perf_counter() - began


def profile(spec: BenchmarkSpec) -> pd.DataFrame:
    """One row per (student, bits, method, phase): exclusive seconds and share of the run's wall time."""
    rows = []
    clock = PhaseClock()
    restore = _instrument(clock)
    try:
        for job in jobs(spec):
            clock.seconds.clear()
            began = time.perf_counter()
            with clock.phase("other"):
                qat_runs.run_job(job)
            wall = time.perf_counter() - began
            key = {k: job.key[k] for k in ("student", "bits", "method")}
            rows += [{**key, "phase": phase, "seconds": round(seconds, 3), "share": round(seconds / wall, 4)}
                     for phase, seconds in clock.seconds.items()]
            rows.append({**key, "phase": "run", "seconds": round(wall, 3), "share": 1.0})
            print(f"{key['student']} W{key['bits']}A{key['bits']} {key['method']}: {wall:.1f} s", flush=True)
    finally:
        restore()
    return pd.DataFrame(rows)


def phase_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Methods x phases (seconds), with the run's wall time last."""
    table = rows.pivot_table(index=["student", "bits", "method"], columns="phase", values="seconds",
                             aggfunc="sum", sort=False).fillna(0.0)
    columns = [p for p in PHASE_ORDER if p in table.columns] + ["run"]
    return table[columns].round(2).reset_index()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", nargs="+", default=["edsr", "fsrcnn"])
    parser.add_argument("--bits", nargs="+", type=int, default=[4])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/profile"))
    args = parser.parse_args(argv)
    spec = dataclasses.replace(load_spec(BenchmarkSpec, "benchmark", "quick"), students=args.students, bits=args.bits,
                               seeds=[args.seed], methods=args.methods)
    startup = startup_seconds()
    rows = profile(spec)
    args.out.mkdir(parents=True, exist_ok=True)
    rows.to_csv(args.out / "phases.csv", index=False)
    title = (f"Exclusive seconds per phase of one run per method (seed {args.seed}, the quick preset); process "
             f"start-up (import) {startup:.1f} s, torch {torch.__version__}, CPU kernels "
             f"{torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads")
    print(write_table(phase_table(rows), args.out, "profile", title))


if __name__ == "__main__":
    main()
