"""One QAT run of SparkKD driven by an agent, measured on held-out images: the unit every experiment repeats.

``qat_run(RunSpec(...))`` builds a fresh batched env (``SparkKDVectorEnv``: ``batch`` crops per QAT step, each with its
own grid and weight map, one shared student), lets the agent drive one episode (online agents learn during it, as
the paper's SPARK does: the policy is trained while the student trains, then discarded), and evaluates the final
student (PSNR-Y / SSIM-Y on the test split, or on the user's test folders). ``pretrain_steps`` first trains the
agent for that many env steps on other QAT runs of the same config (the RL-benchmark setting); the measured run
then starts from the run seed with the agent acting deterministically.
"""
from __future__ import annotations

import functools
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import spark_env  # noqa: F401  (registers the env ids)
from agents import agent_entry, make_agent
from spark_env.data import DEFAULT_IMAGE_SET, get_task, load_pairs
from spark_env.errors import ConfigError
from spark_env.imports import is_import_spec
from spark_env.evaluation import evaluate_images
from spark_env.protocols import latest_env_id
from spark_env.quant.student_file import student_bytes
from spark_env.wrappers import QATRunRecorder, RecordedRun

PRETRAIN_SEED_OFFSET = 100_000  # pretraining episodes use seeds away from the measured runs'
SCORE_SPLITS = ("test", "val")  # what a measured run's final student can be scored on


@dataclass(frozen=True)
class RunSpec:
    """What one measured QAT run is. ``overrides`` are SparkConfig overrides on top of ``preset``; a ``reward``
    among them may be a ``"package.module:function"`` string (resolved by the env where the run executes, so jobs
    pickle)."""

    agent: str = "uniform"                       # a registered agent name or "package.module:factory"
    batch: int = 8                               # training crops per QAT step (the vector env's num_envs)
    seed: int = 0                                # the QAT run's seed (calibration crops, training crops, agent)
    preset: str = "quick"
    overrides: dict[str, Any] = field(default_factory=dict)
    agent_kwargs: dict[str, Any] = field(default_factory=dict)
    pretrain_steps: int = 0                      # agent training on other QAT runs before the measured one
    test_folders: dict[str, str] = field(default_factory=dict)  # name -> benchmark folder; empty = test split
    example_steps: tuple[int, ...] = ()          # env steps whose weight maps and crops are kept
    score_split: str = "test"                    # what the final student is scored on: "test", or "val" (the
                                                 # embedded validation photographs, for tuning; not with folders)
    save_student: bool = False                   # keep the final student (a student file, for export)

    def __post_init__(self) -> None:
        if self.score_split not in SCORE_SPLITS:
            raise ConfigError(f"score_split={self.score_split!r} is invalid; allowed: {', '.join(SCORE_SPLITS)}")
        if self.score_split != "test" and self.test_folders:
            raise ConfigError("score_split='val' scores the embedded validation photographs; it cannot be combined "
                              "with test_folders")


JOB_KINDS = ("teacher", "ptq", "qat", "curve")


@dataclass(frozen=True)
class QATJob:
    """One job of a QAT grid (experiments.grid): ``key`` holds the key columns copied into every result row (and
    used to resume); ``kind`` says what is measured: ``teacher`` (the FP teacher), ``ptq`` (the run's start state),
    ``qat`` (a measured QAT run, after ``run.pretrain_steps`` of agent training when set) or ``curve``
    (``learning_curve`` at ``budgets``, one row per budget)."""

    key: dict[str, Any]
    run: RunSpec
    kind: str = "qat"
    budgets: tuple[int, ...] = ()                # kind "curve": training env steps at which the agent is measured

    def __post_init__(self) -> None:
        if self.kind not in JOB_KINDS:
            raise ConfigError(f"job kind {self.kind!r} is invalid; allowed: {', '.join(JOB_KINDS)}")
        if (self.kind == "curve") != bool(self.budgets):
            raise ConfigError("a 'curve' job needs budgets, and only a 'curve' job takes them")


@dataclass
class RunResult:
    metrics: dict[str, float]   # test figures (per test set when several) and run figures
    recorded: RecordedRun | None
    per_image: list[dict]       # one row per test image: test_set, image, psnr, ssim
    policy: tuple[str, bytes] | None = None  # (file suffix, bytes) of the agent saved after its training budget
    student: bytes | None = None             # the final student's file (spark_env.quant.student_file), if kept


EMBEDDED_TEST_SET = "embedded"


@functools.lru_cache(maxsize=16)
def _test_pairs(task_name: str, folder: str | None, image_set: str, split: str = "test") -> tuple:
    return tuple(load_pairs(get_task(task_name), split, folder, image_set=image_set))


def test_scores(model: torch.nn.Module | None, task_name: str, image_set: str,
                test_folders: dict[str, str], split: str = "test") -> tuple[dict[str, float], list[dict]]:
    """(figures, per-image rows) of a network on the test images: the test split of the embedded ``image_set``
    (``split="val"``: its validation split instead, for choices made before the test images score), or each user
    test folder. Figures: ``psnr`` / ``ssim`` (the mean over the images; with folders, the mean of
    the folders' means) and ``psnr_<name>`` / ``ssim_<name>`` per folder. Rows: ``test_set`` (``embedded`` or the
    folder's name), ``image``, ``psnr``, ``ssim``."""
    task = get_task(task_name)
    sets = test_folders or {EMBEDDED_TEST_SET: None}
    figures: dict[str, float] = {}
    rows: list[dict] = []
    for name, folder in sets.items():
        images = evaluate_images(model, list(_test_pairs(task_name, folder, image_set, split)), task)
        rows += [{"test_set": name, **row} for row in images]
        figures.update({f"psnr_{name}": float(np.mean([r["psnr"] for r in images])),
                        f"ssim_{name}": float(np.mean([r["ssim"] for r in images]))})
    figures["psnr"] = float(np.mean([figures[f"psnr_{n}"] for n in sets]))
    figures["ssim"] = float(np.mean([figures[f"ssim_{n}"] for n in sets]))
    if not test_folders:
        del figures[f"psnr_{EMBEDDED_TEST_SET}"], figures[f"ssim_{EMBEDDED_TEST_SET}"]
    return figures, rows


def spark_env_for(spec: RunSpec) -> gym.vector.VectorEnv:
    """The natively batched SparkKD env of a run: ``spec.batch`` crops share one student and one QAT step. The
    agent's registered env overrides apply under the spec's own; the env id is the newest protocol of the
    ``image_set`` override (``SparkKD-v2`` by default, ``SparkKD-v0`` for image set v0)."""
    overrides = {**agent_entry(spec.agent).env_overrides, **spec.overrides}
    env_id = latest_env_id(overrides.get("image_set", DEFAULT_IMAGE_SET))
    return gym.make_vec(env_id, num_envs=spec.batch, vectorization_mode="vector_entry_point",
                        preset=spec.preset, **overrides)


def check_run_agent(run: RunSpec) -> None:
    """Before a grid starts: build the run's agent for a 2-crop, 2-step env of the run's config on the tiny preset,
    let it act on the first observations (one finite float32 action per crop, of the env's action shape) and, when
    it learns, learn 4 env steps. Anything that fails is a ConfigError naming the agent and what failed (the full
    contract: spark_env.testing.check_agent)."""
    trial = replace(run, batch=2, preset="tiny", overrides={**run.overrides, "episode_steps": 2}, example_steps=(),
                    save_student=False)
    env = None
    try:
        env = spark_env_for(trial)
        agent = make_agent(trial.agent, env, seed=0, **trial.agent_kwargs)
        observations, _ = env.reset(seed=0)
        action = np.asarray(agent.act(observations, deterministic=True))
        expected = (trial.batch, *env.single_action_space.shape)
        if action.shape != expected or action.dtype != np.float32 or not np.isfinite(action).all():
            finite = "" if np.isfinite(action).all() else " with non-finite values"
            raise ConfigError(f"act returned {action.dtype} of shape {action.shape}{finite}; "
                              f"expected finite float32 of shape {expected}")
        if agent_entry(trial.agent).learns:
            agent.learn(2 * trial.batch)
    except Exception as error:  # the message names the agent and what failed, whatever raised it
        raise ConfigError(f"agent {run.agent!r} failed its check before the grid: {type(error).__name__}: {error}"
                          ) from error
    finally:
        if env is not None:
            env.close()


def check_user_agents(jobs: Sequence[Any]) -> None:
    """``check_run_agent`` once per agent named as ``"package.module:factory"`` among the jobs' runs and per setting
    that changes its interface (its keyword arguments, action space, decision interval), on the first run with them;
    the registered agents are covered by the project's tests."""
    checked = set()
    for job in jobs:
        run = getattr(job, "run", None)
        if run is None or not is_import_spec(run.agent):
            continue
        key = (run.agent, repr(sorted(run.agent_kwargs.items())), run.overrides.get("action_space"),
               run.overrides.get("decision_interval"))
        if key not in checked:
            checked.add(key)
            check_run_agent(run)


def make_env(spec: RunSpec, example_steps: tuple[int, ...] = ()) -> QATRunRecorder:
    return QATRunRecorder(spark_env_for(spec), example_steps)


def qat_run(spec: RunSpec) -> RunResult:
    """Run and measure one QAT run (see the module docstring)."""
    if spec.pretrain_steps > 0:
        return learning_curve(spec, (spec.pretrain_steps,))[0]
    began = time.perf_counter()
    recorder = make_env(spec, spec.example_steps)
    agent = make_agent(spec.agent, recorder, seed=spec.seed, **spec.agent_kwargs)
    # online: acts (and learns) during this very run; env steps count every crop of the batch
    agent.learn(recorder.unwrapped.config.episode_env_steps * spec.batch)
    return _measured(spec, recorder, began, 0.0, agent.policy_parameters())


def learning_curve(spec: RunSpec, budgets: Sequence[int]) -> list[RunResult]:
    """Train the agent on other QAT runs (seeds away from the run seed) and measure it after each of ``budgets``
    (non-decreasing; 0 measures the untrained agent): a fresh QAT run from the run seed, the trained policy acting
    deterministically. ``metrics["pretrain_seconds"]`` is the training time so far.

    A budget counts crop-steps, QAT steps times crops: the env steps of the batched env when every QAT step is a
    decision; an agent whose env holds decisions (``decision_interval``) gets the env steps of the same QAT runs
    (``budget * episode_env_steps / episode_steps``). Each result holds the agent as saved after its budget
    (``policy``: bytes of ``agent.save`` with its file suffix).
    """
    if list(budgets) != sorted(budgets) or (budgets and budgets[0] < 0):
        raise ConfigError(f"budgets {list(budgets)} must be non-negative and non-decreasing")
    env = spark_env_for(spec)
    config = env.unwrapped.config

    def env_steps(crop_steps: int) -> int:  # env steps of the same QAT runs: one per decision, not per QAT step
        return crop_steps * config.episode_env_steps // config.episode_steps

    agent = make_agent(spec.agent, env, seed=spec.seed + PRETRAIN_SEED_OFFSET, **spec.agent_kwargs)
    results, trained, train_seconds = [], 0, 0.0
    for budget in budgets:
        began = time.perf_counter()
        if budget > trained:
            agent.learn(env_steps(budget) - env_steps(trained))
            trained = budget
        train_seconds += time.perf_counter() - began
        recorder = make_env(spec, spec.example_steps)
        _act_one_episode(agent, recorder, spec.seed)
        result = _measured(spec, recorder, began, train_seconds, agent.policy_parameters())
        result.policy = saved_bytes(agent)
        results.append(result)
    return results


def saved_bytes(agent) -> tuple[str, bytes]:
    """What ``agent.save`` writes (a torch file, an SB3 zip): (file suffix, bytes)."""
    with tempfile.TemporaryDirectory() as folder:
        agent.save(Path(folder) / "policy")
        written = next(p for p in Path(folder).iterdir() if p.is_file())  # SB3 writes "policy.zip"
        return "".join(written.suffixes) or ".pt", written.read_bytes()


def _measured(spec: RunSpec, recorder: QATRunRecorder, began: float, train_seconds: float,
              policy_parameters: dict[str, float]) -> RunResult:
    """Test figures of a recorder's finished run, with its probe curve ends, return, wall times and the agent's
    ``policy_parameters`` (columns of their own)."""
    run = recorder.run
    if not recorder.finished:
        raise RuntimeError(f"agent '{spec.agent}' did not finish its QAT run")
    config = recorder.unwrapped.config
    metrics, per_image = test_scores(run.final_student, config.task, config.image_set, spec.test_folders,
                                     spec.score_split)
    metrics.update({"probe_start": run.start_psnr, "probe_end": run.curve[-1]["probe_psnr"],
                    "qat_steps": run.curve[-1]["qat_step"], "return": run.episode_return, "error": run.error,
                    "pretrain_seconds": round(train_seconds, 1),
                    "seconds": round(time.perf_counter() - began, 1), **policy_parameters})
    session = recorder.unwrapped.session
    student = student_bytes(run.final_student, config.task, session.quant) if spec.save_student else None
    return RunResult(metrics, run, per_image, student=student)


def _act_one_episode(agent, env: QATRunRecorder, seed: int) -> None:
    obs, _ = env.reset(seed=seed)
    done = False
    while not done:
        obs, _, terminated, truncated, _ = env.step(np.clip(agent.act(obs, deterministic=True), -1, 1))
        done = bool(terminated[0] or truncated[0])


def start_state_scores(spec: RunSpec) -> tuple[dict[str, float], list[dict]]:
    """The PTQ student a run starts from (quantized and calibrated with the run seed), on the test images."""
    env = spark_env_for(spec)
    env.reset(seed=spec.seed)
    config = env.unwrapped.config
    return test_scores(env.unwrapped.session.student.eval(), config.task, config.image_set, spec.test_folders,
                       spec.score_split)


def teacher_scores(spec: RunSpec) -> tuple[dict[str, float], list[dict]]:
    """The frozen FP teacher of the run's config on the test images (no env step is taken)."""
    env = spark_env_for(spec)
    config = env.unwrapped.config
    return test_scores(env.unwrapped.session.teacher, config.task, config.image_set, spec.test_folders,
                       spec.score_split)


def run_job(job: QATJob) -> dict[str, list[dict]]:
    """Grid job -> result tables (see experiments.grid): ``results`` (one row per measured run), ``per_image`` (one
    row per measured run and test image), ``curves`` (the probe PSNR per QAT step of the last run) and ``arrays``
    (its kept weight maps)."""
    key, spec = job.key, job.run
    reference = {"teacher": teacher_scores, "ptq": start_state_scores}.get(job.kind)
    if reference is not None:
        began = time.perf_counter()
        metrics, per_image = reference(spec)
        return {"results": [{**key, **metrics, "seconds": round(time.perf_counter() - began, 1)}],
                "per_image": [{**key, **row} for row in per_image]}
    if job.kind == "curve":  # a learning curve: one measured run per training budget
        budgets = list(job.budgets)
        measured = learning_curve(spec, budgets)
    else:
        budgets, measured = [spec.pretrain_steps], [qat_run(spec)]
    result = measured[-1]
    run_id = "_".join(str(v) for v in key.values())
    curve = [{**key, **point} for point in result.recorded.curve]
    arrays = [{"id": f"{run_id}_step{ex.qat_step}", "weights": ex.weights, "target": ex.target,
               "observation": ex.observation, "qat_step": ex.qat_step, **{k: str(v) for k, v in key.items()}}
              for ex in result.recorded.examples]
    rows = [{**key, "train_steps": budget, **run.metrics} for budget, run in zip(budgets, measured)]
    policies = [{"file": f"{key_path(key)}/steps{budget}{run.policy[0]}", "data": run.policy[1]}
                for budget, run in zip(budgets, measured) if run.policy is not None]
    students = [{"file": f"{key_path(key)}/steps{budget}_student.pt", "data": run.student}
                for budget, run in zip(budgets, measured) if run.student is not None]
    per_image = [{**key, "train_steps": budget, **row}
                 for budget, run in zip(budgets, measured) for row in run.per_image]
    # "results" last: it is the resume marker, so a kill before it reruns the job and rewrites the rest
    return {"policies": policies, "students": students, "per_image": per_image, "curves": curve, "arrays": arrays,
            "results": rows}


def safe_name(text: str) -> str:
    """``text`` as one file or folder name: every run of characters other than letters, digits, ``_``, ``=`` and
    ``-`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9_=-]+", "_", text)


def key_path(key: dict[str, Any]) -> str:
    """A relative folder path from a job key's values: ``{"cell": "sr_x2 fsrcnn", "agent": "pgpe", "seed": 3}`` ->
    ``sr_x2_fsrcnn/pgpe/seed3`` (each part a ``safe_name``)."""
    parts = [f"{k}{v}" if isinstance(v, int) else str(v) for k, v in key.items()]
    return "/".join(safe_name(part) for part in parts)
