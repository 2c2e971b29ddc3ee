"""Shipped teachers against their no-learning baselines, PTQ table and QAT sanity run (no knowledge distillation).

    python -m experiments.quant_tables [--arch edsr] [--tasks sr_x2 sr_x4] [--qat-steps 300]

Teachers: every shipped FP teacher against bicubic upsampling / the noisy input.
PTQ: the full-precision teacher quantized at W8A8 / W4A4 / W3A3 / W2A2 (body convolutions and their inputs) and
calibrated on 8 random training crops with each calibration method. QAT: the MSE-calibrated PTQ student trained
with the L1 reconstruction loss alone for ``--qat-steps`` Adam steps on training crops. Every figure is PSNR-Y /
SSIM-Y on the held-out test images. Results go to ``runs/quant`` (CSV and Markdown).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from experiments.common import seed_everything, write_table
from spark_env.data import DEFAULT_IMAGE_SET, crop_batch, get_task, load_pairs
from spark_env.evaluation import evaluate
from spark_env.models import load_teacher, shipped_teachers
from spark_env.quant import CALIBRATION_METHODS, QuantSettings, make_student, qat_optimizer


def calibration_batches(pairs, task, seed: int, crops: int = 8, size: int = 48) -> list[torch.Tensor]:
    lq, _ = crop_batch(pairs, size, crops, task.scale, np.random.default_rng(seed))
    return [torch.from_numpy(lq)]


def run_qat(student, train_pairs, task, steps: int, lr: float, quant_lr: float, batch: int, crop: int,
            seed: int) -> torch.nn.Module:
    """Plain QAT: L1 to the ground truth, Adam, cosine-decayed learning rates."""
    optimizer = qat_optimizer(student, lr, quant_lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    rng = np.random.default_rng(seed)
    student.train()
    for _ in tqdm(range(steps), desc="QAT", leave=False):
        lq, hr = crop_batch(train_pairs, crop, batch, task.scale, rng)
        loss = F.l1_loss(student(torch.from_numpy(lq)), torch.from_numpy(hr))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
    return student.eval()


def teacher_rows() -> list[dict]:
    """Every shipped teacher and its task's no-learning baseline on the test split."""
    rows = []
    for arch, task_name in shipped_teachers():
        task = get_task(task_name)
        pairs = load_pairs(task, "test")
        model, baseline = evaluate(load_teacher(arch, task_name), pairs, task), evaluate(None, pairs, task)
        rows.append({"teacher": arch, "task": task_name, "baseline": task.baseline_name,
                     "baseline psnr": baseline["psnr"], "baseline ssim": baseline["ssim"],
                     "teacher psnr": model["psnr"], "teacher ssim": model["ssim"],
                     "gain dB": model["psnr"] - baseline["psnr"]})
    return rows


def ptq_rows(arch: str, task_name: str, bits_list: list[int], methods: tuple[str, ...] = CALIBRATION_METHODS,
             quantizer: str = "lsq", seed: int = 0, image_set: str = DEFAULT_IMAGE_SET) -> list[dict]:
    """FP teacher and PTQ students (each bit width x calibration method) on the test split of ``image_set``,
    calibrated on crops of its training split."""
    task = get_task(task_name)
    teacher = load_teacher(arch, task_name)
    calib = calibration_batches(load_pairs(task, "train", image_set=image_set), task, seed)
    test_pairs = load_pairs(task, "test", image_set=image_set)
    rows = [{"task": task_name, "model": "FP teacher", "bits": 32, "calibration": "-",
             **evaluate(teacher, test_pairs, task)}]
    for bits in bits_list:
        for method in methods:
            student = make_student(teacher, QuantSettings(bits, bits, quantizer, calibration=method), calib, seed)
            rows.append({"task": task_name, "model": f"W{bits}A{bits} PTQ", "bits": bits, "calibration": method,
                         **evaluate(student, test_pairs, task)})
    return rows


def qat_row(arch: str, task_name: str, bits: int, args: argparse.Namespace) -> dict:
    """PTQ (MSE calibration) then plain QAT; figures on the test split."""
    task = get_task(task_name)
    teacher = load_teacher(arch, task_name)
    train_pairs, test_pairs = load_pairs(task, "train"), load_pairs(task, "test")
    student = make_student(teacher, QuantSettings(bits, bits, args.quantizer),
                           calibration_batches(train_pairs, task, args.seed), seed=args.seed)
    fp, ptq = evaluate(teacher, test_pairs, task), evaluate(student, test_pairs, task)
    began = time.time()
    run_qat(student, train_pairs, task, args.qat_steps, args.lr, args.quant_lr, args.batch, args.crop, args.seed)
    qat = evaluate(student, test_pairs, task)
    return {"task": task_name, "bits": f"W{bits}A{bits}", "FP psnr": fp["psnr"], "PTQ psnr": ptq["psnr"],
            "QAT psnr": qat["psnr"], "recovered dB": qat["psnr"] - ptq["psnr"], "PTQ ssim": ptq["ssim"],
            "QAT ssim": qat["ssim"], "QAT seconds": round(time.time() - began, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="edsr")
    parser.add_argument("--tasks", nargs="+", default=["sr_x2", "sr_x4"])
    parser.add_argument("--bits", nargs="+", type=int, default=[8, 4, 3, 2])
    parser.add_argument("--qat-bits", nargs="+", type=int, default=[4, 2])
    parser.add_argument("--qat-steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--quant-lr", type=float, default=1e-3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=32)
    parser.add_argument("--quantizer", default="lsq")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/quant"))
    args = parser.parse_args(argv)
    seed_everything(args.seed)
    print(write_table(pd.DataFrame(teacher_rows()), args.out, "teachers", "Shipped FP teachers (test split)"))
    ptq = [row for task in args.tasks for row in ptq_rows(args.arch, task, args.bits, quantizer=args.quantizer,
                                                          seed=args.seed)]
    print(write_table(pd.DataFrame(ptq), args.out, "ptq", f"PTQ of the {args.arch} teacher (test split)"))
    qat = [qat_row(args.arch, task, bits, args) for task in args.tasks for bits in args.qat_bits]
    print(write_table(pd.DataFrame(qat), args.out, "qat_sanity",
                      f"QAT without KD, {args.qat_steps} steps, lr {args.lr:g} / quantizer lr {args.quant_lr:g}"))


if __name__ == "__main__":
    main()
