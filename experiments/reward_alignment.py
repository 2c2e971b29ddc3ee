"""Does a reward rank policies as the test images do? Reference policies of known, different quality, every reward.

    python -m experiments.reward_alignment --preset quick [--set seeds=[0,1,2]] [--set 'rewards=[my.mod:reward]']

Each reference policy (no KD, uniform KD, random maps, each single-channel difficulty heuristic, the combined
heuristic and its inverse) drives one batched QAT run per seed. Fixed policies do not learn, so one run yields the
episode return of *every* reward at once: a recording reward evaluates all of them on every step (rewards that read
the pre-step state restore it, so the trajectory is the one the policy would have under any reward). The yardstick
is the final student's PSNR-Y on the test images, which no reward reads.

Per reward (``summary.md``): Kendall's tau-b between the policies' mean return and their mean test PSNR (1 = the
same order), Pearson's r between return and test PSNR over all runs and within seeds (seed means removed), the
paired return difference combined heuristic - random with its 95 % Student-t CI over seeds, and the same difference
of the test PSNR for comparison. ``return_vs_test.png`` plots the policies' mean return against their mean test PSNR.

Probe designs (``probes``: ``[count, size, pooling]``): the final student of every run is also scored on those probe
sets (``count`` fixed validation crops of ``size`` LR pixels, drawn as the env draws its probe, their errors pooled
per crop or per validation image: ``spark_env.probe``) and on the whole validation images. Within a seed every
policy starts from the same PTQ student, so ranking policies by a probe's final PSNR is ranking them by that probe's
``probe_psnr_gain`` return. ``probes.md`` gives each design's tau-b against the whole validation images (the
validation-side criterion a design is chosen by) and against the test images (the check), and its cost per
evaluation.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from experiments.cli import Experiment, grid_main  # noqa: E402
from experiments.common import write_table  # noqa: E402
from experiments.grid import ResultsStore  # noqa: E402
from experiments.qat_runs import RunSpec, qat_run  # noqa: E402
from experiments.spec import cell_name, check_batch  # noqa: E402
from experiments.stats import format_ci, kendall_tau, student_t_ci  # noqa: E402
from spark_env.config import make_config  # noqa: E402
from spark_env.data import get_task, load_pairs  # noqa: E402
from spark_env.errors import ConfigError  # noqa: E402
from spark_env.evaluation import evaluate  # noqa: E402
from spark_env.probe import ProbeSet  # noqa: E402
from spark_env.rewards import REWARDS, RewardContext, resolve_reward  # noqa: E402

KEY_COLUMNS = ("cell", "policy", "seed")
BETTER, WORSE = "heuristic_combined", "random"  # the paired return difference the summary reports


@dataclass(frozen=True)
class Policy:
    """A reference policy: the agent that sets the maps, its keywords, and SparkConfig overrides (no KD)."""

    agent: str
    agent_kwargs: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)


POLICIES: dict[str, Policy] = {
    "no_kd": Policy("uniform", overrides={"lambda_kd": 0.0}),
    "uniform": Policy("uniform"),
    "random": Policy("random"),
    **{f"heuristic_{c}": Policy(f"heuristic_{c}") for c in ("laplacian", "variance", "error", "gap", "combined")},
    "inverse_heuristic_combined": Policy("heuristic_combined", agent_kwargs={"sign": -1.0}),
}


@dataclass
class RewardAlignmentSpec:
    """``rewards``: registered names or ``"package.module:function"``; ``cells``: SparkConfig overrides per cell."""

    rewards: list[str] = field(default_factory=lambda: list(REWARDS))
    policies: list[str] = field(default_factory=lambda: list(POLICIES))
    cells: list[dict[str, Any]] = field(default_factory=lambda: [{"task": "sr_x2", "arch": "fsrcnn"}])
    seeds: list[int] = field(default_factory=lambda: list(range(10)))
    batch: int = 8
    env_preset: str = "quick"
    overrides: dict[str, Any] = field(default_factory=dict)
    test_folders: dict[str, str] = field(default_factory=dict)
    probes: list[list] = field(default_factory=list)  # probe designs [count, size, pooling] scored on final students

    def __post_init__(self) -> None:
        unknown = [p for p in self.policies if p not in POLICIES]
        if unknown:
            raise ConfigError(f"unknown policy(ies) {unknown}; allowed: {', '.join(POLICIES)}")
        for design in self.probes:
            if len(design) != 3:
                raise ConfigError(f"probe design {design!r} is invalid; allowed: [count, size, pooling]")
            # SparkConfig's own checks of the probe fields name the bad value and what is allowed
            make_config(self.env_preset, probe_crops=design[0], probe_crop_size=design[1], probe_pooling=design[2])
        for reward in self.rewards:
            resolve_reward(reward)  # an unknown name or an unimportable function is an error now, not mid-grid
        check_batch(self.batch)


class RecordingReward:
    """A reward that evaluates several rewards on every step and sums each into ``returns``; it returns the first
    one's value (the env needs one number). It declares what any of them needs (snapshot, validation start, the
    uniform-KD reference run)."""

    def __init__(self, rewards: dict[str, Any]) -> None:
        self.rewards = rewards
        self.returns = dict.fromkeys(rewards, 0.0)
        self.needs_snapshot = any(getattr(fn, "needs_snapshot", False) for fn in rewards.values())
        self.needs_val_start = any(getattr(fn, "needs_val_start", False) for fn in rewards.values())
        self.needs_uniform_reference = any(getattr(fn, "needs_uniform_reference", False) for fn in rewards.values())

    def __call__(self, context: RewardContext) -> float:
        values = {name: float(fn(context)) for name, fn in self.rewards.items()}
        for name, value in values.items():
            self.returns[name] += value
        return next(iter(values.values()))


@dataclass(frozen=True)
class AlignmentJob:
    """One reference policy's QAT run (``run``, without its reward) and the rewards whose returns it records."""

    key: dict[str, Any]
    policy: str
    rewards: tuple[str, ...]
    run: RunSpec
    probes: tuple[tuple[int, int, str], ...] = ()


def jobs(spec: RewardAlignmentSpec) -> list[AlignmentJob]:
    grid = []
    for cell in spec.cells:
        for name in spec.policies:
            policy = POLICIES[name]
            for seed in spec.seeds:
                key = {"cell": cell_name(cell), "policy": name, "seed": seed}
                run = RunSpec(agent=policy.agent, batch=spec.batch, seed=seed, preset=spec.env_preset,
                              overrides={**spec.overrides, **cell, **policy.overrides},
                              agent_kwargs=policy.agent_kwargs, test_folders=spec.test_folders)
                grid.append(AlignmentJob(key, name, tuple(spec.rewards), run, tuple(map(tuple, spec.probes))))
    return grid


def run_alignment_job(job: AlignmentJob) -> dict[str, list[dict]]:
    """One reference policy's QAT run: test figures and the return of every reward; its per-image test figures."""
    recorder = RecordingReward({name: resolve_reward(name) for name in job.rewards})
    result = qat_run(replace(job.run, overrides={**job.run.overrides, "reward": recorder}))
    metrics = result.metrics
    returns = {f"return {name}": value for name, value in recorder.returns.items()}
    probes = probe_scores(result.recorded.final_student, job.run, job.probes) if job.probes else {}
    return {"results": [{**job.key, "psnr": metrics["psnr"], "ssim": metrics["ssim"], **returns, **probes,
                         "error": metrics["error"], "seconds": metrics["seconds"]}],
            "per_image": [{**job.key, **row} for row in result.per_image]}


VAL_COLUMN = "val psnr"


def probe_column(count: int, size: int, pooling: str) -> str:
    return f"probe {count}x{size} {pooling}"


def probe_scores(student: torch.nn.Module, run: RunSpec,
                 designs: tuple[tuple[int, int, str], ...]) -> dict[str, float]:
    """A final student's PSNR-Y (dB) on each probe design (``probe <count>x<size> <pooling>``, drawn as the env
    draws its probe) and on the whole validation images (``val psnr``), with the milliseconds one evaluation takes
    (``ms probe ...``, ``ms val psnr``)."""
    config = make_config(run.preset, **run.overrides)
    task = get_task(config.task)
    pairs = load_pairs(task, "val", config.val_folder, image_set=config.image_set)
    device = next(student.parameters()).device
    scores = {}
    for design in designs:
        probe = ProbeSet(pairs, *design[:2], task, device, pooling=design[2])
        began = time.perf_counter()
        scores[probe_column(*design)] = probe.psnr(student)
        scores[f"ms {probe_column(*design)}"] = 1000 * (time.perf_counter() - began)
    began = time.perf_counter()
    scores[VAL_COLUMN] = evaluate(student, pairs, task, device, with_ssim=False)["psnr"]
    scores[f"ms {VAL_COLUMN}"] = 1000 * (time.perf_counter() - began)
    return scores


def probe_table(results: pd.DataFrame, designs: list[list]) -> pd.DataFrame:
    """Per cell and probe design (and the whole validation images): tau-b of the policies' mean final PSNR against
    their mean whole-validation PSNR and against their mean test PSNR, r within seeds against the test PSNR, and the
    median milliseconds of one evaluation."""
    rows = []
    for cell, runs in results.groupby("cell", sort=False):
        means = runs.groupby("policy", sort=False).mean(numeric_only=True)
        columns = [probe_column(*d) for d in designs] + [VAL_COLUMN]
        centred = runs[columns + ["psnr"]] - runs.groupby("seed")[columns + ["psnr"]].transform("mean")
        for column in columns:
            rows.append({"cell": cell, "design": "whole validation images" if column == VAL_COLUMN else column,
                         "tau-b vs validation": kendall_tau(means[column], means[VAL_COLUMN]),
                         "tau-b vs test": kendall_tau(means[column], means["psnr"]),
                         "r within seed vs test": float(np.corrcoef(centred[column], centred.psnr)[0, 1]),
                         "ms per evaluation": float(runs[f"ms {column}"].median())})
    return pd.DataFrame(rows)


def alignment_table(results: pd.DataFrame, rewards: list[str]) -> pd.DataFrame:
    """Per cell and reward: tau-b of policy means, Pearson r over runs and within seeds, paired return difference
    BETTER - WORSE with its CI (and the same difference of the test PSNR)."""
    rows = []
    for cell, runs in results.groupby("cell", sort=False):
        means = runs.groupby("policy", sort=False).mean(numeric_only=True)
        centred = runs.copy()
        numeric = ["psnr"] + [f"return {r}" for r in rewards]
        centred[numeric] = runs[numeric] - runs.groupby("seed")[numeric].transform("mean")
        pair = runs[runs.policy.isin([BETTER, WORSE])].pivot(index="seed", columns="policy")
        for reward in ["test PSNR (yardstick)", *rewards]:
            column = "psnr" if reward.startswith("test") else f"return {reward}"
            row = {"cell": cell, "reward": reward,
                   "tau-b (policy means)": kendall_tau(means[column], means["psnr"]),
                   "r (runs)": float(np.corrcoef(runs[column], runs.psnr)[0, 1]),
                   "r (within seed)": float(np.corrcoef(centred[column], centred.psnr)[0, 1])}
            if BETTER in runs.policy.values and WORSE in runs.policy.values:
                diff = student_t_ci(pair[column][BETTER].to_numpy() - pair[column][WORSE].to_numpy())
                row[f"{BETTER} - {WORSE} [95% CI]"] = format_ci(*diff, digits=4)
            rows.append(row)
    return pd.DataFrame(rows)


def plot_alignment(results: pd.DataFrame, rewards: list[str], path) -> None:
    """One panel per reward (first cell): each policy's mean return (x) against its mean test PSNR (y)."""
    cell = results.cell.iloc[0]
    runs = results[results.cell == cell]
    means = runs.groupby("policy", sort=False).mean(numeric_only=True)
    sems = runs.groupby("policy", sort=False).sem(numeric_only=True)
    columns = min(4, len(rewards))
    rows = int(np.ceil(len(rewards) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.6 * rows), squeeze=False)
    for ax, reward in zip(axes.ravel(), rewards):
        column = f"return {reward}"
        for policy in means.index:
            ax.errorbar(means.loc[policy, column], means.loc[policy, "psnr"], xerr=sems.loc[policy, column],
                        yerr=sems.loc[policy, "psnr"], fmt="o", ms=3, capsize=2)
            ax.annotate(policy.replace("heuristic_", "h_"), (means.loc[policy, column], means.loc[policy, "psnr"]),
                        fontsize=6, xytext=(2, 2), textcoords="offset points")
        tau = kendall_tau(means[column], means["psnr"])
        ax.set_title(f"{reward} (tau-b {tau:.2f})", fontsize=8)
        ax.set_xlabel("mean episode return", fontsize=8)
        ax.set_ylabel("mean test PSNR-Y (dB)", fontsize=8)
    for ax in axes.ravel()[len(rewards):]:
        ax.axis("off")
    fig.suptitle(f"{cell}: return against the test images (mean +- s.e.m. over seeds)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(store: ResultsStore, spec: RewardAlignmentSpec) -> None:
    results = store.table()
    title = (f"Reward alignment: {len(spec.policies)} reference policies x {len(spec.seeds)} seeds, batch "
             f"{spec.batch}; tau-b and r against the final test PSNR-Y")
    print(write_table(alignment_table(results, spec.rewards), store.folder, "summary", title))
    per_policy = results.groupby(["cell", "policy"], sort=False).mean(numeric_only=True).drop(columns="seed")
    print(write_table(per_policy.reset_index(), store.folder, "per_policy", "Mean test PSNR and returns per policy",
                      floatfmt=".4f"))
    plot_alignment(results, spec.rewards, store.folder / "return_vs_test.png")
    if spec.probes:
        print(write_table(probe_table(results, spec.probes), store.folder, "probes",
                          "Probe designs: final-student PSNR ranks against the whole validation and test images"))
    print(f"results, tables and plots in {store.folder}/")


EXPERIMENT = Experiment("reward_alignment", RewardAlignmentSpec, jobs, KEY_COLUMNS, report, run_alignment_job)


def main(argv: list[str] | None = None) -> None:
    grid_main(argv, __doc__, EXPERIMENT)


if __name__ == "__main__":
    main()
