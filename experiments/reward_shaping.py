"""The reward-shaping study: one agent trained under each reward, judged by one yardstick.

    python -m experiments.reward_shaping --preset quick [--set 'rewards=[probe_psnr_gain, mypkg.rewards:my_reward]']

For every reward (a registered name of ``spark_env.rewards.REWARDS`` or ``"package.module:function"``, a user's
callable(RewardContext) -> float) and seed: the agent (default the built-in SPARK agent) trains for
``train_steps`` env steps under that reward, then drives one standard QAT run from the run seed, acting
deterministically; the yardstick is the final student's PSNR-Y on the test images, whatever the reward. Uniform KD
(the zero map) runs on the same seeds as the reference; the PTQ start and the FP teacher give the score scale of
experiments.rl_benchmark (fraction of the PTQ -> FP gap closed). The per-cell table pairs every reward with uniform
KD and with the first reward of ``rewards`` (the default reward in the presets), by seed and test photograph.

``checkpoints`` (fractions of ``train_steps``, e.g. ``[0.0, 0.5, 1.0]``) measure a learning curve instead of the
final budget only: which reward makes the agent learn fastest (``learning_curves.md``). Outputs: results.csv
(resumable), summary.md/.csv, per_cell.md/.csv, PNG plots.

    python -m experiments.reward_shaping --preset pgpe    # PGPE under 3 rewards that differ in kind, 10 seeds
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from agents import agent_entry
from experiments.cli import Experiment, grid_main
from experiments.grid import ResultsStore
from experiments.qat_runs import QATJob, RunSpec
from experiments.rl_benchmark import reference_jobs
from experiments.spec import cell_name, check_batch, check_checkpoints, checkpoint_budgets
from experiments.scoring import report_scores
from spark_env.errors import ConfigError
from spark_env.rewards import REWARDS, resolve_reward

KEY_COLUMNS = ("cell", "reward", "seed")


@dataclass
class RewardShapingSpec:
    rewards: list[str] = field(default_factory=lambda: list(REWARDS))
    agent: str = "spark"
    cells: list[dict[str, Any]] = field(default_factory=lambda: [{"task": "sr_x2", "arch": "fsrcnn"}])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    train_steps: int = 128
    env_preset: str = "quick"
    overrides: dict[str, Any] = field(default_factory=dict)
    agent_kwargs: dict[str, Any] = field(default_factory=dict)
    test_folders: dict[str, str] = field(default_factory=dict)
    batch: int = 8  # training crops per QAT step
    checkpoints: list[float] | None = None  # fractions of train_steps measured (a learning curve); None: the end only

    def __post_init__(self) -> None:
        check_batch(self.batch)
        agent_entry(self.agent)  # an unknown agent or reward is an error now, not mid-grid
        for reward in self.rewards:
            resolve_reward(reward)
        if self.train_steps < 1:
            raise ConfigError(f"train_steps={self.train_steps} is invalid; allowed: >= 1")
        if self.checkpoints is not None:
            check_checkpoints(self.checkpoints)

    @property
    def budgets(self) -> list[int]:
        """Training env steps at which the agent is measured (the last is ``train_steps``)."""
        return checkpoint_budgets(self.train_steps, self.checkpoints or [1.0])


def jobs(spec: RewardShapingSpec) -> list[QATJob]:
    base = RunSpec(preset=spec.env_preset, test_folders=spec.test_folders, batch=spec.batch)
    grid = []
    for cell in spec.cells:
        overrides = {**spec.overrides, **cell}
        # reference rows use the 'reward' column for what they are: teacher, ptq, uniform
        grid += reference_jobs(cell, overrides, spec.seeds, base, "reward")
        for seed in spec.seeds:
            key = {"cell": cell_name(cell), "reward": "uniform", "seed": seed}
            grid.append(QATJob(key, replace(base, seed=seed, overrides=overrides)))
        for reward in spec.rewards:
            for seed in spec.seeds:
                key = {"cell": cell_name(cell), "reward": reward, "seed": seed}
                run = replace(base, agent=spec.agent, seed=seed, overrides={**overrides, "reward": reward},
                              agent_kwargs=spec.agent_kwargs, pretrain_steps=spec.train_steps)
                if spec.checkpoints is None:
                    grid.append(QATJob(key, run))
                else:
                    grid.append(QATJob(key, replace(run, pretrain_steps=0), kind="curve",
                                       budgets=tuple(spec.budgets)))
    return grid


def report(store: ResultsStore, spec: RewardShapingSpec) -> None:
    learners = spec.rewards if spec.checkpoints is not None else ()
    report_scores(store, "reward", learners, f"Reward shaping: agent '{spec.agent}' trained {spec.train_steps} env "
                  "steps under each reward, then one standard QAT run per seed; yardstick = test PSNR of the final "
                  "student", extra_references=spec.rewards[:1])


EXPERIMENT = Experiment("reward_shaping", RewardShapingSpec, jobs, KEY_COLUMNS, report)


def main(argv: list[str] | None = None) -> None:
    grid_main(argv, __doc__, EXPERIMENT)


if __name__ == "__main__":
    main()
