"""The speed benchmark prints the raw batched QAT step against the env step at each batch (figures not asserted:
timings belong to the benchmark script, not to tests)."""
from experiments import bench_env


def test_bench_env_reports_env_against_raw_step_per_batch(capsys):
    bench_env.main(["--preset", "tiny", "--steps", "2", "--threads", "1", "--batches", "1", "4",
                    "--override", "reward=val_psnr_gain"])
    out = capsys.readouterr().out
    assert ("| batch | raw QAT step ms | env step ms | env / raw | env ms per crop | lookahead step ms | "
            "lookahead / env |") in out
    rows = [line for line in out.splitlines() if line.startswith("| 1 |") or line.startswith("| 4 |")]
    assert len(rows) == 2
    assert "B=4: observe" in out and "reward" in out and "lookahead" in out
