"""The method-table benchmark end to end on a tiny grid: rows per run, pairing, resume, summary, plots."""
import pandas as pd
import pytest
import yaml

from experiments import benchmark
from experiments.benchmark import BenchmarkSpec, jobs, summarize
from spark_env.errors import ConfigError

TINY = {"students": ["fsrcnn"], "tasks": ["sr_x2"], "bits": [2], "seeds": [0, 1],
        "methods": ["fp", "ptq", "qat", "kd_uniform", "kd_at", "spark"], "env_preset": "tiny",
        "overrides": {"episode_steps": 4, "image_set": "v0"}, "example_steps": [4],  # v0: 3 test images, cheap
        "save_students": True}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    config = folder / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    benchmark.main(["--config", str(config), "--out", str(folder / "run"), "--workers", "1"])
    return config, folder / "run"


def test_every_run_is_a_row_and_qat_methods_share_their_start(finished_run):
    _, run = finished_run
    results = pd.read_csv(run / "results.csv")
    # fp once; ptq, qat, kd_uniform, kd_at, spark once per seed
    assert len(results) == 1 + 5 * 2
    qat = results[results.method.isin(["qat", "kd_uniform", "kd_at", "spark"])]
    assert (qat.qat_steps == 4).all() and (qat.error.isna()).all()
    for _, seed_runs in qat.groupby("seed"):
        assert seed_runs.probe_start.nunique() == 1  # same seeded PTQ start for every method of a seed
    fp = results[results.method == "fp"].psnr.iloc[0]
    assert (results[results.method != "fp"].psnr < fp).all()  # a 2-bit student stays below its FP teacher
    curves = pd.read_csv(run / "curves.csv")
    assert len(curves) == 4 * 2 * 4 and set(curves.qat_step) == {1, 2, 3, 4}
    per_image = pd.read_csv(run / "per_image.csv")
    assert len(per_image) == len(results) * 3 and set(per_image.image) == {"astronaut", "coffee", "gravel"}
    means = per_image.groupby(list(benchmark.KEY_COLUMNS)).psnr.mean()
    for _, row in results.iterrows():  # a run's test PSNR is the mean of its per-image figures
        assert means[tuple(row[list(benchmark.KEY_COLUMNS)])] == pytest.approx(row.psnr)


def test_summary_and_plots(finished_run):
    _, run = finished_run
    summary = pd.read_csv(run / "summary.csv")
    assert set(summary.method) == {"PTQ", "QAT (no KD)", "QAT + uniform KD", "QAT + AT KD",
                                   "SPARK (built-in agent)"}
    assert (summary.runs == 2).all() and (summary.images == 3).all()
    reference = summary[summary.method == "QAT + uniform KD"].iloc[0]
    assert reference["vs uniform KD (dB) [95% CI]"] == "-"
    assert set(summary["vs uniform KD (dB) call"]) <= {"above", "below", "inconclusive", "-"}
    differences = pd.read_csv(run / "per_image_differences.csv")
    assert len(differences) == 4 * 3 and set(differences.seeds) == {2}  # 4 methods x 3 images, 2 seeds each
    assert "|" in (run / "summary.md").read_text()
    for plot in ("psnr_vs_bits.png", "psnr_over_qat_steps.png", "weight_maps.png"):
        assert (run / plot).stat().st_size > 5_000
    # maps are kept for the agent-driven methods, first seed only, at the example steps
    assert [p.name for p in (run / "arrays").glob("*.npz")] == ["sr_x2_fsrcnn_2_spark_0_step4.npz"]
    assert (run / "config.yaml").is_file()


def test_rerun_resumes_without_running_anything(finished_run, capsys):
    config, run = finished_run
    before = (run / "results.csv").read_text()
    benchmark.main(["--config", str(config), "--out", str(run), "--workers", "1"])
    assert (run / "results.csv").read_text() == before
    assert "11 of 11 runs already in" in capsys.readouterr().err


def test_a_worker_pool_gives_the_same_rows(finished_run, tmp_path):
    config, run = finished_run
    benchmark.main(["--config", str(config), "--out", str(tmp_path / "pool"), "--workers", "2"])
    keys = list(benchmark.KEY_COLUMNS)
    pooled = pd.read_csv(tmp_path / "pool" / "results.csv").sort_values(keys).reset_index(drop=True)
    serial = pd.read_csv(run / "results.csv").sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(pooled[keys + ["psnr", "ssim", "probe_end"]],
                                  serial[keys + ["psnr", "ssim", "probe_end"]])


def test_a_changed_config_is_not_mixed_into_old_results(finished_run):
    config, run = finished_run
    with pytest.raises(SystemExit, match="holds a different config"):
        benchmark.main(["--config", str(config), "--out", str(run), "--set", "seeds=[0, 1, 2]"])


def test_dry_run_lists_the_grid(capsys, tmp_path):
    benchmark.main(["--preset", "quick", "--dry-run", "--out", str(tmp_path / "x")])
    out = capsys.readouterr().out
    assert out.startswith("146 runs into")
    assert "sr_x2 fsrcnn 2 spark_a2c seed 2" in out and "sr_x2 edsr 4 spark_trained seed 0" in out
    assert not (tmp_path / "x").exists()


def test_bad_config_is_named():
    with pytest.raises(ConfigError, match="unknown method"):
        BenchmarkSpec(methods=["kd_uniform", "magic"])
    with pytest.raises(SystemExit, match="unknown benchmark config key.*'bogus'"):
        benchmark.main(["--preset", "quick", "--dry-run", "--set", "bogus=1"])
    with pytest.raises(SystemExit, match="unknown preset 'huge'"):
        benchmark.main(["--preset", "huge", "--dry-run"])


def test_paper_preset_names_its_missing_folders(tmp_path):
    benchmark.main(["--preset", "paper", "--dry-run"])  # the grid prints without data
    with pytest.raises(SystemExit, match=r"missing path\(s\): train_folder='DIV2K/DIV2K_train_HR'.*test_folders\[Set5\]"):
        benchmark.main(["--preset", "paper", "--out", str(tmp_path / "paper")])
    assert not (tmp_path / "paper").exists()


def test_full_grid_covers_the_paper_cells():
    grid = jobs(BenchmarkSpec(students=["edsr", "fsrcnn"], tasks=["sr_x2", "sr_x4", "denoise_s25"],
                              bits=[4, 3, 2], seeds=[0, 1, 2]))
    cells = {(j.key["task"], j.key["student"], j.key["bits"]) for j in grid if j.kind == "qat"}
    assert len(cells) == 2 * 3 * 3
    assert sum(j.kind == "teacher" for j in grid) == 2 * 3


def test_method_settings_can_be_overridden():
    grid = jobs(BenchmarkSpec(students=["fsrcnn"], bits=[2], seeds=[0], methods=["kd_uniform", "kd_at"],
                              method_overrides={"kd_at": {"lambda_feat": 10.0}}))
    at = next(j for j in grid if j.key["method"] == "kd_at")
    assert at.run.overrides["lambda_feat"] == 10.0 and at.run.overrides["feature_kd"] == "at"
    with pytest.raises(ConfigError, match="method_overrides names unknown method"):
        BenchmarkSpec(method_overrides={"kd_magic": {}})


def test_summary_pairs_by_seed():
    rows = [{"task": "t", "student": "s", "bits": 2, "method": m, "seed": seed, "psnr": psnr, "ssim": 0.9}
            for m, values in (("kd_uniform", [30.0, 31.0, 32.0]), ("spark", [30.1, 31.1, 32.1]))
            for seed, psnr in enumerate(values)]
    rows.append({"task": "t", "student": "s", "bits": 32, "method": "fp", "seed": 0, "psnr": 33.0, "ssim": 0.95})
    summary, by_image = summarize(pd.DataFrame(rows), pd.DataFrame())  # no per-image rows: seeds only
    summary = summary.set_index("method")
    assert summary.loc["SPARK (built-in agent)", "vs uniform KD (dB) [95% CI]"] == "0.100 [0.100, 0.100]"
    assert summary.loc["SPARK (built-in agent)", "vs uniform KD (dB) call"] == "above"
    assert summary.loc["QAT + uniform KD", "gap to FP (dB)"] == pytest.approx(-2.0)


def test_user_folders_and_teacher_weights(tmp_path):
    """The paper preset's code path at tiny scale: training / probe / test images from benchmark folders, the
    teacher from a named weight file, figures per test set and their mean."""
    from spark_env.data import embedded_images, write_image
    from spark_env.models import load_teacher, save_weights

    images = dict(embedded_images("train") + embedded_images("test"))
    layout = {"train/HR": ["chelsea", "rocket"], "val/HR": ["camera"],
              "SetA/HR": ["astronaut"], "SetB/HR": ["coffee"]}
    for folder, names in layout.items():
        for name in names:
            write_image(tmp_path / folder / f"{name}.png", images[name][:96, :96])
    weights = tmp_path / "fsrcnn_x2.pt"
    save_weights(load_teacher("fsrcnn", "sr_x2"), "fsrcnn", "sr_x2", weights)
    config = tmp_path / "paper_like.yaml"
    config.write_text(yaml.safe_dump({
        "students": ["fsrcnn"], "tasks": ["sr_x2"], "bits": [4], "seeds": [0], "methods": ["fp", "kd_uniform"],
        "env_preset": "tiny", "overrides": {"episode_steps": 2, "train_folder": str(tmp_path / "train"),
                                      "val_folder": str(tmp_path / "val")},
        "teacher_weights": {"fsrcnn/sr_x2": str(weights)},
        "test_folders": {"SetA": str(tmp_path / "SetA"), "SetB": str(tmp_path / "SetB")}}))
    benchmark.main(["--config", str(config), "--out", str(tmp_path / "run"), "--workers", "1"])
    results = pd.read_csv(tmp_path / "run" / "results.csv").set_index("method")
    for method in ("fp", "kd_uniform"):
        row = results.loc[method]
        assert row.psnr == pytest.approx((row.psnr_SetA + row.psnr_SetB) / 2)
    assert results.loc["fp", "psnr_SetA"] > results.loc["kd_uniform", "psnr_SetA"] > 20


def test_kept_students_reproduce_their_rows_and_export(finished_run, tmp_path):
    """save_students keeps every QAT run's final student; a loaded one scores what its row says, to the last
    digit, and the whole run folder exports to ONNX with parity."""
    from experiments import export_onnx
    from experiments.qat_runs import test_scores
    from spark_env.quant.student_file import load_student

    _, run = finished_run
    files = sorted((run / "students").rglob("*.pt"))
    assert len(files) == 4 * 2  # qat, kd_uniform, kd_at, spark x 2 seeds; no FP or PTQ student
    results = pd.read_csv(run / "results.csv").set_index(["method", "seed"])
    student, meta = load_student(run / "students/sr_x2/fsrcnn/bits2/kd_at/seed1/steps0_student.pt")
    assert meta["layer_bits"] and all(bits == [2, 2] for bits in meta["layer_bits"].values())
    figures, _ = test_scores(student, "sr_x2", "v0", {})
    assert figures["psnr"] == results.loc[("kd_at", 1), "psnr"]
    status = export_onnx.main(["--run-folder", str(run), "--image-set", "v0", "--out", str(tmp_path)])
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert status == 0 and len(summary) == 8 and (summary.parity == "pass").all()
    assert (summary.onnx_kb < summary.fp32_weights_kb).all()
    assert len(list(tmp_path.glob("*.onnx"))) == 8
