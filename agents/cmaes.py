"""CMA-ES (Hansen's ``cma`` package) on the 4 channel weights, one QAT seed per generation: a black-box reference.

The policy class is PGPE's ``linear`` one (agents.parameter_search): the weights of the z-scored difficulty
channels, starting at 0 (uniform KD). Each generation ``cma`` proposes ``popsize`` weight vectors; each drives one
whole QAT run, and all runs of a generation start from the *same* QAT seed (common random numbers), so the
ranking CMA-ES uses compares the candidates on equal terms: the seed-to-seed spread of a run's return, about twice
the policy effect here, cancels as in PGPE's pairs. ``cma`` minimises, so it is told the negated returns. The agent
acts with the distribution's mean.

``popsize`` 4 (``cma``'s default for 4 parameters is 8) gives the same update cadence as PGPE (2 pairs) and the
episodic SB3 agents (rollouts of 4 runs): 4 generations in the benchmark's 16-run budget. ``sigma0`` 0.3 equals
PGPE's sigma. Both set a priori; ``sigma0`` 0.15 and 0.6 were not better on the validation photographs
(``rl_benchmark --preset tune_val``, docs/rl_benchmark.md section 8). Every other option is ``cma``'s default
(with a population under 6 that includes mirrored sampling: one candidate of each generation mirrors another; no
bounds: the env clips weights to [-1, 1], as for PGPE). ``cma`` draws its samples from the agent's own generator
(its ``randn`` option), never from numpy's global one. The budget is spent in whole generations; the rest carries
over to the next ``learn`` call. The policy file (``save``) holds the mean, not the search state: ``load`` restarts
the search from the loaded mean with ``sigma0``. The CNN policy class is not offered: its 10,721 parameters would
need a 10,721 x 10,721 covariance and far more runs per generation than the budget holds.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agents.base import Callback, agent_config
from agents.parameter_search import ParameterSearchAgent, load_policy_file
from spark_env.difficulty import CHANNELS
from spark_env.errors import ConfigError


@dataclass
class CMAESConfig:
    sigma0: float = 0.3            # initial step size of the search distribution (weights units)
    popsize: int = 4               # candidate runs per generation, all from one QAT seed
    init: list[float] = field(default_factory=lambda: [0.0] * len(CHANNELS))  # initial weights (0 = uniform)
    policy: str = "linear"         # policy class: linear only (agents.parameter_search)
    seed: int = 0


class CMAESAgent(ParameterSearchAgent):
    name = "cmaes"
    config_class = CMAESConfig

    def __init__(self, env, config: CMAESConfig | None = None, seed: int | None = None, **overrides) -> None:
        config = agent_config(CMAESConfig, config, seed, overrides)
        if not config.sigma0 > 0 or config.popsize < 2:
            raise ValueError(f"CMA-ES needs sigma0 > 0 and popsize >= 2; got {config}")
        if config.policy != "linear":
            raise ValueError(f"CMA-ES policy {config.policy!r} is not offered; allowed: linear")
        super().__init__(env, config)
        self.strategy = self._new_strategy()

    def _new_strategy(self):
        """A CMA-ES search around ``mu`` with step ``sigma0``, sampling from the agent's generator."""
        import cma  # imported when an agent is built, not with the agents package

        return cma.CMAEvolutionStrategy(
            self.mu.tolist(), self.config.sigma0,
            {"popsize": self.config.popsize, "seed": np.nan, "verbose": -9, "verb_log": 0, "verb_disp": 0,
             "randn": lambda count, dimension: self.rng.standard_normal((count, dimension))})

    def load(self, path) -> "CMAESAgent":
        policy = load_policy_file(path)[1]["policy"]
        if policy != "linear":  # e.g. a PGPE gated or cnn policy file
            raise ConfigError(f"policy file '{path}' holds a {policy} policy; CMA-ES searches linear policies only")
        super().load(path)
        self.strategy = self._new_strategy()  # search again from the loaded mean
        return self

    def learn(self, total_steps: int, callback: Callback | None = None) -> "CMAESAgent":
        self._unspent_steps += total_steps
        done_steps = 0
        while self._affords(self.config.popsize):
            seed = self._next_seed()
            candidates = self.strategy.ask()
            returns, steps = self._episodes([np.asarray(c, dtype=np.float64) for c in candidates], seed)
            done_steps += steps
            self.strategy.tell(candidates, [-r for r in returns])
            self.mu = np.asarray(self.strategy.mean, dtype=np.float64)
            self.history.append({"step": done_steps, "seed": seed, "returns": returns, "mu": self.mu.tolist(),
                                 "sigma": float(self.strategy.sigma)})
            if callback is not None and callback(locals()) is False:
                break
        return self
