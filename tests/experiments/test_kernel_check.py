"""The cross-kernel check: which calls hold, which are inconclusive, which flip; the kernels this CPU offers."""
import pandas as pd
import pytest

from experiments import kernel_check


def _summary(calls):
    return pd.DataFrame([{"task": "sr_x2", "student": "fsrcnn", "bits": "W4A4", "method": method,
                          "vs uniform KD (dB) [95% CI]": "0.1 [0.0, 0.2]", "vs uniform KD (dB) call": call}
                         for method, call in calls.items()])


def test_calls_are_compared_row_by_row():
    avx2 = _summary({"QAT + uniform KD": "-", "heuristic": "above", "lookahead": "above", "spark": "inconclusive",
                     "at": "below"})
    default = _summary({"QAT + uniform KD": "-", "heuristic": "above", "lookahead": "inconclusive",
                        "spark": "inconclusive", "at": "below"})
    table = kernel_check.compare_calls({"avx2": avx2, "default": default}, ["task", "student", "bits", "method"],
                                       "vs uniform KD (dB)").set_index("method")
    assert "QAT + uniform KD" not in table.index  # the reference has no call
    assert table.verdict.to_dict() == {"heuristic": "holds", "lookahead": "flips", "spark": "inconclusive",
                                       "at": "holds"}
    assert list(table.columns[-1:]) == ["verdict"] and "default: call" in table.columns


def test_available_kernels_start_with_default_and_unknown_ones_are_refused(tmp_path):
    kernels = kernel_check.available_kernels()
    assert kernels[0] == "default" and set(kernels) <= set(kernel_check.KERNELS)
    with pytest.raises(SystemExit):
        kernel_check.main(["benchmark", "--kernels", "avx1024"])


@pytest.mark.slow  # two subprocess grids: about 3 minutes on 2 cores
def test_a_tiny_method_table_under_two_kernels(tmp_path):
    kernels = kernel_check.available_kernels()[:2]  # default, and avx2 where the CPU has it
    overrides = ["students=[fsrcnn]", "bits=[2]", "seeds=[0, 1]", "methods=[fp, ptq, kd_uniform, kd_heuristic]",
                 "env_preset=tiny", "overrides={episode_steps: 2, image_set: v0}", "example_steps=[]"]
    kernel_check.main(["benchmark", "--preset", "quick", "--kernels", *kernels, "--out", str(tmp_path),
                       *[arg for item in overrides for arg in ("--set", item)]])
    calls = pd.read_csv(tmp_path / "calls.csv")
    assert set(calls.method) == {"PTQ", "QAT + heuristic spatial KD"}
    assert set(calls.verdict) <= {"holds", "inconclusive", "flips"}
    for kernel in kernels:
        assert (tmp_path / kernel / "results.csv").is_file() and f"{kernel}: call" in calls.columns
