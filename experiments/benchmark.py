"""The project's main job on the embedded data.

    python -m experiments.benchmark --preset quick [--out runs/benchmark]

Current scope (the method comparison of PTQ / QAT / KD / SPARK lands with the experiments issue): every shipped
full-precision teacher against its no-learning baseline (bicubic / noisy input), and post-training quantization of
the default teacher at W8A8 / W4A4 / W3A3 / W2A2 with MSE calibration; all on the held-out test images. Writes
CSV + Markdown tables and a PNG plot (PSNR vs bits) to the run folder and prints the tables.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from experiments.common import seed_everything, write_table  # noqa: E402
from experiments.quant_tables import ptq_rows  # noqa: E402
from spark_env.data import get_task, load_pairs  # noqa: E402
from spark_env.evaluation import evaluate  # noqa: E402
from spark_env.models import load_teacher, shipped_teachers  # noqa: E402

PRESETS = {"quick": {"ptq_tasks": ["sr_x2"], "bits": [8, 4, 3, 2]},
           "full": {"ptq_tasks": ["sr_x2", "sr_x4", "denoise_s25"], "bits": [8, 6, 4, 3, 2]}}


def teacher_rows() -> list[dict]:
    rows = []
    for arch, task_name in shipped_teachers():
        task = get_task(task_name)
        pairs = load_pairs(task, "test")
        model = evaluate(load_teacher(arch, task_name), pairs, task)
        baseline = evaluate(None, pairs, task)
        rows.append({"teacher": arch, "task": task_name, "baseline": task.baseline_name,
                     "baseline psnr": baseline["psnr"], "baseline ssim": baseline["ssim"],
                     "teacher psnr": model["psnr"], "teacher ssim": model["ssim"],
                     "gain dB": model["psnr"] - baseline["psnr"]})
    return rows


def plot_ptq(frame: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for task, group in frame.groupby("task"):
        fp = group[group.bits == 32]["psnr"].iloc[0]
        ptq = group[group.bits < 32].sort_values("bits")
        line, = ax.plot(ptq.bits, ptq.psnr, "o-", label=f"{task} PTQ")
        ax.axhline(fp, color=line.get_color(), ls="--", lw=0.8, label=f"{task} FP teacher")
    ax.set_xlabel("bits (weights = activations)")
    ax.set_ylabel("PSNR-Y on test images (dB)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=list(PRESETS), default="quick")
    parser.add_argument("--out", type=Path, default=Path("runs/benchmark"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    seed_everything(args.seed)
    preset = PRESETS[args.preset]
    print(write_table(pd.DataFrame(teacher_rows()), args.out, "teachers", "Shipped FP teachers (test split)"))
    ptq = pd.DataFrame([row for task in preset["ptq_tasks"]
                        for row in ptq_rows("edsr", task, preset["bits"], methods=("mse",), seed=args.seed)])
    print(write_table(ptq, args.out, "ptq", "PTQ of the default teacher, MSE calibration (test split)"))
    plot_ptq(ptq, args.out / "ptq_psnr_vs_bits.png")
    print(f"results written to {args.out}/")


if __name__ == "__main__":
    main()
