"""A trained policy applied to new QAT runs without retraining: the shipped SPARK policy, or a user's policy file.

    agent = make_agent("spark_pretrained", env)                        # the policy shipped in agents/policies/
    agent = make_agent("spark_pretrained", env, shipped="gated_fsrcnn_x2_w4a4")  # another shipped policy, by name
    agent = make_agent("spark_pretrained", env, path="my_policy.pt")   # a policy file of PGPE / CMA-ES /
                                                                       # spark_episodic (their ``save``)

The shipped policy is ``agents/policies/spark_pretrained.pt``, a linear policy: 4 weights of the z-scored difficulty
channels (agents.parameter_search), the map ``clip(sum_c w_c z_c(grid), -1, 1)``. Beside it,
``spark_pretrained.json`` (its manifest) records how it was made (the command, the agent, the cells and seeds it was
trained on, the training budget, package / torch versions and the CPU kernel), its weights and the file's SHA-256,
which is checked before the file is loaded (``torch.load(..., weights_only=True)``): a file modified after it was
made is refused. Retrain it with ``python -m experiments.train_policy`` (docs/trained_policy.md). The other policies
in ``agents/policies/`` (``shipped_policies()``; each with its manifest) are results of the headroom search that
presets measure; ``shipped=<name>`` applies one the same way.

The agent does not learn (``learns=False``): it acts in the env's action space (``map``: the policy's map per crop;
``channel_weights``: its 4 weights; ``gated`` and ``cnn`` policies need ``map``) and drives a QAT run as a fixed
method does.
A missing, corrupt, modified or malformed policy file is a ConfigError naming the file and what is wrong.
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gymnasium as gym
import numpy as np

from agents.base import Agent
from agents.parameter_search import build_policy, load_policy_file, save_policy_file
from spark_env.errors import ConfigError

POLICY_DIR = Path(__file__).resolve().parent / "policies"
SHIPPED_POLICY = POLICY_DIR / "spark_pretrained.pt"
SHIPPED_MANIFEST = SHIPPED_POLICY.with_suffix(".json")


def shipped_policies() -> list[str]:
    """Names of the policies shipped in ``agents/policies/`` (one manifest ``<name>.json`` each)."""
    return sorted(path.stem for path in POLICY_DIR.glob("*.json"))


def read_policy_manifest(path: str | Path = SHIPPED_MANIFEST) -> dict[str, Any]:
    """A policy's manifest: a JSON object with at least ``sha256`` (the shipped policy's by default)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"policy manifest '{path}' does not exist; make the shipped policy with "
                          "python -m experiments.train_policy")
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"policy manifest '{path}' is not valid JSON: {error}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sha256"), str):
        raise ConfigError(f"policy manifest '{path}' has no 'sha256' string")
    return manifest


class PretrainedPolicyAgent(Agent):
    """Acts with a trained policy's parameters, fixed: the shipped SPARK policy, another shipped policy
    (``shipped``: one of shipped_policies()) or the policy file at ``path``; ``sha256``: the hash that file must have
    (a shipped file's is its manifest's)."""

    name = "spark_pretrained"

    def __init__(self, env: gym.Env, seed: int | None = None, path: str | Path | None = None,
                 sha256: str | None = None, shipped: str | None = None) -> None:
        super().__init__(env, seed)
        if path is None:
            if sha256 is not None:
                raise ConfigError(f"sha256={sha256!r} without a path; allowed: sha256 with path=<policy file> (a "
                                  "shipped policy's hash is read from its manifest)")
            path, sha256 = self._shipped_file(shipped or SHIPPED_POLICY.stem)
        elif shipped is not None:
            raise ConfigError(f"shipped={shipped!r} and path={str(path)!r}; allowed: one of them")
        self.load(path, sha256)

    @staticmethod
    def _shipped_file(name: str) -> tuple[Path, str]:
        """The file and SHA-256 of the shipped policy ``name``, from its manifest."""
        if name not in shipped_policies():
            raise ConfigError(f"shipped={name!r} is not a shipped policy; allowed: {', '.join(shipped_policies())}")
        manifest = read_policy_manifest(POLICY_DIR / f"{name}.json")
        return POLICY_DIR / manifest.get("policy_file", f"{name}.pt"), manifest["sha256"]

    def load(self, path: str | Path, sha256: str | None = None) -> "PretrainedPolicyAgent":
        """Act with the policy file at ``path`` from now on (its SHA-256 checked when ``sha256`` is given)."""
        self.path = Path(path)
        self.mu, self.config = load_policy_file(self.path, sha256)
        try:
            self.policy_class = build_policy(SimpleNamespace(**self.config), self.action_space_name)
        except ValueError as error:  # e.g. a cnn policy in the channel_weights action space
            raise ConfigError(f"policy file '{self.path}' does not fit this env: {error}") from None
        return self

    def act_batch(self, grids: np.ndarray, deterministic: bool = False) -> np.ndarray:
        return self.policy_class.actions(self.mu, grids)

    def policy_parameters(self) -> dict[str, float]:
        """Linear: the weights ``w_<channel>``; gated: those and ``gate_<channel>``, ``gate_bias``; cnn: the parameter
        vector's norm."""
        return self.policy_class.named(self.mu)

    def save(self, path: str | Path) -> None:
        """The policy file, as loaded (parameters and config)."""
        save_policy_file(path, self.mu, self.config)
