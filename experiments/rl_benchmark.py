"""RL algorithms on SparkKD with equal budgets, aggregated as Agarwal et al. (2021) recommend.

    python -m experiments.rl_benchmark --preset learn     # PGPE learns: beats uniform KD and random maps
    python -m experiments.rl_benchmark --preset quick [--set train_steps=4096] [--dry-run] [--backend ray]

Every learning agent (the built-in SPARK agent, PGPE, SB3 PPO / A2C / SAC / TD3) trains for ``train_steps`` env
steps (every crop of a batch counts: one QAT run of ``episode_steps`` at ``batch`` crops is ``episode_steps *
batch`` env steps) on QAT runs of a cell (pretraining seeds, away from the measured ones). At each fraction of the
budget in ``checkpoints`` it drives one fresh measured QAT run from the run seed, acting deterministically: the
final students on the test images give the learning curve (score against training env steps, 95 % CIs over
seeds). Agents that do not learn (uniform, random, heuristics) just drive the measured run.

``baselines: <preset>`` starts a new run folder from the shipped rows of the baseline agents (uniform, random,
heuristics, PGPE; experiments.baselines), so only the other agents run.

``score_split: val`` scores every final student on the validation photographs instead of the test photographs (to
choose hyperparameters; the test images then score only the final table). ``variants`` name settings of a
registered agent, listed in ``agents`` like agents (``--preset tune_val``: each learner's exploration scale)::

    variants: {pgpe_sigma_half: {agent: pgpe, kwargs: {sigma: 0.15}}}

Scores of a run (the tables use each learning agent's full budget):
  * ``score``: the fraction of the PTQ -> FP-teacher PSNR gap it closes, ``(psnr - ptq) / (fp - ptq)`` with the
    PTQ student of the same seed (0 = no better than the start, 1 = the teacher);
  * ``h-score``: ``(psnr - uniform) / mean(heuristic - uniform)``, the uniform-KD run of the same seed and the
    cell's mean gain of the combined difficulty heuristic: 0 = uniform KD, 1 = the hand-made map (needs the agents
    ``uniform`` and ``heuristic_combined``).
Per agent over all cells (tasks) and seeds: interquartile mean, median and mean of the score with
stratified-bootstrap 95 % CIs (runs resampled within each cell), the paired difference to uniform KD, and
performance profiles. Per cell: paired differences to uniform KD and to random maps with bootstrap CIs. Outputs in
the run folder: results.csv (resumable), curves.csv, summary.md/.csv, per_cell.md/.csv, learning_curves.png,
aggregates.png, psnr_over_qat_steps.png.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from agents import agent_entry, agent_names
from experiments.baselines import check_shipped, seed_run_folder
from experiments.cli import Experiment, grid_main
from experiments.grid import ResultsStore
from experiments.qat_runs import QATJob, RunSpec
from experiments.scoring import HEURISTIC, report_scores
from experiments.spec import cell_name, check_batch, check_checkpoints, checkpoint_budgets
from spark_env.errors import ConfigError

KEY_COLUMNS = ("cell", "agent", "seed")


@dataclass
class RLBenchmarkSpec:
    """``cells`` are the tasks of the benchmark: each a dict of SparkConfig overrides (e.g. ``{task: sr_x2,
    arch: fsrcnn, w_bits: 2, a_bits: 2}``) on top of ``overrides`` and the ``env_preset``; ``agent_overrides`` add
    SparkConfig overrides per agent (``spark_distill`` needs ``lookahead_info: true``)."""

    agents: list[str] = field(default_factory=lambda: ["spark", "pgpe", "ppo", "a2c", "sac", "td3", "random",
                                                       "uniform", HEURISTIC])
    cells: list[dict[str, Any]] = field(default_factory=lambda: [{"task": "sr_x2", "arch": "fsrcnn"}])
    seeds: list[int] = field(default_factory=lambda: list(range(10)))
    train_steps: int = 8192
    checkpoints: list[float] = field(default_factory=lambda: [0.0, 0.125, 0.25, 0.5, 1.0])  # fractions of train_steps
    batch: int = 8  # training crops per QAT step
    env_preset: str = "quick"
    overrides: dict[str, Any] = field(default_factory=dict)
    agent_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    agent_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # SparkConfig overrides an agent needs
    # named settings of a registered agent, listed in ``agents`` like an agent: {name: {agent: pgpe, kwargs: {...}}}
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    test_folders: dict[str, str] = field(default_factory=dict)
    score_split: str = "test"  # "val": score on the validation photographs (choosing hyperparameters), not the test
    baselines: str | None = None  # shipped baseline rows to start a new run folder from (experiments.baselines)

    def __post_init__(self) -> None:
        for name, variant in self.variants.items():
            check_variant(name, variant)
        for key, named in (("agent_kwargs", self.agent_kwargs), ("agent_overrides", self.agent_overrides)):
            if set(named) & set(self.variants):  # they apply by registered agent: a variant's entry would be ignored
                raise ConfigError(f"{key} names the variants {sorted(set(named) & set(self.variants))}; a variant "
                                  "takes its kwargs in its own entry and the overrides of its registered agent")
        for agent in [*self.agents, *self.agent_kwargs, *self.agent_overrides]:
            agent_entry(self.registered(agent))  # an unknown name or an unimportable spec is an error now, not mid-grid
        if "uniform" not in self.agents:
            raise ConfigError("agents must include 'uniform' (the reference of the paired differences)")
        if self.train_steps < 0:
            raise ConfigError(f"train_steps={self.train_steps} is invalid; allowed: >= 0")
        check_checkpoints(self.checkpoints)
        check_batch(self.batch)
        RunSpec(score_split=self.score_split, test_folders=self.test_folders)  # its checks name a bad value
        if self.baselines is not None:
            check_shipped(self)  # shipped under another config: an error now, before the run folder is written

    def registered(self, agent: str) -> str:
        """The registered agent behind a name of ``agents`` (a variant's ``agent``; otherwise the name itself)."""
        return self.variants[agent]["agent"] if agent in self.variants else agent

    def kwargs_of(self, agent: str) -> dict[str, Any]:
        """Agent kwargs of a name of ``agents``: its registered agent's ``agent_kwargs``, then a variant's own."""
        return {**self.agent_kwargs.get(self.registered(agent), {}), **self.variants.get(agent, {}).get("kwargs", {})}

    @property
    def budgets(self) -> list[int]:
        """Training env steps at which learning agents are measured (increasing, the last is ``train_steps``)."""
        return checkpoint_budgets(self.train_steps, self.checkpoints)


def check_variant(name: str, variant: Any) -> None:
    """A variant is ``{agent: <registered name>, kwargs: {...}}`` under a name that is not a registered agent."""
    if not isinstance(variant, dict) or "agent" not in variant or set(variant) - {"agent", "kwargs"}:
        raise ConfigError(f"variant {name!r}: {variant!r} is invalid; allowed: {{agent: <registered agent>, "
                          "kwargs: {<keyword>: <value>}}")
    if name in agent_names():
        raise ConfigError(f"variant {name!r} shadows the registered agent of that name; choose another name")
    agent_entry(variant["agent"])
    if not isinstance(variant.get("kwargs", {}), dict):
        raise ConfigError(f"variant {name!r}: kwargs={variant['kwargs']!r} is invalid; allowed: a mapping")


def reference_jobs(cell: dict, overrides: dict, seeds: list[int], base: RunSpec, column: str) -> list[QATJob]:
    """The FP teacher (once) and the PTQ start state (per seed) of a cell: the ends of the score scale. Their key
    names the reference in ``column``."""
    name = cell_name(cell)
    out = []
    for kind, kind_seeds in (("teacher", seeds[:1]), ("ptq", seeds)):
        for seed in kind_seeds:
            key = {"cell": name, column: kind, "seed": seed}
            out.append(QATJob(key, replace(base, seed=seed, overrides=overrides), kind=kind))
    return out


def learns_in(spec: RLBenchmarkSpec, agent: str) -> bool:
    """Whether an agent is trained (and measured along a learning curve) in this benchmark."""
    return agent_entry(spec.registered(agent)).learns and spec.train_steps > 0


def jobs(spec: RLBenchmarkSpec) -> list[QATJob]:
    base = RunSpec(preset=spec.env_preset, test_folders=spec.test_folders, batch=spec.batch,
                   score_split=spec.score_split)
    grid = []
    for cell in spec.cells:
        overrides = {**spec.overrides, **cell}
        grid += reference_jobs(cell, overrides, spec.seeds, base, "agent")
        for agent in spec.agents:
            learns = learns_in(spec, agent)
            for seed in spec.seeds:
                key = {"cell": cell_name(cell), "agent": agent, "seed": seed}
                registered = spec.registered(agent)
                run = replace(base, agent=registered, seed=seed, agent_kwargs=spec.kwargs_of(agent),
                              overrides={**overrides, **spec.agent_overrides.get(registered, {})})
                grid.append(QATJob(key, run, kind="curve" if learns else "qat",
                                   budgets=tuple(spec.budgets) if learns else ()))
    return grid


def report(store: ResultsStore, spec: RLBenchmarkSpec) -> None:
    learners = [agent for agent in spec.agents if learns_in(spec, agent)]
    images = "validation photographs" if spec.score_split == "val" else "test images"
    defaults = [spec.registered(agent) for agent in spec.agents if agent in spec.variants]
    report_scores(store, "agent", learners, f"RL agents, {spec.train_steps} training env steps each, then one "
                  f"measured QAT run per seed; score = fraction of the PTQ -> FP gap closed on the {images}",
                  extra_references=list(dict.fromkeys(defaults)), images=images)


EXPERIMENT = Experiment("rl_benchmark", RLBenchmarkSpec, jobs, KEY_COLUMNS, report, prepare=seed_run_folder)


def main(argv: list[str] | None = None) -> None:
    grid_main(argv, __doc__, EXPERIMENT)


if __name__ == "__main__":
    main()
