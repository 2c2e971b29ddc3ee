"""The torch.compile benchmark runs an eager and a compiled session side by side (figures not asserted: timings
belong to the benchmark script; Dynamo's ``eager`` backend keeps the test free of C++ compilation)."""
from experiments import bench_compile


def test_bench_compile_reports_both_sessions(capsys):
    bench_compile.main(["--preset", "tiny", "--steps", "3", "--backend", "eager"])
    out = capsys.readouterr().out
    assert "median ratio compiled / eager" in out
    assert out.count("24 test photographs") == 2 and "eager: probe" in out and "compiled: probe" in out
