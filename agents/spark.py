"""The built-in SPARK agent: the paper's compact policy CNN on the 8x8 grid, trained with lightweight RL.

Policy: three 3x3 convolutions (4 -> ``hidden`` -> ``hidden`` -> 1 channels, ReLU between, ``tanh`` on the output)
give the mean of a diagonal Gaussian over the 8x8 action; one learned log standard deviation is shared by all
cells. Actions are sampled from the Gaussian and clipped to [-1, 1] by the agent before the env sees them
(log-probabilities use the unclipped sample).

Update: REINFORCE with a baseline and an entropy bonus. Every ``update_every`` env steps (each sub-env of a vector
env counts), rewards-to-go with discount ``gamma`` (cut at episode ends, not bootstrapped) minus an exponential
moving-average baseline of past returns, normalised over the batch, weight the log-probabilities;
``entropy_coef`` times the Gaussian's entropy is added. With ``gamma = 0`` (default) each map is judged by the
probe PSNR gain of its own QAT step.

Warm start (``warm_start="combined"`` or a channel name, off by default): the first ``warm_start_steps`` env steps
act with that difficulty heuristic (agents.fixed) and no RL update; then the policy mean is fitted to the
heuristic's maps on the grids seen (``warm_start_epochs`` Adam steps of mean-squared error) and REINFORCE goes on
from there. The 3-conv policy sees 7x7 cells, so it imitates the heuristic's per-grid z-scores only approximately.

Two uses: online, during one QAT run (``learn(config.episode_env_steps)`` on a fresh env: the policy trains while
the student trains, then is discarded, as in the paper), and across many episodes (the RL-benchmark setting).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from agents.base import Agent, agent_config, Step
from agents.fixed import HeuristicAgent


@dataclass
class SparkAgentConfig:
    hidden: int = 32              # channels of the two hidden convolutions
    lr: float = 3e-3              # Adam learning rate of the policy
    gamma: float = 0.0            # discount of rewards-to-go inside an update batch
    entropy_coef: float = 1e-3    # weight of the entropy bonus
    update_every: int = 16        # env steps (summed over sub-envs) per policy update
    init_log_std: float = -0.7    # initial log standard deviation of the Gaussian (std 0.5)
    baseline_momentum: float = 0.9  # EMA momentum of the return baseline
    warm_start: str | None = None  # heuristic imitated before RL: combined | laplacian | variance | error | gap
    warm_start_steps: int = 16    # env steps acted by the heuristic (their grids are the imitation data)
    warm_start_epochs: int = 300  # Adam steps of the imitation fit
    seed: int = 0


class SparkPolicy(nn.Module):
    """(B, 4, 8, 8) grid -> (B, 8, 8) Gaussian mean in [-1, 1]; ``log_std`` is a shared learned scalar."""

    def __init__(self, hidden: int = 32, init_log_std: float = -0.7) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(4, hidden, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(hidden, 1, 3, padding=1))
        self.log_std = nn.Parameter(torch.tensor(float(init_log_std)))

    def forward(self, grids: torch.Tensor) -> torch.distributions.Normal:
        mean = torch.tanh(self.net(grids)[:, 0])
        std = self.log_std.clamp(-3.0, 0.5).exp().expand_as(mean)
        return torch.distributions.Normal(mean, std)


def fit_policy_mean(policy: SparkPolicy, optimizer: torch.optim.Optimizer, grids: torch.Tensor,
                    targets: torch.Tensor, epochs: int) -> float:
    """Regress the policy mean onto target maps ((B, 4, 8, 8) grids -> (B, 8, 8) targets) for ``epochs`` Adam
    steps of mean-squared error; returns the last loss."""
    for _ in range(epochs):
        loss = (policy(grids).mean - targets).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return loss.item()


def save_policy(path: str | Path, policy: SparkPolicy, config) -> None:
    """The policy's weights and its agent's config (a dataclass), for ``torch.load(weights_only=True)``."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"policy": policy.state_dict(), "config": asdict(config)}, path)


def seeded_policy(config: SparkAgentConfig) -> SparkPolicy:
    """A freshly initialised policy, its initial weights drawn from ``config.seed`` alone (torch's global generator
    is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return SparkPolicy(config.hidden, config.init_log_std)


class SparkAgent(Agent):
    name = "spark"

    def __init__(self, env, config: SparkAgentConfig | None = None, seed: int | None = None, **overrides) -> None:
        self.config = agent_config(SparkAgentConfig, config, seed, overrides)
        super().__init__(env, self.config.seed)
        self.require_map_space()
        self.rng = np.random.default_rng(self.config.seed)
        self.policy = seeded_policy(self.config)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=self.config.lr)
        self.baseline: float | None = None
        self.history: list[dict] = []  # one row per env step: reward, probe_psnr when the env reports it
        self.imitated = HeuristicAgent(env, self.config.warm_start) if self.config.warm_start else None
        self.warm_grids: list[np.ndarray] = []
        self._batch: list[Step] = []  # steps since the last policy update

    def act_batch(self, grids, deterministic=False):
        with torch.no_grad():
            dist = self.policy(torch.from_numpy(grids))
        if deterministic:
            actions = dist.mean.numpy()
        else:
            actions = dist.mean.numpy() + dist.stddev.numpy() * self.rng.standard_normal(dist.mean.shape)
        return actions.astype(np.float32)

    def _update(self, grids: list[np.ndarray], actions: list[np.ndarray], rewards: list[np.ndarray],
                dones: list[np.ndarray]) -> dict[str, float]:
        rewards_arr, dones_arr = np.stack(rewards), np.stack(dones)  # (T, B)
        returns = np.zeros_like(rewards_arr)
        running = np.zeros(rewards_arr.shape[1])
        for t in reversed(range(len(rewards_arr))):
            running = rewards_arr[t] + self.config.gamma * running * (1.0 - dones_arr[t])
            returns[t] = running
        flat_returns = returns.reshape(-1)
        baseline = flat_returns.mean() if self.baseline is None else self.baseline
        advantages = flat_returns - baseline
        if advantages.size > 1 and advantages.std() > 1e-8:
            advantages = advantages / advantages.std()
        momentum = self.config.baseline_momentum
        self.baseline = float(momentum * baseline + (1 - momentum) * flat_returns.mean())
        dist = self.policy(torch.from_numpy(np.concatenate(grids)))
        log_prob = dist.log_prob(torch.from_numpy(np.concatenate(actions))).sum((1, 2))
        entropy = dist.entropy().sum((1, 2)).mean()
        loss = -(log_prob * torch.from_numpy(advantages).float()).mean() - self.config.entropy_coef * entropy
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"policy_loss": loss.item(), "entropy": entropy.item(), "baseline": self.baseline}

    def choose(self, grids, info):
        """The heuristic's map during the warm start, then a sample of the policy."""
        return self.imitated.act(grids) if self.imitated is not None else self.act(grids)

    def observe(self, step: Step) -> None:
        """Warm-start data, or the step into the REINFORCE batch (an update every ``update_every`` env steps)."""
        self.history.append({"step": step.steps_done, "reward": float(step.reward.mean()),
                             "probe_psnr": float(np.mean(step.next_info.get("probe_psnr", math.nan)))})
        if self.imitated is not None:
            self.warm_grids.append(step.obs)
            if sum(len(g) for g in self.warm_grids) >= self.config.warm_start_steps:
                self.history[-1]["imitation_mse"] = self._imitate_heuristic()
            return
        self._batch.append(step)
        if sum(len(s.reward) for s in self._batch) >= self.config.update_every:
            self.history[-1].update(self._update([s.obs for s in self._batch], [s.action for s in self._batch],
                                                 [s.reward for s in self._batch],
                                                 [s.done.astype(np.float64) for s in self._batch]))
            self._batch = []

    def _imitate_heuristic(self) -> float:
        """Fit the policy mean to the heuristic's maps on the grids seen; returns the final mean-squared error."""
        grids = torch.from_numpy(np.concatenate(self.warm_grids))
        targets = torch.from_numpy(self.imitated.act(grids.numpy()))
        optimizer = torch.optim.Adam(self.policy.net.parameters(), lr=self.config.lr)
        loss = fit_policy_mean(self.policy, optimizer, grids, targets, self.config.warm_start_epochs)
        self.imitated, self.warm_grids = None, []
        return loss

    def save(self, path: str | Path) -> None:
        save_policy(path, self.policy, self.config)

    def load(self, path: str | Path) -> "SparkAgent":
        payload = torch.load(path, map_location="cpu", weights_only=True)
        self.config = SparkAgentConfig(**payload["config"])
        self.policy = seeded_policy(self.config)
        self.policy.load_state_dict(payload["policy"])
        self.imitated = None  # a loaded policy is trained: no warm start
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=self.config.lr)
        return self
