"""The speed benchmark prints the raw batched QAT step against the env step at each batch, timed interleaved
(figures not asserted: timings belong to the benchmark script, not to tests)."""
import numpy as np

from experiments import bench_env


def test_bench_env_reports_interleaved_ratios_per_batch_and_repeat(capsys):
    bench_env.main(["--preset", "tiny", "--steps", "3", "--threads", "1", "--batches", "1", "2", "--repeats", "2",
                    "--override", "reward=val_psnr_gain"])
    out = capsys.readouterr().out
    assert ("| repeat | batch | raw QAT step ms | env step ms | env / raw [IQR] | env / raw of means | "
            "env steps / s | lookahead / env [IQR] |") in out
    rows = [line for line in out.splitlines() if line.startswith("| 1 | ") or line.startswith("| 2 | ")]
    assert len(rows) == 4
    assert "median ratios across repeats (min - max): B=1: env / raw" in out
    assert "B=2: observe" in out and "reward" in out and "lookahead" in out


def test_interleaving_rotates_the_order_every_round():
    calls = []
    times = bench_env.interleaved_ms({name: (lambda n=name: calls.append(n)) for name in "abc"}, rounds=3, warmup=0)
    assert calls == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert all(len(t) == 3 and np.isfinite(t).all() for t in times.values())
