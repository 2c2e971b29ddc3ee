"""Optuna search spaces for rl-zoo3 on SparkKD, where an env step is a QAT step or a whole QAT run.

The zoo's own PPO and A2C samplers (``rl_zoo3.hyperparams_opt``) draw rollouts of 32 to 4,096 env steps, sized for
environments whose steps cost microseconds; on SparkKD with one decision per QAT run a single such rollout is 32 to
4,096 QAT runs. Importing this module, which ``--gym-packages spark_env agents.zoo_search`` does, replaces the
zoo's ``ppo`` and ``a2c`` samplers by ones sized for SparkKD: rollouts of 2, 4 or 8 decisions, the learning rate,
the initial exploration std of the Gaussian policy (around PGPE's 0.3), PPO's epochs and clip range; the grid CNN
(agents.sb3.GridFeaturesExtractor) stays the policy's features extractor, the return stays undiscounted. The
zoo's objective is the mean return of evaluation episodes (the probe PSNR gain, measured on the validation
photographs), so a study tunes on the validation side; the test photographs then score the chosen setting.
"""
from __future__ import annotations

import math
from typing import Any

import optuna
from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER, HYPERPARAMS_SAMPLER

from agents.sb3 import GridFeaturesExtractor


def convert(params: dict[str, Any]) -> dict[str, Any]:
    """A trial's parameters -> the algorithm's hyperparameters (rl-zoo3's converter: ``--trial-id`` loads a trial)."""
    hyperparams = {key: value for key, value in params.items() if key != "initial_std"}
    if "n_epochs" in params:  # PPO: the minibatch is the whole rollout
        hyperparams["batch_size"] = params["n_steps"]
    return {**hyperparams, "gamma": 1.0, "gae_lambda": 1.0,
            "policy_kwargs": {"features_extractor_class": GridFeaturesExtractor,
                              "log_std_init": math.log(params["initial_std"])}}


def _shared(trial: optuna.Trial) -> dict[str, Any]:
    return {"n_steps": trial.suggest_categorical("n_steps", [2, 4, 8]),
            "initial_std": trial.suggest_float("initial_std", 0.1, 0.6, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)}


def sample_ppo(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """PPO: rollout length, learning rate, initial std, epochs per update, clip range (minibatch: ``n_steps``
    samples, the whole rollout with one decision for all crops, an eighth of it with 8 crops deciding apart)."""
    return convert({**_shared(trial), "n_epochs": trial.suggest_categorical("n_epochs", [5, 10, 20]),
                    "clip_range": trial.suggest_categorical("clip_range", [0.1, 0.2, 0.3])})


def sample_a2c(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """A2C: rollout length, learning rate, initial std, advantage normalisation."""
    return convert({**_shared(trial),
                    "normalize_advantage": trial.suggest_categorical("normalize_advantage", [True, False])})


HYPERPARAMS_SAMPLER.update({"ppo": sample_ppo, "a2c": sample_a2c})
HYPERPARAMS_CONVERTER.update({"ppo": convert, "a2c": convert})
