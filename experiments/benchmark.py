"""The SPARK paper's comparison on real images: one command, honest statistics, tables and plots.

    python -m experiments.benchmark --preset quick            # the README's main job (embedded data, CPU)
    python -m experiments.benchmark --preset full             # every cell, 5 seeds
    python -m experiments.benchmark --config my.yaml --set seeds=[0,1] --dry-run

Methods (``METHODS``): the FP teacher; PTQ (the calibrated start state of every QAT run); QAT without KD; QAT +
uniform output KD; QAT + attention-transfer KD (PAMS-style, on body features); QAT + FAKD (feature affinity, plus
output KD as in the FAKD paper); QAT + heuristic spatial KD (the ``heuristic_combined`` map, no RL); QAT + lookahead
KD (the meta-gradient map of spark_env.lookahead, agents.lookahead: no policy, no RL); SPARK (the
built-in policy trained online during the run, then discarded); SPARK with SB3 PPO / A2C in place of the built-in
agent; SPARK with a heuristic warm start (the policy first imitates the heuristic map for 16 steps, then REINFORCE
with exploration std 0.2). Every QAT method of a cell (student x task x bits) runs the same number of QAT steps
from the same seeded start (calibration and training crops), so rows of one seed are paired.

The run folder gets ``config.yaml`` (the resolved config), ``results.csv`` (one row per run, written as each
finishes; a rerun skips finished rows), ``curves.csv`` (probe PSNR per QAT step), ``arrays/`` (weight maps with
their crops), ``per_image.csv`` (every measured run on every test image), ``summary.md`` / ``summary.csv`` (per cell
and method: mean and 95 % CI over seeds and test images, gap to the FP teacher, paired difference to uniform KD with
its CI and call), ``per_image_differences.md`` / ``.csv`` and PNG plots; with ``--set save_students=true`` also
``students/`` (every QAT run's final student, a student file for ``python -m experiments.export_onnx``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from agents import agent_entry
from experiments.cli import Experiment, grid_main
from experiments.common import write_table
from experiments.grid import ResultsStore
from experiments.qat_runs import QATJob, RunSpec
from experiments.spec import check_batch
from experiments.plots import plot_curves, plot_psnr_vs_bits, plot_weight_maps
from experiments.per_image import difference_columns, paired_difference, per_image_differences, seed_by_image
from experiments.stats import crossed_ci, format_ci
from spark_env.errors import ConfigError

KEY_COLUMNS = ("task", "student", "bits", "method", "seed")
REFERENCE = "kd_uniform"


@dataclass(frozen=True)
class Method:
    label: str
    kind: str = "qat"                                   # teacher | ptq | qat
    agent: str = "uniform"                              # who sets the weight map during the QAT run
    overrides: dict[str, Any] = field(default_factory=dict)  # SparkConfig overrides that define the method
    agent_kwargs: dict[str, Any] = field(default_factory=dict)  # make_agent keywords that define the method


METHODS: dict[str, Method] = {
    "fp": Method("FP teacher", kind="teacher"),
    "ptq": Method("PTQ", kind="ptq"),
    "qat": Method("QAT (no KD)", overrides={"lambda_kd": 0.0}),
    "kd_uniform": Method("QAT + uniform KD"),
    # AT term ~1e-5..1e-4 at the start of a low-bit run: weight 1000 puts it on the order of the output KD term
    "kd_at": Method("QAT + AT KD", overrides={"lambda_kd": 0.0, "feature_kd": "at",
                                                     "lambda_feat": 1000.0}),
    # affinity L1 ~0.03..0.2 at the start: weight 0.5 keeps it on the order of the output KD term
    "kd_fakd": Method("QAT + FAKD", overrides={"feature_kd": "fakd", "lambda_feat": 0.5}),
    "kd_heuristic": Method("QAT + heuristic spatial KD", agent="heuristic_combined"),
    # the meta-gradient map (Ren et al., 2018, per cell): no policy; its cost per step: docs/lookahead.md
    "kd_lookahead": Method("QAT + lookahead KD (meta-gradient)", agent="lookahead"),
    "spark": Method("SPARK (built-in agent)", agent="spark"),
    # the SPARK study's best variant: imitate the heuristic for 16 steps, then REINFORCE with less exploration
    "spark_warm": Method("SPARK (heuristic warm start)", agent="spark",
                         agent_kwargs={"warm_start": "combined", "init_log_std": -1.6}),
    # the shipped policy (agents.pretrained): trained before the run on FSRCNN SR x2 W4A4 / W3A3, applied unchanged
    "spark_trained": Method("SPARK (trained policy)", agent="spark_pretrained"),
    "spark_ppo": Method("SPARK (SB3 PPO)", agent="ppo"),
    "spark_a2c": Method("SPARK (SB3 A2C)", agent="a2c"),
}
# methods whose weight maps are kept (and every agent named as a method)
MAP_METHODS = ("kd_heuristic", "kd_lookahead", "spark", "spark_warm", "spark_trained", "spark_ppo", "spark_a2c")


def method_of(name: str) -> Method:
    """A method by name; any other name is an agent (registered, or ``"package.module:factory"``) driving a QAT run
    with uniform KD's settings, learning online during the run when it learns, as the SPARK rows do."""
    return METHODS.get(name) or Method(f"agent {name}", agent=name)


@dataclass
class BenchmarkSpec:
    """One benchmark grid. ``overrides`` (SparkConfig overrides) change the env preset for every run
    (``episode_steps`` is the QAT budget); ``student_overrides`` add overrides per student architecture;
    ``teacher_weights`` maps ``"arch/task"`` to a weight file (default: the shipped teacher); ``test_folders`` maps
    names to benchmark folders (default: the embedded test split); ``agent_kwargs`` passes settings to an agent by
    name (``make_agent`` keywords); ``method_overrides`` change what defines a method (e.g. the feature-KD weight
    ``lambda_feat`` of ``kd_at``)."""

    students: list[str] = field(default_factory=lambda: ["edsr", "fsrcnn"])
    tasks: list[str] = field(default_factory=lambda: ["sr_x2"])
    bits: list[int] = field(default_factory=lambda: [4, 2])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    env_preset: str = "quick"
    overrides: dict[str, Any] = field(default_factory=dict)
    student_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    teacher_weights: dict[str, str] = field(default_factory=dict)
    test_folders: dict[str, str] = field(default_factory=dict)
    example_steps: list[int] = field(default_factory=list)
    agent_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)  # per agent name, e.g. {spark: {lr: 0.01}}
    method_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # e.g. {kd_at: {lambda_feat: 100}}
    batch: int = 8  # training crops per QAT step (each with its own grid and weight map)
    save_students: bool = False  # keep every QAT run's final student as students/<run>/steps0_student.pt

    def __post_init__(self) -> None:
        for method in self.methods:
            if method not in METHODS:
                try:
                    agent_entry(method)
                except ConfigError:
                    raise ConfigError(f"unknown method {method!r}; allowed: {', '.join(METHODS)}, or an agent (a "
                                      "registered name or 'package.module:factory')") from None
        unknown = [m for m in self.method_overrides if m not in self.methods and m not in METHODS]
        if unknown:
            raise ConfigError(f"method_overrides names unknown method(s) {unknown}; allowed: {', '.join(METHODS)}, "
                              "or a method of this config's methods")
        if REFERENCE not in self.methods:
            raise ConfigError(f"methods must include the reference '{REFERENCE}' (paired differences are to it)")
        if not self.seeds:
            raise ConfigError("seeds must list at least one seed")
        check_batch(self.batch)


def jobs(spec: BenchmarkSpec) -> list[QATJob]:
    """Every run of the grid. The FP teacher runs once per (task, student); PTQ once per cell and seed."""
    grid = []
    for task in spec.tasks:
        for student in spec.students:
            base = {**spec.overrides, **spec.student_overrides.get(student, {}), "task": task, "arch": student}
            if f"{student}/{task}" in spec.teacher_weights:
                base["teacher_weights"] = spec.teacher_weights[f"{student}/{task}"]
            for bits in spec.bits:
                for method_name in spec.methods:
                    method = method_of(method_name)
                    seeds = spec.seeds[:1] if method.kind == "teacher" else spec.seeds
                    if method.kind == "teacher" and bits != spec.bits[0]:
                        continue
                    for seed in seeds:
                        key = {"task": task, "student": student, "bits": 32 if method.kind == "teacher" else bits,
                               "method": method_name, "seed": seed}
                        overrides = {**base, "w_bits": bits, "a_bits": bits, **method.overrides,
                                     **spec.method_overrides.get(method_name, {})}
                        keep_maps = (method_name in MAP_METHODS or method_name not in METHODS) and \
                            seed == spec.seeds[0]
                        run = RunSpec(agent=method.agent, batch=spec.batch, seed=seed, preset=spec.env_preset,
                                      overrides=overrides, test_folders=spec.test_folders,
                                      agent_kwargs={**method.agent_kwargs, **spec.agent_kwargs.get(method.agent, {})},
                                      example_steps=tuple(spec.example_steps) if keep_maps else (),
                                      save_student=spec.save_students and method.kind == "qat")
                        grid.append(QATJob(key, run, kind=method.kind))
    return grid


def summarize(results: pd.DataFrame, per_image: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, per-image differences). Summary, per cell and method: runs, PSNR mean over seeds and test images
    with its 95 % CI, SSIM mean, gap to the FP teacher, and the paired difference to uniform KD (same seeds, same
    images) with its CI and call (above / below / inconclusive). The CIs resample seeds and images
    (``stats.crossed_ci``). Per-image differences: per cell, method and test image, the mean difference to uniform
    KD over seeds with its Student-t CI."""
    rows, image_rows = [], []
    fp = results[results.method == "fp"].set_index(["task", "student"])["psnr"]
    qat = results[results.method != "fp"]
    for (task, student, bits), cell in qat.groupby(["task", "student", "bits"], sort=False):
        reference = seed_by_image(cell[cell.method == REFERENCE], per_image)
        for method, runs in cell.groupby("method", sort=False):
            table = seed_by_image(runs, per_image)
            mean, low, high = crossed_ci(table.to_numpy())
            row = {"task": task, "student": student, "bits": f"W{bits}A{bits}", "method": method_of(method).label,
                   "runs": len(runs), "images": table.shape[1], "PSNR mean [95% CI]": format_ci(mean, low, high),
                   "SSIM mean": runs["ssim"].mean(), "gap to FP (dB)": mean - fp.get((task, student), np.nan)}
            if method != REFERENCE and len(reference):
                difference = paired_difference(table, reference)
                row.update(difference_columns(difference, "vs uniform KD (dB)"))
                image_rows += per_image_differences(difference, task=task, student=student, bits=f"W{bits}A{bits}",
                                                    method=method_of(method).label)
            else:
                row.update({"vs uniform KD (dB) [95% CI]": "-", "vs uniform KD (dB) call": "-"})
            rows.append(row)
    return pd.DataFrame(rows), pd.DataFrame(image_rows)


def report(store: ResultsStore, spec: BenchmarkSpec) -> None:
    """Summary table and plots from the run folder's CSVs (also what a resumed run prints)."""
    results = store.table()
    summary, image_differences = summarize(results, store.table("per_image"))
    budget = spec.overrides.get("episode_steps", "preset")
    title = (f"Method comparison: final student PSNR-Y / SSIM-Y on the test images, {budget} QAT steps per run, "
             f"seeds {spec.seeds}")
    print(write_table(summary, store.folder, "summary", title))
    if not image_differences.empty:
        write_table(image_differences, store.folder, "per_image_differences",
                    "Per test image: mean difference to uniform KD over seeds (dB) with its 95 % Student-t CI")
    labels = {name: method_of(name).label for name in [*METHODS, *spec.methods]}
    plot_psnr_vs_bits(results, labels, store.folder / "psnr_vs_bits.png")
    plot_curves(store.table("curves"), labels, store.folder / "psnr_over_qat_steps.png")
    plot_weight_maps(store.folder / "arrays", labels, store.folder / "weight_maps.png")
    print(f"results, tables and plots in {store.folder}/")


EXPERIMENT = Experiment("benchmark", BenchmarkSpec, jobs, KEY_COLUMNS, report)


def main(argv: list[str] | None = None) -> None:
    grid_main(argv, __doc__, EXPERIMENT)


if __name__ == "__main__":
    main()
