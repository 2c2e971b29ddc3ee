"""ONNX export of low-bit students: the frozen network equals the student, the file holds int8 weight codes and
Q/DQ at the learned steps, onnxruntime matches the PyTorch student on the test images (every architecture, W8A8,
W4A4, W2A2), student files round-trip, and what cannot be exported is named."""
import gymnasium as gym
import numpy as np
import onnx
import pytest
import torch

import spark_env  # noqa: F401
from spark_env.data import get_task, load_pairs
from spark_env.errors import ConfigError
from spark_env.models import ARCHITECTURES, build_model, save_weights, shipped_teachers
from spark_env.quant import QuantSettings, calibrate, quantize_model, quantized_layers
from spark_env.quant.onnx_export import OnnxStudent, deployable, export_onnx, onnx_parity, output_levels
from spark_env.quant.quantizers import ActivationQuantizer
from spark_env.quant.student_file import load_student, save_student


ARCHS = sorted({arch for arch, task in shipped_teachers() if task == "sr_x2"})
# largest output difference (8-bit levels) allowed between onnxruntime and the PyTorch student: a low-bit network
# amplifies another accumulation order's last-bit differences (seen: 1 at W8A8 on AVX512, 4-5 on AMD AVX2; up to 9
# below 8 bits, as PyTorch differs from itself when its convolution backend changes)
SPREAD_W8A8, SPREAD_LOW_BIT = 8, 16


def random_student(arch="edsr", bits=4, quantizer="lsq", **kwargs):
    torch.manual_seed(0)
    student = quantize_model(build_model(arch, 2), bits, bits, activation_quantizer=quantizer, **kwargs)
    return calibrate(student, [torch.rand(2, 3, 16, 16) for _ in range(2)], method="minmax").eval()


def qat_student(arch, bits, quantizer="lsq", steps=3):
    """A student after a few QAT steps of the tiny preset (learned steps moved off their calibration)."""
    env = gym.make("SparkKD-v2", preset="tiny", arch=arch, w_bits=bits, a_bits=bits, quantizer=quantizer,
                   episode_steps=steps)
    env.reset(seed=0)
    for _ in range(steps):
        env.step(np.zeros((8, 8), np.float32))
    return env.unwrapped.session.student.eval()


@pytest.mark.parametrize("arch,kwargs", [("edsr", {}), ("fsrcnn", {"quantize_tail": True}),  # transposed conv
                                         ("imdn", {"per_channel": False}), ("srresnet", {"quantize_head": True})])
@pytest.mark.parametrize("bits,quantizer", [(2, "lsq"), (3, "pams"), (8, "lsq")])
def test_frozen_student_computes_what_the_student_computes(arch, kwargs, bits, quantizer):
    student = random_student(arch, bits, quantizer, **kwargs)
    x = torch.rand(2, 3, 12, 10)
    with torch.no_grad():
        assert torch.equal(deployable(student)(x), student(x))


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("bits", [8, 4, 2])
def test_onnxruntime_matches_the_student_on_the_test_images(arch, bits, tmp_path):
    student = qat_student(arch, bits)
    exported = export_onnx(student, tmp_path / "student.onnx")
    task = get_task("sr_x2")
    rows = onnx_parity(student, exported.path, load_pairs(task, "test", None, image_set="v1")[:4], task)
    assert abs(np.mean([r["psnr_diff"] for r in rows])) <= 0.01
    # 99.9 % and, at W8A8, every value within 1 level on the AVX512 machine the targets were set on; an AMD EPYC
    # (AVX2) machine gives 99.77 % and 4 levels at EDSR W8A8 (docs/onnx_export.md); an export bug gives far less
    assert np.mean([r["within_1_lsb"] for r in rows]) >= 0.995
    assert max(r["max_lsb"] for r in rows) <= (SPREAD_W8A8 if bits == 8 else SPREAD_LOW_BIT)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_architecture_exports_and_runs(arch, tmp_path):
    """Every registered architecture (edsr_official too, which has no shipped teacher: random weights) exports at
    W8A8 with most output values within one 8-bit level of the student's (none further than SPREAD_W8A8), and at
    W2A2 runs with the student's output shape."""
    x = torch.rand(1, 3, 20, 24, generator=torch.Generator().manual_seed(0))
    for bits in (8, 2):
        student = random_student(arch, bits)
        deployed = OnnxStudent(export_onnx(student, tmp_path / f"{arch}_{bits}.onnx").path)
        with torch.no_grad():
            reference, exported = student(x), deployed(x)
        assert exported.shape == reference.shape
        if bits == 8:
            difference = (output_levels(reference) - output_levels(exported)).abs()
            # random weights drive onnxruntime's fused int8 kernels harder: on AMD AVX2 83-91 % within 1 level at its
            # default optimization level (every value within 1 level with ORT_ENABLE_BASIC, no int8 fusion)
            assert difference.max() <= SPREAD_W8A8 and (difference <= 1).float().mean() >= 0.8


def test_the_file_holds_int8_codes_and_one_qdq_pair_per_quantized_input(tmp_path):
    student = random_student("edsr", bits=3)
    layers = quantized_layers(student)
    model = onnx.load(str(export_onnx(student, tmp_path / "s.onnx").path))
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("QuantizeLinear") == len(layers)            # activations only: weights are stored as codes
    assert ops.count("DequantizeLinear") == 2 * len(layers)
    codes = [onnx.numpy_helper.to_array(t) for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert len(codes) == len(layers)
    assert all(c.min() >= -3 and c.max() <= 3 for c in codes)    # the 3-bit narrow grid [-3, 3]
    floats = {t.name for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
    assert not any(name.endswith("conv.weight") and name.split(".conv")[0] in layers for name in floats)
    assert {i.name for i in model.graph.input} == {"lq"}


def test_student_file_round_trip_and_refusals(tmp_path):
    student = random_student("fsrcnn", bits=2, quantizer="pams", quantize_tail=True)
    path = save_student(student, "sr_x2", QuantSettings(2, 2, "pams", quantize_tail=True), tmp_path / "s.pt")
    loaded, meta = load_student(path)
    x = torch.rand(1, 3, 9, 11)
    with torch.no_grad():
        assert torch.equal(loaded(x), student(x))
    assert meta["arch"] == "fsrcnn" and meta["task"] == "sr_x2" and meta["quant"]["w_bits"] == 2
    with pytest.raises(ConfigError, match="does not exist"):
        load_student(tmp_path / "missing.pt")
    save_weights(build_model("fsrcnn", 2), "fsrcnn", "sr_x2", tmp_path / "teacher.pt")
    with pytest.raises(ConfigError, match="not a spark_env student file"):
        load_student(tmp_path / "teacher.pt")


def test_what_cannot_be_exported_is_named(tmp_path):
    class Unknown(ActivationQuantizer):
        def quantize(self, x):
            return x

    student = random_student("fsrcnn", bits=4)
    name, layer = next(iter(quantized_layers(student).items()))
    layer.input_quantizer = Unknown(4)
    with pytest.raises(ConfigError, match=f"layer '{name}'.*Unknown.*supported: LSQQuantizer, PAMSQuantizer"):
        export_onnx(student, tmp_path / "x.onnx")
    with pytest.raises(ConfigError, match="no quantized layer"):
        export_onnx(build_model("fsrcnn", 2), tmp_path / "fp.onnx")
    with pytest.raises(ConfigError, match="opset=11"):
        export_onnx(random_student("fsrcnn"), tmp_path / "y.onnx", opset=11)
