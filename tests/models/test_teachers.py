import shutil

import pytest
import torch

from spark_env.data import get_task, load_pairs
from spark_env.errors import ConfigError
from spark_env.evaluation import evaluate
from spark_env.models import build_model, load_teacher, load_weights, save_weights, shipped_teachers
from spark_env.models.teachers import WEIGHTS_DIR, read_manifest, teacher_filename

REQUIRED = [("edsr", "sr_x2"), ("edsr", "sr_x4"), ("edsr", "denoise_s25"), ("fsrcnn", "sr_x2"), ("imdn", "sr_x2"),
            ("srresnet", "sr_x2")]


def test_required_teachers_are_shipped():
    assert set(REQUIRED) <= set(shipped_teachers())


@pytest.mark.parametrize("arch,task", REQUIRED)
def test_shipped_teacher_loads_frozen_with_hash_check(arch, task):
    teacher = load_teacher(arch, task)
    assert not teacher.training
    assert all(not p.requires_grad for p in teacher.parameters())
    assert teacher.scale == get_task(task).scale


# Quality bars on the held-out test images: default architecture beats bicubic by 1.0 dB (x2) / 0.5 dB (x4), the
# sigma-25 denoiser beats the noisy input by 5 dB, every other architecture beats bicubic at x2 by 0.5 dB.
@pytest.mark.parametrize("arch,task,margin", [("edsr", "sr_x2", 1.0), ("edsr", "sr_x4", 0.5),
                                              ("edsr", "denoise_s25", 5.0), ("fsrcnn", "sr_x2", 0.5),
                                              ("imdn", "sr_x2", 0.5), ("srresnet", "sr_x2", 0.5)])
def test_teacher_quality_bar_on_test_split(arch, task, margin):
    spec = get_task(task)
    pairs = load_pairs(spec, "test")
    assert evaluate(load_teacher(arch, task), pairs, spec)["psnr"] >= evaluate(None, pairs, spec)["psnr"] + margin


def test_tampered_weight_file_is_rejected(tmp_path, monkeypatch):
    import spark_env.models.teachers as teachers
    fake_dir = tmp_path / "weights"
    shutil.copytree(WEIGHTS_DIR, fake_dir)
    with open(fake_dir / teacher_filename("edsr", "sr_x2"), "ab") as handle:
        handle.write(b"\0")
    monkeypatch.setattr(teachers, "WEIGHTS_DIR", fake_dir)
    monkeypatch.setattr(teachers, "MANIFEST", fake_dir / "manifest.json")
    with pytest.raises(ConfigError, match="does not match the SHA-256"):
        load_teacher("edsr", "sr_x2")


def test_save_load_round_trip_and_mismatch_errors(tmp_path):
    model = build_model("imdn", 3, n_feats=16, n_blocks=2)
    path = tmp_path / "w.pt"
    save_weights(model, "imdn", "sr_x3", path)
    loaded, meta = load_weights(path)
    assert meta["config"]["n_feats"] == 16
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ConfigError, match="holds a teacher for imdn/sr_x3, not edsr/sr_x3"):
        load_teacher("edsr", "sr_x3", path=path)
    payload = torch.load(path, weights_only=True)
    payload["config"]["n_feats"] = 32
    torch.save(payload, path)
    with pytest.raises(ConfigError, match="does not fit architecture 'imdn'"):
        load_weights(path)


def test_unshipped_teacher_lists_shipped_ones():
    with pytest.raises(ConfigError, match="no shipped teacher for architecture 'imdn' and task 'jpeg_q10'; "
                                          "shipped: .*edsr/sr_x2"):
        load_teacher("imdn", "jpeg_q10")


def test_manifest_records_test_figures():
    entry = read_manifest()[teacher_filename("edsr", "sr_x2")]
    assert entry["test"]["model"]["psnr"] > entry["test"]["bicubic"]["psnr"]
