"""The restructured code reproduces the figures recorded before it (tests/golden/figures.py): every built-in agent and
reward on the tiny preset. The tolerance (1e-5 relative) covers CPU-kernel differences of the last bits, not a
changed computation."""
import json

import pytest

from .figures import FIGURES, GOLDEN_FILE, cases, measure

GOLDEN = json.loads(GOLDEN_FILE.read_text())
CASES = cases()


def test_every_builtin_agent_and_reward_has_a_golden_case():
    from agents import agent_names
    from spark_env.rewards import REWARDS
    assert {f"agent={a}" for a in agent_names()} | {f"reward={r}" for r in REWARDS} == set(GOLDEN) == set(CASES)


@pytest.mark.parametrize("label", sorted(CASES))
def test_figures_equal_the_recorded_ones(label):
    measured = measure(CASES[label])
    for name in FIGURES:
        assert measured[name] == pytest.approx(GOLDEN[label][name], rel=1e-5, abs=1e-7), (label, name)
