"""python -m experiments.export_onnx: a fresh QAT student exported and checked; bad sources are named."""
import pandas as pd
import pytest

from experiments import export_onnx


def test_train_export_and_check(tmp_path):
    status = export_onnx.main(["--train", "--arch", "fsrcnn", "--bits", "8", "--steps", "2", "--conv-floor",
                               "--image-set", "v0", "--out", str(tmp_path)])
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert status == 0 and summary.parity.tolist() == ["pass"]
    assert summary.bits.tolist() == ["W8A8"] and summary.images.tolist() == [3] and summary.max_lsb.max() <= 1
    assert 0.99 <= summary.conv_floor_within_1_lsb.iloc[0] <= 1.0
    assert (tmp_path / "fsrcnn_sr_x2_w8a8_lsq_seed0.pt").is_file()
    assert (tmp_path / "fsrcnn_sr_x2_w8a8_lsq_seed0.onnx").is_file()
    assert len(pd.read_csv(tmp_path / "parity.csv")) == 3


def test_missing_sources_are_named(tmp_path):
    with pytest.raises(SystemExit, match="run folder .* does not exist"):
        export_onnx.main(["--run-folder", str(tmp_path / "nowhere")])
    with pytest.raises(SystemExit, match="into a new --out with --set save_students=true"):
        export_onnx.main(["--run-folder", str(tmp_path)])
    with pytest.raises(SystemExit, match="student file .* does not exist"):
        export_onnx.main(["--student", str(tmp_path / "none.pt"), "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="--bits=9 is not supported; allowed: integers 2..8"):
        export_onnx.main(["--train", "--bits", "9", "--out", str(tmp_path)])
