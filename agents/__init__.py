"""Everything that acts in SparkKD-v0, behind one interface: ``make_agent(name, env, **kwargs)``.

Names: ``spark`` (built-in policy CNN + REINFORCE), ``spark_distill`` (the same policy regressed onto the lookahead
map: dense per-cell credit; its env needs ``lookahead_info=True``), ``lookahead`` (the meta-gradient map, read from
the env's episode), ``pgpe`` (parameter-exploring policy gradients on a linear
policy of the z-scored difficulty channels, antithetic pairs on the same QAT seed), ``ppo``, ``a2c``, ``sac``,
``td3`` (Stable-Baselines3), ``uniform``, ``random``, ``heuristic_laplacian``, ``heuristic_variance``,
``heuristic_error``, ``heuristic_gap``, ``heuristic_combined``.
"""
from __future__ import annotations

from agents.base import Agent
from agents.fixed import HEURISTIC_CHANNELS, HeuristicAgent, RandomAgent, UniformAgent
from agents.lookahead import DistillConfig, LookaheadAgent, LookaheadDistillAgent
from agents.pgpe import PGPEAgent, PGPEConfig
from agents.spark import SparkAgent, SparkAgentConfig

SB3_NAMES = ("ppo", "a2c", "sac", "td3")
AGENT_NAMES = ("spark", "spark_distill", "pgpe", *SB3_NAMES, "uniform", "random", "lookahead",
               *(f"heuristic_{c}" for c in (*HEURISTIC_CHANNELS, "combined")))


def make_agent(name: str, env, seed: int = 0, **kwargs) -> Agent:
    """Build an agent by name for ``env``; ``seed`` seeds the first env reset of ``learn`` (every agent), learning
    agents and the random agent. An unknown name raises ValueError listing the known ones."""
    if name == "spark":
        return SparkAgent(env, seed=seed, **kwargs)
    if name == "pgpe":
        return PGPEAgent(env, seed=seed, **kwargs)
    if name == "spark_distill":
        return LookaheadDistillAgent(env, seed=seed, **kwargs)
    if name == "lookahead":
        return LookaheadAgent(env, seed, **kwargs)
    if name in SB3_NAMES:
        from agents.sb3 import SB3Agent  # imports stable-baselines3 only when asked for
        return SB3Agent(env, name, seed=seed, **kwargs)
    if name == "uniform":
        return UniformAgent(env, seed)
    if name == "random":
        return RandomAgent(env, seed=seed)
    if name.startswith("heuristic_") and name in AGENT_NAMES:
        return HeuristicAgent(env, name.removeprefix("heuristic_"), seed, **kwargs)
    raise ValueError(f"unknown agent '{name}'; available: {', '.join(AGENT_NAMES)}")


__all__ = ["AGENT_NAMES", "Agent", "DistillConfig", "LookaheadAgent", "LookaheadDistillAgent", "PGPEAgent",
           "PGPEConfig", "SparkAgent", "SparkAgentConfig", "make_agent"]
