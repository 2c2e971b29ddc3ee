"""Everything that acts in SparkKD, behind one interface: ``make_agent(name, env, seed=0, **kwargs)``.

The agents are registered in ``agents.registry`` (``AGENTS``; ``agent_names()`` lists them): ``spark`` (built-in
policy CNN + REINFORCE), ``spark_distill`` (the same policy regressed onto the lookahead map: dense per-cell credit;
its env needs ``lookahead_info=True``), ``lookahead`` (the meta-gradient map, read from the env's episode),
``pgpe`` (parameter-exploring policy gradients on a linear policy of the z-scored difficulty channels, antithetic
pairs on the same QAT seed), ``ppo``, ``a2c``, ``sac``, ``td3`` (Stable-Baselines3), ``uniform``, ``random``,
``heuristic_<channel>`` for each difficulty channel and ``heuristic_combined``; ``spark_pretrained`` applies a
trained policy without retraining (the shipped one, or ``path=`` a policy file; agents.pretrained). Wherever a
name is accepted, ``"package.module:factory"`` names a user's agent.

Exploration held for a whole run (``EPISODIC``): ``ppo_episodic`` / ``a2c_episodic`` act in the ``channel_weights``
action space with one decision per run (``decision_interval: 0``, the registered env overrides) and one action for
every crop, so each Gaussian draw is judged by the run's return; ``spark_episodic`` is PGPE on the SPARK agent's
3-conv CNN (parameter-space noise held per episode, antithetic pairs on the same seed); ``random_weights`` is their
random baseline: one uniformly random channel-weight vector per run. ``ppo_episodic_crn`` / ``a2c_episodic_crn``
add common random numbers: the 4 runs of a rollout start from one QAT seed (``episodes_per_seed: 4``). ``cmaes``
(``cma``'s CMA-ES on the 4 channel weights, one QAT seed per generation of 4) is the black-box reference.
"""
from __future__ import annotations

import functools
import math

from agents.base import Agent
from agents.fixed import HeuristicAgent, RandomAgent, UniformAgent
from agents.lookahead import DistillConfig, LookaheadAgent, LookaheadDistillAgent
from agents.pgpe import PGPEAgent, PGPEConfig
from agents.pretrained import PretrainedPolicyAgent
from agents.registry import (AGENTS, AgentEntry, agent_entry, agent_names, make_agent, register_agent,
                             unregister_agent)
from agents.spark import SparkAgent, SparkAgentConfig
from spark_env.difficulty import CHANNELS

SB3_NAMES = ("ppo", "a2c", "sac", "td3")


def _sb3_factory(algorithm: str):
    def factory(env, seed: int = 0, **kwargs) -> Agent:
        from agents.sb3 import SB3Agent  # imports stable-baselines3 only when asked for
        return SB3Agent(env, algorithm, seed=seed, **kwargs)
    return factory


# SB3 settings of one decision per run: a rollout of 4 runs per update, the return undiscounted, the Gaussian's
# initial std 0.3 (PGPE's sigma on the same 4 weights). Set a priori; on the validation photographs half and double
# the initial std were not better (`rl_benchmark --preset tune_val`, docs/rl_benchmark.md section 8).
EPISODIC_SB3 = {
    "ppo": {"n_steps": 4, "batch_size": 4, "n_epochs": 10, "learning_rate": 1e-3, "gamma": 1.0, "gae_lambda": 1.0,
            "policy_kwargs": {"log_std_init": math.log(0.3)}},
    "a2c": {"n_steps": 4, "learning_rate": 1e-3, "gamma": 1.0, "gae_lambda": 1.0, "normalize_advantage": True,
            "policy_kwargs": {"log_std_init": math.log(0.3)}},
}
EPISODIC_ENV = {"action_space": "channel_weights", "decision_interval": 0}
# the SPARK CNN searched by PGPE: sigma 0.2 perturbs its map as much as sigma 0.3 perturbs the linear policy's (map
# std about 0.5 on tiny-preset grids); lr 0.25 keeps the mean's random walk over 6 updates below sigma
SPARK_EPISODIC = {"policy": "cnn", "sigma": 0.2, "lr": 0.25}


# Common random numbers (``*_episodic_crn``): the runs of one rollout start from one QAT seed (``episodes_per_seed``
# = the rollout's 4 runs), so the rollout-normalised advantages compare actions on equal terms: the seed-to-seed
# spread of a run's return, twice the policy effect (docs/rl_benchmark.md), cancels as in PGPE's pairs.
EPISODIC_CRN_ENV = {**EPISODIC_ENV, "episodes_per_seed": 4}


def _episodic_sb3_factory(name: str, algorithm: str, env_needs: dict):
    def factory(env, seed: int = 0, **kwargs) -> Agent:
        from agents.sb3 import SB3Agent
        config = env.unwrapped.config
        found = {key: getattr(config, key) for key in env_needs}
        if found != env_needs:
            raise ValueError(f"{name} needs an env with {env_needs}; this env has {found}")
        settings = {**EPISODIC_SB3[algorithm], **kwargs}
        if settings["n_steps"] % config.episodes_per_seed:
            raise ValueError(f"{name}: a rollout of n_steps={settings['n_steps']} runs would mix QAT seeds; allowed: a "
                             f"multiple of the env's episodes_per_seed={config.episodes_per_seed}")
        return SB3Agent(env, algorithm, seed=seed, shared_decision=True, **settings)
    return factory


def _spark_episodic(env, seed: int = 0, **kwargs) -> Agent:
    return PGPEAgent(env, seed=seed, **{**SPARK_EPISODIC, **kwargs})


def _cmaes(env, seed: int = 0, **kwargs) -> Agent:
    from agents.cmaes import CMAESAgent  # imports the cma package only when asked for
    return CMAESAgent(env, seed=seed, **kwargs)


def _heuristic_factory(channel: str):
    def factory(env, seed: int = 0, **kwargs) -> Agent:
        return HeuristicAgent(env, channel, seed, **kwargs)
    return factory


register_agent("spark", SparkAgent, learns=True, summary="the paper's 3-conv policy CNN, REINFORCE")
register_agent("spark_distill", LookaheadDistillAgent, learns=True, env_overrides={"lookahead_info": True},
               summary="the policy CNN regressed onto the lookahead map")
register_agent("pgpe", PGPEAgent, learns=True, summary="PGPE on 4 weights of the z-scored difficulty channels")
for _name in SB3_NAMES:
    register_agent(_name, _sb3_factory(_name), learns=True, summary=f"Stable-Baselines3 {_name.upper()}")
for _name in EPISODIC_SB3:
    for _suffix, _env, _seeds in (("episodic", EPISODIC_ENV, ""),
                                  ("episodic_crn", EPISODIC_CRN_ENV, ", a rollout's 4 runs on one QAT seed")):
        register_agent(f"{_name}_{_suffix}", _episodic_sb3_factory(f"{_name}_{_suffix}", _name, _env), learns=True,
                       env_overrides=_env,
                       summary=f"SB3 {_name.upper()}, grid CNN -> 4 channel weights, one decision per run{_seeds}")
register_agent("cmaes", _cmaes, learns=True, env_overrides=EPISODIC_ENV,
               summary="CMA-ES on the 4 channel weights, one decision per run, one QAT seed per generation")
register_agent("spark_episodic", _spark_episodic, learns=True,
               summary="PGPE on the SPARK agent's 3-conv CNN (noise in parameter space, held per episode)")
register_agent("uniform", UniformAgent, learns=False, summary="the zero action: uniform KD")
register_agent("random", RandomAgent, learns=False, summary="uniformly random maps")
register_agent("random_weights", functools.partial(RandomAgent, shared=True), learns=False, env_overrides=EPISODIC_ENV,
               summary="one uniformly random channel-weight vector per run, for every crop")
register_agent("spark_pretrained", PretrainedPolicyAgent, learns=False,
               summary="a trained policy applied fixed: the shipped one (PGPE's 4 channel weights) or a policy file")
register_agent("lookahead", LookaheadAgent, learns=False, summary="the per-cell meta-gradient map (no RL)")
for _channel in (*CHANNELS, "combined"):
    register_agent(f"heuristic_{_channel}", _heuristic_factory(_channel), learns=False,
                   summary=f"more KD where the {_channel} channel is high" if _channel != "combined"
                   else "more KD where the mean z-score of the four channels is high")

__all__ = ["AGENTS", "Agent", "AgentEntry", "DistillConfig", "LookaheadAgent", "LookaheadDistillAgent",
           "PGPEAgent", "PGPEConfig", "PretrainedPolicyAgent", "SB3_NAMES", "SparkAgent", "SparkAgentConfig",
           "agent_entry", "agent_names", "make_agent", "register_agent", "unregister_agent"]
