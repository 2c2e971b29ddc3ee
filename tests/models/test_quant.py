import math

import pytest
import torch

from spark_env.errors import ConfigError
from spark_env.models import build_model
from spark_env.quant import (QuantConv2d, calibrate, quantizable_layers, quantize_model, quantized_layers)
from spark_env.quant.quantizers import LSQQuantizer, PAMSQuantizer, WeightQuantizer


def calibrated_student(arch="edsr", scale=2, bits=4, quantizer="lsq", method="minmax", **kwargs):
    torch.manual_seed(0)
    model = build_model(arch, scale)
    student = quantize_model(model, bits, bits, activation_quantizer=quantizer, **kwargs)
    calibrate(student, [torch.rand(2, 3, 16, 16) for _ in range(2)], method=method)
    return model, student


@pytest.mark.parametrize("bits", [2, 3, 4, 6, 8])
@pytest.mark.parametrize("per_channel", [True, False])
def test_weight_levels_per_channel_at_most_two_to_the_bits(bits, per_channel):
    weight = torch.randn(8, 4, 3, 3)
    quantized = WeightQuantizer(weight, bits, per_channel=per_channel)(weight)
    for channel in quantized:
        assert channel.unique().numel() <= 2 ** bits
    assert quantized.unique().numel() > 1


@pytest.mark.parametrize("cls", [LSQQuantizer, PAMSQuantizer])
@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("signed", [True, False])
def test_activation_levels_at_most_two_to_the_bits(cls, bits, signed):
    quantizer = cls(bits)
    quantizer.set_range(1.0, signed)
    x = torch.linspace(-2, 2, 10001).view(1, 1, 1, -1)
    out = quantizer(x).detach()
    assert out.unique().numel() <= 2 ** bits
    assert out.max() <= 1.0 + 1e-5
    # LSQ's signed grid [-2^(b-1), 2^(b-1)-1] reaches one step further below zero; PAMS is symmetric
    lowest = -1.0 - (1.0 / (2 ** (bits - 1) - 1) if cls is LSQQuantizer else 0.0) if signed else 0.0
    assert out.min() >= lowest - 1e-5 and out.min() == pytest.approx(lowest, abs=1e-5)


@pytest.mark.parametrize("quantizer", ["lsq", "pams"])
def test_straight_through_gradients_reach_weights_and_ranges(quantizer):
    _, student = calibrated_student(quantizer=quantizer, bits=3)
    out = student(torch.rand(2, 3, 16, 16))
    out.square().mean().backward()
    for name, layer in quantized_layers(student).items():
        assert layer.conv.weight.grad is not None and layer.conv.weight.grad.abs().sum() > 0, name
        assert layer.weight_quantizer.scale.grad is not None and layer.weight_quantizer.scale.grad.abs().sum() > 0
    range_grads = [p.grad for n, p in student.named_parameters() if n.endswith((".step", ".alpha"))]
    assert range_grads and all(g is not None for g in range_grads)
    assert sum(float(g.abs().sum()) for g in range_grads) > 0


def test_default_quantizes_body_only_and_keeps_the_original_untouched():
    model, student = calibrated_student()
    names = set(quantized_layers(student))
    assert names == {n for n in quantizable_layers(model, ("body",))}
    assert all(n.startswith("body.") for n in names)
    assert not quantized_layers(model)
    assert isinstance(student.head, torch.nn.Conv2d)
    _, full = calibrated_student(quantize_head=True, quantize_tail=True)
    assert {n.split(".")[0] for n in quantized_layers(full)} == {"head", "body", "tail"}


def test_transposed_tail_can_be_quantized():
    _, student = calibrated_student(arch="fsrcnn", quantize_tail=True)
    assert isinstance(student.tail, QuantConv2d) and student.tail.transposed
    assert student(torch.rand(1, 3, 8, 8)).shape == (1, 3, 16, 16)


def test_mixed_precision_from_map_and_rule():
    model = build_model("edsr", 2)
    student = quantize_model(model, 4, 4, bit_widths={"body.blocks.0.conv1": 8, "body.conv": (6, 3)})
    bits = {n: layer.bits for n, layer in quantized_layers(student).items()}
    assert bits["body.blocks.0.conv1"] == (8, 8) and bits["body.conv"] == (6, 3)
    assert bits["body.blocks.1.conv2"] == (4, 4)
    ruled = quantize_model(model, 4, 4, bit_widths=lambda name, conv: 2 if name.endswith("conv2") else None)
    assert all((layer.bits == (2, 2)) == n.endswith("conv2") for n, layer in quantized_layers(ruled).items())


def test_unsigned_range_after_relu():
    _, student = calibrated_student()
    layers = quantized_layers(student)
    assert not bool(layers["body.blocks.0.conv2"].input_quantizer.signed)  # input follows a ReLU
    assert bool(layers["body.blocks.0.conv1"].input_quantizer.signed)


@pytest.mark.parametrize("method", ["minmax", "percentile", "mse"])
def test_calibration_methods_give_finite_outputs(method):
    model, student = calibrated_student(method=method, bits=8)
    x = torch.rand(1, 3, 16, 16)
    assert torch.allclose(student(x), model(x), atol=0.05)


def test_bad_input_is_named():
    model = build_model("edsr", 2)
    with pytest.raises(ConfigError, match="w_bits=1 is not supported; allowed: integers 2..8"):
        quantize_model(model, 1, 4)
    with pytest.raises(ConfigError, match="a_bits=16"):
        quantize_model(model, 4, 16)
    with pytest.raises(ConfigError, match="unknown activation quantizer 'dorefa'; allowed: lsq, pams"):
        quantize_model(model, 4, 4, activation_quantizer="dorefa")
    with pytest.raises(ConfigError, match="'body.blocks.9.conv1'.*not quantizable layers.*body.blocks.0.conv1"):
        quantize_model(model, 4, 4, bit_widths={"body.blocks.9.conv1": 4})
    with pytest.raises(ConfigError, match="w_bits of layer 'body.conv'=9"):
        quantize_model(model, 4, 4, bit_widths={"body.conv": 9})
    with pytest.raises(ConfigError, match="unknown calibration method 'kl'; allowed: minmax, percentile, mse"):
        calibrate(quantize_model(model), [torch.rand(1, 3, 8, 8)], method="kl")


@pytest.mark.parametrize("activation_quantizer", ["lsq", "pams"])
def test_quantized_layers_live_on_their_convolutions_device(activation_quantizer):
    """No GPU here: the meta device stands in for CUDA (a CPU-created step beside CUDA weights used to fail)."""
    layer = QuantConv2d(torch.nn.Conv2d(4, 4, 3).to("meta"), 4, 4, activation_quantizer)
    assert {t.device.type for t in [*layer.parameters(), *layer.buffers()]} == {"meta"}


@pytest.mark.parametrize("axis", [None, 0, 1])
@pytest.mark.parametrize("grid", [(-8, 7), (0, 15), (-1, 1), (-128, 127)])
def test_learnable_fake_quantize_equals_pytorchs_operator_to_the_last_bit(axis, grid):
    """Values, input gradients and step gradients, including inputs on half steps and outside the grid."""
    from spark_env.quant.quantizers import learnable_fake_quantize
    qmin, qmax = grid
    generator = torch.Generator().manual_seed(qmax)
    for trial in range(10):
        x = torch.randn(6, 5, 7, 9, generator=generator) * (1 + 2 * trial)
        channels = 1 if axis is None else x.shape[axis]
        scale = torch.rand(channels, generator=generator) * 0.5 + 0.05
        scale[0] = 0.25
        x[0, 0, 0, :8] = (torch.arange(8) - 3.5) * 0.25  # exactly half a step of 0.25 apart
        zero_point = torch.zeros(channels)
        grad_output = torch.randn(x.shape, generator=generator)
        factor = 1.0 / math.sqrt(x[0].numel() * qmax)
        inputs = [(x.clone().requires_grad_(True), scale.clone().requires_grad_(True)) for _ in range(2)]
        if axis is None:
            expected = torch._fake_quantize_learnable_per_tensor_affine(*inputs[0], zero_point, qmin, qmax, factor)
        else:
            expected = torch._fake_quantize_learnable_per_channel_affine(*inputs[0], zero_point, axis, qmin, qmax,
                                                                         factor)
        got = learnable_fake_quantize(*inputs[1], zero_point, qmin, qmax, factor, axis)
        expected.backward(grad_output)
        got.backward(grad_output)
        assert torch.equal(got, expected)
        assert torch.equal(inputs[1][0].grad, inputs[0][0].grad)
        assert torch.equal(inputs[1][1].grad, inputs[0][1].grad)
