"""Do a table's calls survive another CPU kernel? Rerun an experiment under other ATen CPU capabilities, compare.

    python -m experiments.kernel_check benchmark --preset quick --reference runs/benchmark/quick
    python -m experiments.kernel_check benchmark --preset quick --kernels default avx2   # both rerun here

One machine reproduces a run to the last bit, but PyTorch picks its CPU kernels by instruction set
(``ATEN_CPU_CAPABILITY``: ``default``, ``avx2``, ``avx512`` where the CPU has it), and a QAT run amplifies last-bit
differences. Each kernel runs the experiment in its own process and folder (``runs/kernel_check/<experiment>/
<preset>/<kernel>``; reruns resume); ``--reference`` adds a finished run folder (e.g. the main job's, under the
machine's own kernel) instead of rerunning it. The comparison table (``calls.md`` / ``.csv`` in the check's
folder) has, per compared row, each kernel's difference with its CI and call, and the verdict: ``holds`` (the same
call everywhere, above or below 0), ``inconclusive`` (the same call everywhere, the CI holds 0) or ``flips`` (the
calls differ: a table must not make that call). Experiments and the columns compared: ``benchmark`` (summary:
``vs uniform KD``), ``rl_benchmark`` and ``reward_shaping`` (per_cell: ``vs uniform``).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from experiments.common import write_table

KERNELS = ("default", "avx2", "avx512")
# experiment -> (table file, key columns, difference label)
COMPARED = {
    "benchmark": ("summary.csv", ["task", "student", "bits", "method"], "vs uniform KD (dB)"),
    "rl_benchmark": ("per_cell.csv", ["cell", "agent"], "vs uniform dB"),
    "reward_shaping": ("per_cell.csv", ["cell", "reward"], "vs uniform dB"),
}


def available_kernels() -> list[str]:
    """The ATen CPU capabilities this CPU can run (from /proc/cpuinfo's flags; ``default`` always)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return ["default"]
    return ["default", *(["avx2"] if "avx2" in flags else []), *(["avx512"] if "avx512f" in flags else [])]


def run_under(kernel: str, experiment: str, preset: str, out: Path, overrides: list[str]) -> None:
    """The experiment's own command in a subprocess with ``ATEN_CPU_CAPABILITY=kernel`` (resumes a folder)."""
    command = [sys.executable, "-m", f"experiments.{experiment}", "--preset", preset, "--out", str(out)]
    command += [arg for item in overrides for arg in ("--set", item)]
    subprocess.run(command, check=True, env={**os.environ, "ATEN_CPU_CAPABILITY": kernel})


def compare_calls(tables: dict[str, pd.DataFrame], keys: list[str], label: str) -> pd.DataFrame:
    """One row per compared key: each kernel's difference [CI] and call, and the verdict."""
    merged = None
    for kernel, table in tables.items():
        part = table[keys + [f"{label} [95% CI]", f"{label} call"]].rename(
            columns={f"{label} [95% CI]": f"{kernel}: {label} [95% CI]", f"{label} call": f"{kernel}: call"})
        merged = part if merged is None else merged.merge(part, on=keys, how="inner")
    merged = merged[merged[f"{next(iter(tables))}: call"] != "-"].copy()
    calls = merged[[f"{kernel}: call" for kernel in tables]]
    same = calls.nunique(axis=1) == 1
    merged["verdict"] = [("inconclusive" if first == "inconclusive" else "holds") if agree else "flips"
                         for agree, first in zip(same, calls.iloc[:, 0])]
    return merged.reset_index(drop=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", choices=list(COMPARED))
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--kernels", nargs="+", default=None, choices=KERNELS,
                        help="kernels to run (default: those this CPU has, minus the reference's)")
    parser.add_argument("--reference", type=Path, default=None,
                        help="a finished run folder of the same experiment and preset, under this machine's kernel")
    parser.add_argument("--reference-kernel", default=None, help="its kernel's name (default: the best available)")
    parser.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out = args.out or Path("runs/kernel_check") / args.experiment / args.preset
    available = available_kernels()
    reference_kernel = args.reference_kernel or available[-1]
    kernels = args.kernels or [k for k in available if args.reference is None or k != reference_kernel]
    unavailable = [k for k in kernels if k not in available]
    if unavailable:
        raise SystemExit(f"error: kernel(s) {unavailable} are not available on this CPU; available: "
                         f"{', '.join(available)}")
    folders = {reference_kernel: args.reference} if args.reference is not None else {}
    for kernel in kernels:
        folders[kernel] = out / kernel
        run_under(kernel, args.experiment, args.preset, folders[kernel], args.overrides)
    table_file, keys, label = COMPARED[args.experiment]
    tables = {kernel: pd.read_csv(folder / table_file) for kernel, folder in folders.items()}
    calls = compare_calls(tables, keys, label)
    counts = calls.verdict.value_counts().to_dict()
    print(write_table(calls, out, "calls", f"{args.experiment} --preset {args.preset}: calls under kernels "
                      f"{', '.join(folders)} ({counts})"))


if __name__ == "__main__":
    main()
