"""The documented path to the paper's table, at tiny scale on folders built here: train a teacher on a training
folder (reported on validation and test folders), then run the benchmark with that teacher, the folders and
``test_folders``. Wrong folders and files stop with errors naming them."""
import json

import pandas as pd
import pytest

from experiments import benchmark, train_teacher
from spark_env.data import embedded_images, write_image
from spark_env.data.folders import training_images
from spark_env.models.teachers import load_weights


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """DIV2K-like training folder (``*_HR``), a validation folder and a Set5-like test folder (``HR/``), made of
    crops of the embedded images."""
    root = tmp_path_factory.mktemp("data")
    images = embedded_images("train")
    for index, (_, image) in enumerate(images):
        write_image(root / "DIV2K" / "DIV2K_train_HR" / f"{index:04d}.png", image[:96, :96])
        write_image(root / "valid" / f"{index:04d}.png", image[-64:, -64:])
    for index, (_, image) in enumerate(embedded_images("test")[:2]):
        write_image(root / "Set5" / "HR" / f"img_{index}.png", image[:48, :48])
    return root


def test_training_images_are_kept_as_8_bit(folders):
    images = training_images(folders / "DIV2K")
    assert len(images) == len(embedded_images("train"))
    assert all(image.dtype.name == "uint8" and image.shape == (96, 96, 3) for _, image in images)


def test_train_a_teacher_on_folders_then_run_the_benchmark_on_it(folders, tmp_path, capsys):
    report = train_teacher.main(["--arch", "fsrcnn", "--task", "sr_x2", "--iters", "3", "--batch", "2",
                                 "--patch", "16", "--threads", "1", "--device", "auto",
                                 "--train-folder", str(folders / "DIV2K"), "--val-folder", str(folders / "valid"),
                                 "--test-folder", f"Set5={folders / 'Set5'}", "--run-dir", str(tmp_path / "t")])
    assert report["device"] == "cpu" and report["train_folder"].endswith("DIV2K")
    assert set(report["test"]["model"]) == {"psnr_Set5", "ssim_Set5", "psnr", "ssim"}
    assert json.loads((tmp_path / "t" / "report.json").read_text())["sha256"] == report["sha256"]
    model, meta = load_weights(tmp_path / "t" / "teacher.pt")
    assert meta["arch"] == "fsrcnn" and meta["task"] == "sr_x2"
    config = tmp_path / "paper_tiny.yaml"
    config.write_text(f"""
students: [fsrcnn]
tasks: [sr_x2]
bits: [4]
seeds: [0]
batch: 2
methods: [fp, ptq, kd_uniform, kd_heuristic]
env_preset: tiny
overrides: {{episode_steps: 2, train_folder: {folders / 'DIV2K'}, val_folder: {folders / 'valid'}}}
teacher_weights: {{fsrcnn/sr_x2: {tmp_path / 't' / 'teacher.pt'}}}
test_folders: {{Set5: {folders / 'Set5'}}}
""")
    benchmark.main(["--config", str(config), "--out", str(tmp_path / "run"), "--workers", "1"])
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    assert sorted(results["method"]) == ["fp", "kd_heuristic", "kd_uniform", "ptq"]
    assert results["psnr_Set5"].notna().all()
    fp = results[results.method == "fp"].iloc[0]
    assert fp["psnr_Set5"] == pytest.approx(report["test"]["model"]["psnr_Set5"], abs=1e-6)  # the same teacher
    assert "QAT + heuristic spatial KD" in (tmp_path / "run" / "summary.md").read_text()


def test_wrong_folders_and_files_are_named(folders, tmp_path):
    with pytest.raises(SystemExit, match="--train-folder '/nowhere' is not a folder"):
        train_teacher.main(["--train-folder", "/nowhere"])
    with pytest.raises(SystemExit, match="--test-folder Set5 '/nowhere' is not a folder"):
        train_teacher.main(["--test-folder", "Set5=/nowhere"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit, match="no images .* in dataset folder '.*empty'"):
        train_teacher.main(["--arch", "fsrcnn", "--iters", "1", "--train-folder", str(empty),
                            "--run-dir", str(tmp_path / "t")])
    with pytest.raises(SystemExit, match="missing path.*teacher_weights\\[fsrcnn/sr_x2\\]='/nowhere.pt'"):
        benchmark.main(["--preset", "quick", "--out", str(tmp_path / "b"),
                        "--set", "teacher_weights={fsrcnn/sr_x2: /nowhere.pt}"])
