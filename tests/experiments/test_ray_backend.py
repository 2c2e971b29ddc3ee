"""The Ray backend on a local Ray instance: same rows as the local backend, written to the same resumable store.

Needs the ``ray`` extra; run with ``python -m pytest -m ray``."""
import pandas as pd
import pytest
import yaml

from experiments import benchmark

pytestmark = pytest.mark.ray

GRID = {"students": ["fsrcnn"], "tasks": ["sr_x2"], "bits": [2], "seeds": [0, 1],
        "methods": ["fp", "ptq", "kd_uniform"], "env_preset": "tiny", "overrides": {"episode_steps": 4, "image_set": "v0"}}


def test_ray_backend_matches_the_local_backend(tmp_path):
    import ray

    config = tmp_path / "grid.yaml"
    config.write_text(yaml.safe_dump(GRID))
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        benchmark.main(["--config", str(config), "--out", str(tmp_path / "ray"), "--backend", "ray"])
        first = (tmp_path / "ray" / "results.csv").read_text()
        benchmark.main(["--config", str(config), "--out", str(tmp_path / "ray"), "--backend", "ray"])
    finally:
        ray.shutdown()
    assert (tmp_path / "ray" / "results.csv").read_text() == first  # the rerun resumed: nothing ran again
    benchmark.main(["--config", str(config), "--out", str(tmp_path / "local"), "--workers", "1"])
    keys = list(benchmark.KEY_COLUMNS)
    on_ray = pd.read_csv(tmp_path / "ray" / "results.csv").sort_values(keys).reset_index(drop=True)
    local = pd.read_csv(tmp_path / "local" / "results.csv").sort_values(keys).reset_index(drop=True)
    assert len(on_ray) == len(local) == 5
    pd.testing.assert_frame_equal(on_ray[keys + ["psnr", "ssim"]], local[keys + ["psnr", "ssim"]])
