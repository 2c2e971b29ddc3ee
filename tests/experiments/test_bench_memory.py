"""The memory benchmark: a synthetic benchmark folder, and the bytes each stored array takes per image."""
from pathlib import Path

import spark_env
from experiments import bench_memory
from spark_env.qat import QATSession
from spark_env.data.io import read_image


def test_synthetic_folder_has_the_asked_size(tmp_path: Path):
    bench_memory.write_synthetic_folder(tmp_path, 2, 80, 48)
    files = sorted((tmp_path / "HR").iterdir())
    assert len(files) == 2 and read_image(files[0]).shape == (48, 80, 3)


def test_stored_arrays_are_counted_per_image(tmp_path: Path):
    bench_memory.write_synthetic_folder(tmp_path, 2, 96, 64)
    for cache, teacher_bytes in (("float32", 4), ("float16", 2)):
        session = QATSession(spark_env.make_config("quick", arch="fsrcnn", train_folder=str(tmp_path),
                                                   teacher_cache=cache))
        # 8-bit codes: LR 48 x 32 x 3, HR 96 x 64 x 3; the teacher's output as HR; one float32 map of LR size
        assert bench_memory.stored_bytes(session) == {"LR image": 48 * 32 * 3, "HR image": 96 * 64 * 3,
                                                      "teacher output": 96 * 64 * 3 * teacher_bytes,
                                                      "static map": 48 * 32 * 4}


def test_bench_memory_reports_the_slope_between_two_counts(capsys):
    bench_memory.main(["--images", "1", "2", "--size", "96", "64"])
    out = capsys.readouterr().out
    assert "1 images of 96 x 64" in out and "2 images of 96 x 64" in out
    assert "memory per image (slope from 1 to 2 images)" in out and "stored per image: LR image" in out
