"""Export low-bit students to ONNX and check that onnxruntime computes what the PyTorch student computes.

    python -m experiments.export_onnx --student my_student.pt             # any student file
    python -m experiments.export_onnx --run-folder runs/benchmark/quick   # every student a run kept
                                                                          # (benchmark --set save_students=true)
    python -m experiments.export_onnx --train --arch fsrcnn edsr --bits 8 4 2 --conv-floor
                                            # fresh QAT students (tiny preset), PyTorch's own floor beside

Per student: ``<out>/<name>.onnx`` (Q/DQ at the learned steps, int8 weight codes: spark_env.quant.onnx_export)
and, on the test images of the student's task (the embedded test split, or ``--test-folder``), the PSNR-Y of the
PyTorch student and of the ONNX model, the share of output values whose 8-bit levels differ by at most 1, and
the largest difference. ``parity.csv`` (per image), ``summary.csv`` / ``summary.md`` (per student, with the
verdict against the parity targets: |mean PSNR difference| <= 0.01 dB, >= 99.9 % of output values within 1 level,
every value within 1 level when every layer is W8A8). The exit status is 1 when a student misses a target.

``--conv-floor`` also runs each PyTorch student with oneDNN's convolutions switched off (ATen's own) and reports
how far PyTorch is from itself (``conv_floor_within_1_lsb``, ``conv_floor_max_lsb``): a low-bit network amplifies
the last-bit differences of another accumulation order, so this is the floor any other runtime can be held to.
(``ATEN_CPU_CAPABILITY`` does not change oneDNN's convolutions, so another ATen kernel is no such floor.)
Needs the ``onnx`` extra: ``pip install -e ".[onnx]"``.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from experiments.common import write_table
from experiments.qat_runs import safe_name
from spark_env.data import DEFAULT_IMAGE_SET, get_task, load_pairs
from spark_env.data.io import to_tensor
from spark_env.data.pairs import ImagePair
from spark_env.errors import ConfigError
from spark_env.quant import check_bits
from spark_env.quant.onnx_export import export_onnx, onnx_parity, output_levels
from spark_env.quant.student_file import load_student, save_student

PSNR_TOLERANCE_DB = 0.01
WITHIN_ONE_LEVEL = 0.999


@dataclass(frozen=True)
class Target:
    """A student to export: its name (file stem of the ONNX model), the network and its file's metadata."""

    name: str
    student: nn.Module
    meta: dict


def trained_student(preset: str, arch: str, bits: int, quantizer: str, steps: int, seed: int,
                    out: Path) -> Path:
    """Run one QAT episode of ``steps`` uniform-KD steps (SparkKD, ``preset``) and save its final student."""
    import gymnasium as gym

    from spark_env.protocols import latest_env_id

    env = gym.make(latest_env_id(DEFAULT_IMAGE_SET), preset=preset, arch=arch, w_bits=bits, a_bits=bits,
                   quantizer=quantizer, episode_steps=steps)
    env.reset(seed=seed)
    for _ in range(steps):
        env.step(np.zeros(env.action_space.shape, np.float32))
    session = env.unwrapped.session
    path = save_student(session.student, session.config.task, session.quant,
                        out / f"{arch}_{session.config.task}_w{bits}a{bits}_{quantizer}_seed{seed}.pt")
    env.close()
    return path


def run_folder_students(folder: Path) -> list[Path]:
    """The student files a run kept (``<folder>/students/**/*.pt``); an error when there are none."""
    if not folder.is_dir():
        raise ConfigError(f"run folder '{folder}' does not exist")
    files = sorted((folder / "students").rglob("*.pt"))
    if not files:
        raise ConfigError(f"run folder '{folder}' has no students/: run the experiment into a new --out with "
                          "--set save_students=true")
    return files


def targets(files: list[Path], root: Path | None) -> Iterator[Target]:
    """The students of ``files``, each named by its path under ``root`` (or its file name)."""
    for path in files:
        student, meta = load_student(path)
        relative = path.relative_to(root) if root is not None else Path(path.name)
        yield Target(safe_name(str(relative.with_suffix(""))), student, meta)


def float_bytes(student: nn.Module) -> int:
    """Bytes of the student's weights as float32 (what an FP32 export of its parameters would hold)."""
    return sum(p.numel() for n, p in student.named_parameters() if n.endswith(("weight", "bias"))) * 4


def verdict(rows: pd.DataFrame, all_w8a8: bool) -> str:
    """'pass' or the parity targets a student misses."""
    misses = []
    if abs(rows.psnr_diff.mean()) > PSNR_TOLERANCE_DB:
        misses.append(f"|PSNR diff| > {PSNR_TOLERANCE_DB} dB")
    if rows.within_1_lsb.mean() < WITHIN_ONE_LEVEL:
        misses.append(f"< {WITHIN_ONE_LEVEL:.1%} within 1 level")
    if all_w8a8 and rows.max_lsb.max() > 1:
        misses.append("W8A8 value off by > 1 level")
    return "pass" if not misses else "FAIL: " + "; ".join(misses)


@torch.no_grad()
def conv_floor(student: nn.Module, pairs: list[ImagePair]) -> dict[str, float]:
    """How far PyTorch is from itself when only its convolution backend changes (oneDNN off: ATen's own
    convolutions): the share of output values within one 8-bit level and the largest difference. A low-bit network
    amplifies last-bit differences of its accumulations; this is the floor another runtime can be held to."""
    shares, largest = [], 0.0
    for pair in pairs:
        lq = to_tensor(pair.lq)
        reference = output_levels(student(lq))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="TF32 acceleration")  # setting the flags warns on a CPU build
            with torch.backends.mkldnn.flags(enabled=False):
                other = output_levels(student(lq))
        difference = (reference - other).abs()
        shares.append(float((difference <= 1).float().mean()))
        largest = max(largest, float(difference.max()))
    return {"conv_floor_within_1_lsb": float(np.mean(shares)), "conv_floor_max_lsb": largest}


def export_and_check(target: Target, out: Path, test_folder: str | None, image_set: str = DEFAULT_IMAGE_SET,
                     with_conv_floor: bool = False) -> tuple[dict, list[dict]]:
    """Export one student, measure its parity on the test images (and, ``with_conv_floor``, PyTorch's own parity
    across its two convolution backends); (summary row, per-image rows)."""
    meta = target.meta
    task = get_task(meta["task"])
    pairs = load_pairs(task, "test", test_folder, image_set=image_set)
    exported = export_onnx(target.student, out / f"{target.name}.onnx")
    rows = pd.DataFrame(onnx_parity(target.student, exported.path, pairs, task))
    bits = sorted({(w, a) for _, w, a in exported.layers})
    summary = {"student": target.name, "arch": meta["arch"], "task": meta["task"],
               "bits": " ".join(f"W{w}A{a}" for w, a in bits), "quantizer": meta["quant"]["activation_quantizer"],
               "images": len(rows), "onnx_kb": exported.size_bytes / 1024,
               "fp32_weights_kb": float_bytes(target.student) / 1024,
               "psnr_torch": rows.psnr_torch.mean(), "psnr_onnx": rows.psnr_onnx.mean(),
               "psnr_diff": rows.psnr_diff.mean(), "max_abs_image_diff": rows.psnr_diff.abs().max(),
               "within_1_lsb": rows.within_1_lsb.mean(), "max_lsb": rows.max_lsb.max(),
               "parity": verdict(rows, bits == [(8, 8)])}
    if with_conv_floor:
        summary.update(conv_floor(target.student, pairs))
    return summary, [{"student": target.name, **row} for row in rows.to_dict("records")]


def student_files(args: argparse.Namespace) -> tuple[list[Path], Path | None]:
    """(student files, the folder their names are relative to) of the command line's source."""
    if args.train:
        for bits in args.bits:
            check_bits(bits, "--bits")
        return [trained_student(args.preset, arch, bits, args.quantizer, args.steps, args.seed, args.out)
                for arch in args.arch for bits in args.bits], None
    if args.run_folder is not None:
        return run_folder_students(args.run_folder), args.run_folder / "students"
    return args.student, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--student", type=Path, nargs="+", help="student file(s)")
    source.add_argument("--run-folder", type=Path, help="a run folder whose students/ to export")
    source.add_argument("--train", action="store_true", help="train a fresh QAT student first (uniform KD)")
    parser.add_argument("--preset", default="tiny", help="--train: the env preset")
    parser.add_argument("--arch", nargs="+", default=["fsrcnn"], help="--train: student architecture(s)")
    parser.add_argument("--bits", type=int, nargs="+", default=[4],
                        help="--train: weight and activation bits (2..8), one student per value")
    parser.add_argument("--quantizer", default="lsq", help="--train: activation quantizer (lsq, pams)")
    parser.add_argument("--steps", type=int, default=16, help="--train: QAT steps")
    parser.add_argument("--seed", type=int, default=0, help="--train: the run seed")
    parser.add_argument("--test-folder", default=None, help="a benchmark folder to measure on (default: the "
                                                            "embedded test split)")
    parser.add_argument("--image-set", default=DEFAULT_IMAGE_SET, help="embedded image set whose test split "
                                                                       "measures parity (default: the newest)")
    parser.add_argument("--conv-floor", action="store_true",
                        help="also compare PyTorch with itself with oneDNN's convolutions off")
    parser.add_argument("--out", type=Path, default=Path("runs/onnx"), help="output folder")
    args = parser.parse_args(argv)
    try:
        files, root = student_files(args)
        summaries, per_image = [], []
        for target in targets(files, root):
            summary, rows = export_and_check(target, args.out, args.test_folder, args.image_set, args.conv_floor)
            summaries.append(summary)
            per_image += rows
            print(f"{target.name}: {summary['parity']} (PSNR {summary['psnr_torch']:.3f} -> "
                  f"{summary['psnr_onnx']:.3f} dB, {summary['within_1_lsb']:.4%} within 1 level, "
                  f"{summary['onnx_kb']:.0f} kB)", flush=True)
    except ConfigError as error:
        raise SystemExit(f"error: {error}") from error
    pd.DataFrame(per_image).to_csv(args.out / "parity.csv", index=False)
    table = pd.DataFrame(summaries)
    print(write_table(table, args.out, "summary", "ONNX export: onnxruntime vs the PyTorch student on the test "
                                                  "images", floatfmt=".4f"))
    return 0 if (table.parity == "pass").all() else 1


if __name__ == "__main__":
    sys.exit(main())
