"""The restructured code reproduces the figures recorded before it (tests/golden/figures.py): every built-in agent and
reward on the tiny preset. Figures are recorded per CPU kernel family; the tolerance (1e-5 relative) covers what
the same family's kernels can differ by, not a changed computation."""
import pytest

from .figures import FIGURES, GOLDEN_FILE, capability, cases, measure, recorded

RECORDED = recorded()
GOLDEN = RECORDED.get(capability(), {})
CASES = cases()


def test_every_builtin_agent_and_reward_has_a_golden_case():
    from agents import agent_names
    from spark_env.rewards import REWARDS
    assert {f"agent={a}" for a in agent_names()} | {f"reward={r}" for r in REWARDS} == set(CASES)
    assert set(CASES) == set().union(*RECORDED.values())  # every case recorded on at least one kernel family
    assert GOLDEN, (f"no golden figures for this CPU's kernels ({capability()}; recorded: {', '.join(RECORDED)}): "
                    f"record them from a trusted commit with python -m tests.golden.figures --record")


@pytest.mark.parametrize("label", sorted(GOLDEN))
def test_figures_equal_the_recorded_ones(label):
    measured = measure(CASES[label])
    for name in FIGURES:
        assert measured[name] == pytest.approx(GOLDEN[label][name], rel=1e-5, abs=1e-7), (label, name)
