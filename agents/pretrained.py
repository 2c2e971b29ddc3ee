"""A trained policy applied to new QAT runs without retraining: the shipped SPARK policy, or a user's policy file.

    agent = make_agent("spark_pretrained", env)                        # the policy shipped in agents/policies/
    agent = make_agent("spark_pretrained", env, path="my_policy.pt")   # a policy file of PGPE / CMA-ES /
                                                                       # spark_episodic (their ``save``)

The shipped policy is ``agents/policies/spark_pretrained.pt``, a linear policy: 4 weights of the z-scored difficulty
channels (agents.parameter_search), the map ``clip(sum_c w_c z_c(grid), -1, 1)``. Beside it,
``spark_pretrained.json`` records how it was made (the command, the agent, the cells and seeds it was trained on,
the training budget, package / torch versions and the CPU kernel), its weights and the file's SHA-256, which is
checked before the file is loaded (``torch.load(..., weights_only=True)``). Retrain it with
``python -m experiments.train_policy`` (docs/trained_policy.md).

The agent does not learn (``learns=False``): it acts in the env's action space (``map``: the policy's map per crop;
``channel_weights``: its 4 weights; a ``cnn`` policy needs ``map``) and drives a QAT run as a fixed method does.
A missing, corrupt, tampered or malformed policy file is a ConfigError naming the file and what is wrong.
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from agents.base import Agent
from agents.parameter_search import POLICIES, ConvMapPolicy, LinearChannelPolicy
from spark_env.difficulty import CHANNELS
from spark_env.errors import ConfigError
from spark_env.models.teachers import file_sha256

POLICY_DIR = Path(__file__).resolve().parent / "policies"
SHIPPED_POLICY = POLICY_DIR / "spark_pretrained.pt"
SHIPPED_MANIFEST = POLICY_DIR / "spark_pretrained.json"
# what a policy file's config needs to rebuild its policy class (other keys, e.g. PGPE's sigma, are kept, unused)
POLICY_DEFAULTS = {"policy": "linear", "init": [0.0] * len(CHANNELS), "hidden": 32, "seed": 0}


def read_policy_manifest(path: str | Path = SHIPPED_MANIFEST) -> dict[str, Any]:
    """The shipped policy's provenance record (a JSON object with at least ``sha256``)."""
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


def load_policy_file(path: str | Path, sha256: str | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a policy file (``{"mu": tensor, "config": dict}``, as PGPE / CMA-ES ``save`` write), checking its SHA-256
    first when ``sha256`` is given. Returns (parameters as float64, config with POLICY_DEFAULTS filled in)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"policy file '{path}' does not exist")
    if sha256 is not None and file_sha256(path) != sha256:
        raise ConfigError(f"policy file '{path}' has SHA-256 {file_sha256(path)}, not {sha256} as recorded in its "
                          "manifest: it was modified or replaced (retrain it with python -m experiments.train_policy)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a truncated, foreign or unsafe file
        raise ConfigError(f"policy file '{path}' cannot be read as a policy file: {type(error).__name__}: "
                          f"{str(error).splitlines()[0] if str(error) else ''}") from None
    if (not isinstance(payload, dict) or not isinstance(payload.get("mu"), torch.Tensor)
            or not isinstance(payload.get("config"), dict)):
        raise ConfigError(f"policy file '{path}' is not a policy file; expected a dict with 'mu' (a tensor of "
                          "parameters) and 'config' (a dict), as PGPE / CMA-ES save")
    config = {**POLICY_DEFAULTS, **payload["config"]}
    if config["policy"] not in POLICIES:
        raise ConfigError(f"policy file '{path}' names policy {config['policy']!r}; allowed: {', '.join(POLICIES)}")
    mu = payload["mu"].detach().double().numpy().reshape(-1)
    if not np.all(np.isfinite(mu)):
        raise ConfigError(f"policy file '{path}' holds non-finite parameters")
    return mu, config


class PretrainedPolicyAgent(Agent):
    """Acts with a trained policy's parameters, fixed: the shipped SPARK policy unless ``path`` names another policy
    file (``sha256``: the hash it must have; for the shipped file, the manifest's)."""

    name = "spark_pretrained"

    def __init__(self, env, seed: int | None = None, path: str | Path | None = None,
                 sha256: str | None = None) -> None:
        super().__init__(env, seed)
        if path is None:
            path, sha256 = SHIPPED_POLICY, read_policy_manifest()["sha256"]
        self.path = Path(path)
        self.mu, self.config = load_policy_file(self.path, sha256)
        namespace = SimpleNamespace(**self.config)
        if self.config["policy"] == "linear":
            self.policy_class: LinearChannelPolicy | ConvMapPolicy = LinearChannelPolicy(namespace,
                                                                                         self.action_space_name)
            expected = len(CHANNELS)
        else:
            self.policy_class = ConvMapPolicy(namespace, self.action_space_name)
            expected = sum(p.numel() for p in self.policy_class.network.parameters())
        if self.mu.size != expected:
            raise ConfigError(f"policy file '{self.path}' holds {self.mu.size} parameters; a "
                              f"{self.config['policy']} policy (hidden={self.config['hidden']}) has {expected}")

    def act_batch(self, grids, deterministic=False):
        return self.policy_class.actions(self.mu, grids)

    def policy_parameters(self) -> dict[str, float]:
        """Linear: the weights ``w_<channel>``; cnn: the parameter vector's norm."""
        return self.policy_class.named(self.mu)

    def save(self, path: str | Path) -> None:
        """The policy file, as loaded (parameters and config)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        torch.save({"mu": torch.from_numpy(self.mu), "config": dict(self.config)}, path)
