"""rl-zoo3 on SparkKD: the benchmark's env setting for the zoo, and zoo-trained models measured as agents.

The zoo builds ``n_envs`` separate envs (``make_vec_env``): each its own student, one crop per QAT step. The
benchmark's setting is one student trained on ``batch`` crops per QAT step (``SparkKDVectorEnv``). The zoo's
``vec_env_wrapper`` hyperparameter gives it that setting::

    SparkKD-v2:
      n_envs: 1                                   # the zoo's own env is built, read for its kwargs, then closed
      vec_env_wrapper:
        - agents.zoo.shared_student: {batch: 8}   # ... replaced by the benchmark's batched env

``shared_student`` builds the batched env with the same id and kwargs, seen by SB3 as ``batch`` envs (one action
per crop, the per-crop rewards), or, with ``shared_decision: true``, as one env whose one action every crop
applies (the setting of ``ppo_episodic`` / ``a2c_episodic``). Hyperparameter files: experiments/configs/zoo/.

A model the zoo trained is measured like any agent with ``"agents.zoo:ZooPolicy"`` (a model of the map space) or
``"agents.zoo:ZOO_EPISODIC"`` (a model of the episodic files: the channel-weights space, one decision per run) and
``agent_kwargs`` ``{path: <model zip>, algo: ppo}`` (it does not learn in the experiments: it acts
deterministically, as trained).
"""
from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
from stable_baselines3.common.save_util import load_from_zip_file
from stable_baselines3.common.vec_env import VecEnv, VecMonitor

from agents.base import Agent
from agents.registry import AgentEntry
from agents.sb3 import BatchedVecEnvAdapter, SB3Agent


def shared_student(venv: VecEnv, batch: int = 8, shared_decision: bool = False) -> VecEnv:
    """rl-zoo3 ``vec_env_wrapper``: replace the zoo's envs by SparkKD's batched env of the same id and kwargs
    (``batch`` crops per QAT step, one student), with episode statistics for the zoo's logs (VecMonitor)."""
    spec = venv.get_attr("spec", indices=0)[0]
    if spec is None or not spec.id.startswith("SparkKD"):
        raise ValueError(f"shared_student wraps SparkKD envs; got {getattr(spec, 'id', None)!r}")
    venv.close()
    vector = gym.make_vec(spec.id, num_envs=batch, vectorization_mode="vector_entry_point", **spec.kwargs)
    return VecMonitor(BatchedVecEnvAdapter(vector, shared_decision))


class ZooPolicy(Agent):
    """An SB3 model trained by rl-zoo3 (its ``<algo>/<env>_<k>/<env>.zip`` or ``best_model.zip``) as an agent of the
    experiments: it acts deterministically and learns nothing here (``learns = False``: the experiments measure it
    as trained). ``shared_decision`` defaults to the model's own setting: one action for every crop when the model
    saw one env (``shared_student`` with ``shared_decision: true``)."""

    name = "zoo_policy"
    learns = False

    def __init__(self, env, seed: int = 0, path: str | Path = "", algo: str = "ppo",
                 shared_decision: bool | None = None) -> None:
        super().__init__(env, seed)
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"zoo model '{path}' does not exist; pass agent_kwargs path=<the zoo's .zip>")
        if shared_decision is None:
            data, _, _ = load_from_zip_file(path, load_data=True, device="cpu")
            shared_decision = data.get("n_envs") == 1
        self.model = SB3Agent(env, algo, seed=seed, shared_decision=shared_decision).load(path)

    def act_batch(self, grids: np.ndarray, deterministic: bool = False) -> np.ndarray:
        return self.model.act_batch(grids, deterministic=True)

    def save(self, path: str | Path) -> None:
        self.model.save(path)

    def load(self, path: str | Path) -> "ZooPolicy":
        self.model.load(path)
        return self


# a model trained with ppo_episodic.yml / a2c_episodic.yml: its env needs the episodic setting
ZOO_EPISODIC = AgentEntry("zoo_episodic", ZooPolicy, learns=False,
                          env_overrides={"action_space": "channel_weights", "decision_interval": 0})
