"""spark_env.testing: the checks users run on their rewards and agents, applied to the project's own."""
import numpy as np
import pytest

from agents import make_agent
from spark_env.rewards import REWARDS
from spark_env.testing import CheckFailed, check_agent, check_reward


@pytest.mark.parametrize("name", list(REWARDS))
def test_every_registered_reward_passes(name):
    check_reward(REWARDS[name])


def test_check_reward_names_what_is_wrong():
    with pytest.raises(CheckFailed, match="a reward must be finite"):
        check_reward(lambda ctx: float("nan") if ctx.step_index == 1 else 0.0)

    def trains_again(ctx):  # changes the student and does not restore it
        ctx.session.optimize(ctx.crops, ctx.session.forward(ctx.crops), None)
        return 0.0
    with pytest.raises(CheckFailed, match="changed the run"):
        check_reward(trains_again)

    def reads_before(ctx):
        return ctx.ssim_before
    with pytest.raises(CheckFailed, match="needs_snapshot = True"):
        check_reward(reads_before)


@pytest.mark.parametrize("name", ["spark", "pgpe", "uniform", "random", "heuristic_combined", "a2c"])
def test_the_project_agents_pass(name):
    check_agent(lambda env: make_agent(name, env, seed=0), deterministic=name != "random")  # random maps by design


def test_check_agent_catches_a_random_deterministic_mode():
    class Jittery:
        def __init__(self, env):
            self.rng = np.random.default_rng(0)

        def act(self, obs, deterministic=False):
            obs = np.asarray(obs)
            shape = (8, 8) if obs.ndim == 3 else (obs.shape[0], 8, 8)
            return self.rng.uniform(-1, 1, shape).astype(np.float32)

    with pytest.raises(CheckFailed, match=r"deterministic=True\) returned different actions"):
        check_agent(Jittery)
