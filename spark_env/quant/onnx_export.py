"""ONNX export of a low-bit student with QuantizeLinear / DequantizeLinear (Q/DQ) at its learned steps, and the
parity check of the exported model against the PyTorch fake-quantized student.

PyTorch's learnable fake-quantize operators have no ONNX form, so each quantized convolution is frozen first:

* its input: ``QuantizeLinear`` / ``DequantizeLinear`` with the learned step ``s`` (LSQ: the step; PAMS: clip /
  levels) and zero point 0, in an int8 container (signed grids) or a uint8 one (unsigned grids, inputs after a
  ReLU), then ``Clip`` to the layer's low-bit range ``[qmin * s, qmax * s]`` (2-7-bit grids inside the 8-bit
  container; the dequantized values are multiples of ``s``, so clipping them equals clamping the integer codes).
  The Clip comes after the pair on purpose: onnxruntime's graph optimizer (``ClipQuantFusion``, every optimization
  level from basic up) removes a Clip that feeds a QuantizeLinear, which widens a 2-bit grid to 8 bits (measured:
  EDSR W2A2, 51 % of output values within one 8-bit level instead of 100 %);
* its weight: the integer codes the student uses (``round(W / s_w)`` clamped to the narrow signed grid, computed by
  the student's own quantizer) stored as an int8 initializer with a per-output-channel (or per-tensor)
  ``DequantizeLinear``; the dequantized weights are the student's to the last bit;
* bias, head, tail (full precision unless quantized) and every other operation export as ordinary ONNX operators.

The file is written by PyTorch's TorchScript-based exporter (``dynamo=False``, opset 13: per-channel Q/DQ), whose
weight ``QuantizeLinear`` nodes are then folded into int8 initializers. The input ``lq`` is (N, 3, H, W) RGB in
[0, 1] with N, H and W free; the output ``output`` is (N, 3, H * scale, W * scale), not clipped.

``onnx`` and ``onnxruntime`` are an optional extra: ``pip install -e ".[onnx]"``.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spark_env.data.io import to_tensor
from spark_env.data.pairs import ImagePair
from spark_env.data.tasks import Task
from spark_env.errors import ConfigError
from spark_env.evaluation import measure_border
from spark_env.metrics import psnr
from spark_env.quant.layers import QuantConv2d
from spark_env.quant.model import quantized_layers, set_submodule
from spark_env.quant.quantizers import ActivationQuantizer

OPSET = 13
INPUT_NAME, OUTPUT_NAME = "lq", "output"
_CONTAINERS = {True: (-128, 127), False: (0, 255)}  # signed -> int8, unsigned -> uint8


def _onnx_modules():
    try:
        import onnx
        import onnxruntime
    except ImportError as error:
        raise ImportError(f"ONNX export needs the 'onnx' extra: pip install -e \".[onnx]\" ({error})") from None
    return onnx, onnxruntime


def activation_grid(name: str, quantizer: ActivationQuantizer) -> tuple[float, int, int]:
    """(step, qmin, qmax) of a layer's input quantizer: the values it produces are ``step * k`` for integers
    ``qmin <= k <= qmax``. A ConfigError names the layer for a quantizer without an integer grid."""
    try:
        qmin, qmax = quantizer.grid()
        return float(quantizer.effective_step().detach()), qmin, qmax
    except NotImplementedError as error:
        raise ConfigError(f"layer '{name}': activation quantizer {type(quantizer).__name__} has no ONNX export "
                          f"({error}); supported: LSQQuantizer, PAMSQuantizer") from None


class DeployedConv(nn.Module):
    """A QuantConv2d frozen for export: the input through Q/DQ at the learned step and a Clip to its grid, the weight
    as the student's dequantized weight behind a Q/DQ pair at its learned steps (folded into int8 codes after
    export)."""

    def __init__(self, name: str, layer: QuantConv2d) -> None:
        super().__init__()
        conv = layer.conv
        if getattr(conv, "padding_mode", "zeros") != "zeros":
            raise ConfigError(f"layer '{name}': padding_mode={conv.padding_mode!r} has no export here; supported: "
                              "'zeros'")
        self.conv = conv
        self.transposed = layer.transposed
        quantizer = layer.input_quantizer
        self.quantize_input = quantizer.enabled
        step, qmin, qmax = activation_grid(name, quantizer)
        self.input_step = step
        self.input_container = _CONTAINERS[qmin < 0]
        self.input_clip = None if (qmin, qmax) == self.input_container else (qmin * step, qmax * step)
        weights = layer.weight_quantizer
        with torch.no_grad():
            self.register_buffer("weight", weights(conv.weight).detach().clone())  # the student's own values
            self.register_buffer("weight_step", weights.effective_scale().detach().clone())
        self.weight_axis = weights.axis if weights.per_channel else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.quantize_input:
            x = torch.fake_quantize_per_tensor_affine(x, self.input_step, 0, *self.input_container)
            if self.input_clip is not None:  # after Q/DQ: onnxruntime's Clip-QuantizeLinear fusion drops a Clip
                x = torch.clamp(x, *self.input_clip)  # before it, as if the 8-bit range were the layer's
        if self.weight_axis is None:
            weight = torch.fake_quantize_per_tensor_affine(self.weight, float(self.weight_step), 0, -128, 127)
        else:
            zero = torch.zeros_like(self.weight_step, dtype=torch.int32)
            weight = torch.fake_quantize_per_channel_affine(self.weight, self.weight_step, zero, self.weight_axis,
                                                            -128, 127)
        c = self.conv
        if self.transposed:
            return F.conv_transpose2d(x, weight, c.bias, c.stride, c.padding, c.output_padding, c.groups, c.dilation)
        return F.conv2d(x, weight, c.bias, c.stride, c.padding, c.dilation, c.groups)


def deployable(student: nn.Module) -> nn.Module:
    """A copy of a fake-quantized student (eval mode) with every QuantConv2d frozen as a ``DeployedConv``: what
    ``export_onnx`` exports. It computes what the student computes, up to ties in the input rounding."""
    frozen = copy.deepcopy(student).eval()
    layers = quantized_layers(frozen)
    if not layers:
        raise ConfigError("the network has no quantized layer: export a student (spark_env.quant.quantize_model)")
    for name, layer in layers.items():
        set_submodule(frozen, name, DeployedConv(name, layer))
    return frozen


@dataclass(frozen=True)
class OnnxExport:
    """What ``export_onnx`` wrote: the file, its size in bytes, and (layer, w_bits, a_bits) per quantized layer."""

    path: Path
    size_bytes: int
    layers: tuple[tuple[str, int, int], ...]


def export_onnx(student: nn.Module, path: str | Path, opset: int = OPSET) -> OnnxExport:
    """Write a fake-quantized student as an ONNX model with Q/DQ nodes at its learned steps and bit widths (see the
    module docstring); the model is checked with ``onnx.checker`` before it is returned."""
    onnx, _ = _onnx_modules()
    if opset < OPSET:
        raise ConfigError(f"opset={opset} is too old; per-channel QuantizeLinear needs opset {OPSET} or newer")
    layers = tuple((name, *layer.bits) for name, layer in quantized_layers(student).items())
    frozen = deployable(student)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    free = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter: the one with Q/DQ symbolics
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # forward's Python branch on return_features
        torch.onnx.export(frozen, (example,), str(path), dynamo=False, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: free, OUTPUT_NAME: free})
    model = onnx.load(str(path))
    fold_weight_quantization(model)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return OnnxExport(path, path.stat().st_size, layers)


def _constants(graph) -> dict[str, np.ndarray]:
    """Initializers and Constant-node outputs of a graph, by name, as numpy arrays."""
    from onnx import numpy_helper
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def fold_weight_quantization(model) -> None:
    """Replace every ``QuantizeLinear`` of a constant (the weights) by its integer result, stored as an initializer,
    then drop what nothing reads any more: the float weights are gone from the file, the int8 codes stay."""
    from onnx import numpy_helper
    graph = model.graph
    values = _constants(graph)
    folded = []
    for node in graph.node:
        if node.op_type != "QuantizeLinear" or node.input[0] not in values:
            continue
        weight, scale, zero = (values[name] for name in node.input[:3])
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        shape = [1] * weight.ndim
        if scale.ndim:
            shape[axis] = -1
        info = np.iinfo(zero.dtype)
        codes = np.clip(np.rint(weight / scale.reshape(shape)) + zero.reshape(shape).astype(np.int32),
                        info.min, info.max).astype(zero.dtype)
        graph.initializer.append(numpy_helper.from_array(codes, node.output[0]))
        folded.append(node)
    for node in folded:
        graph.node.remove(node)
    _drop_unread(graph)


def _drop_unread(graph) -> None:
    """Remove nodes and initializers whose outputs no node or graph output reads."""
    while True:
        read = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
        unread = [node for node in graph.node if not any(out in read for out in node.output)]
        if not unread:
            break
        for node in unread:
            graph.node.remove(node)
    read = {name for node in graph.node for name in node.input}
    for tensor in [t for t in graph.initializer if t.name not in read]:
        graph.initializer.remove(tensor)


class OnnxStudent(nn.Module):
    """An exported student run by onnxruntime (CPU) behind the ``nn.Module`` call the evaluation code uses:
    (N, 3, H, W) float32 tensor in, (N, 3, H*scale, W*scale) tensor out."""

    def __init__(self, path: str | Path, threads: int = 0) -> None:
        super().__init__()
        _, onnxruntime = _onnx_modules()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # 0: onnxruntime's default
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output = self.session.run([OUTPUT_NAME], {INPUT_NAME: x.detach().cpu().numpy().astype(np.float32)})[0]
        return torch.from_numpy(output)


def output_levels(output: torch.Tensor) -> torch.Tensor:
    """An output as the 8-bit levels the metrics measure (clipped to [0, 1], rounded)."""
    return torch.round(output.clamp(0, 1) * 255.0)


@torch.no_grad()
def onnx_parity(student: nn.Module, onnx_path: str | Path, pairs: list[ImagePair],
                task: Task) -> list[dict[str, float | str]]:
    """Per image: ``psnr_torch`` and ``psnr_onnx`` (PSNR-Y in dB, as the tables measure it), ``psnr_diff`` (ONNX -
    PyTorch), ``within_1_lsb`` (the fraction of output values whose 8-bit levels differ by at most 1) and
    ``max_lsb`` (the largest difference in 8-bit levels)."""
    deployed = OnnxStudent(onnx_path)
    border = measure_border(task)
    was_training = student.training
    student.eval()
    rows = []
    for pair in pairs:
        lq = to_tensor(pair.lq)
        reference, exported = student(lq), deployed(lq)
        difference = (output_levels(reference) - output_levels(exported)).abs()
        psnr_torch, psnr_onnx = psnr(reference, pair.hr, border=border), psnr(exported, pair.hr, border=border)
        rows.append({"image": pair.name, "psnr_torch": psnr_torch, "psnr_onnx": psnr_onnx,
                     "psnr_diff": psnr_onnx - psnr_torch, "within_1_lsb": float((difference <= 1).float().mean()),
                     "max_lsb": float(difference.max())})
    student.train(was_training)
    return rows
