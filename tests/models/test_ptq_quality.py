"""PTQ of a shipped teacher on the held-out test images: 8 bits is near-lossless and quality falls with bits. On
image set v0 (three test photographs: the docs' PTQ table, and cheap); on v1, min-max calibration at W3A3 is no
better than at W2A2 (docs/models_and_quantization.md)."""
import pytest

from experiments.quant_tables import ptq_rows


@pytest.fixture(scope="module")
def rows():
    return ptq_rows("edsr", "sr_x2", [8, 4, 3, 2], methods=("minmax", "mse"), image_set="v0")


def test_w8a8_ptq_within_a_tenth_of_a_db_of_fp(rows):
    fp = rows[0]["psnr"]
    for row in rows:
        if row["bits"] == 8:
            assert abs(fp - row["psnr"]) <= 0.1, row


@pytest.mark.parametrize("method", ["minmax", "mse"])
def test_psnr_falls_monotonically_with_bits(rows, method):
    psnrs = [row["psnr"] for row in rows if row["calibration"] == method]
    assert psnrs == sorted(psnrs, reverse=True) and psnrs[0] > psnrs[-1] + 0.5, psnrs


def test_mse_calibration_beats_minmax_at_low_bits(rows):
    by_key = {(row["bits"], row["calibration"]): row["psnr"] for row in rows}
    assert by_key[(2, "mse")] > by_key[(2, "minmax")] and by_key[(3, "mse")] > by_key[(3, "minmax")]
