"""Train a full-precision teacher for an (architecture, task) pair, on the embedded images or on your folders.

    python -m experiments.train_teacher --arch edsr --task sr_x2 [--iters 3000] [--ship]            # CPU recipe
    python -m experiments.train_teacher --recipe paper --arch edsr_official --task sr_x2 \
        --train-folder /data/DIV2K --val-folder /data/DIV2K_valid --test-folder Set5=/data/Set5 --device auto

Recipes (``--recipe``; any flag given explicitly overrides the recipe's value):

=======  ============================================================================================================
cpu      the shipped teachers: batch 16, LR patch 48 / 40 / 32 / 24 for scale 1 / 2 / 3 / 4, Adam 1e-3 with cosine
         decay to 1e-5, 3,000 iterations (minutes on a CPU, on the embedded images)
paper    EDSR's recipe (Lim et al., 2017; EDSR-PyTorch's defaults): batch 16, LR patch 48, Adam 1e-4 (betas 0.9 /
         0.999, eps 1e-8) halved every 200,000 iterations, 300,000 iterations (300 "epochs" of 1,000 batches);
         for a GPU and DIV2K (``--train-folder``), e.g. ``--arch edsr_official`` for EDSR-baseline
=======  ============================================================================================================

Training crops: random HR crops (flips / rotations) degraded afresh every batch (MATLAB bicubic for SR, new noise
for denoising), from the embedded training split or the HR images of ``--train-folder`` (DIV2K layouts, kept in
memory as 8-bit). L1 loss, full precision (no mixed precision: fp32 keeps the teachers' figures comparable across
devices). Checkpoints go to ``--run-dir`` every ``--checkpoint-every`` iterations and a rerun resumes from the
last one. The final model is evaluated on the validation split (or ``--val-folder``) and the test split (or each
``--test-folder NAME=PATH``); the report is written as ``report.json`` beside the weights (``teacher.pt``, the
project's weight format, with its SHA-256). ``--ship`` writes it into the package (``spark_env/models/weights``) and
records its hash and figures in the manifest.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from experiments.common import parse_overrides
from experiments.qat_runs import test_scores
from spark_env.data import DEFAULT_IMAGE_SET
from spark_env.data import embedded_images, fresh_training_batch, get_task, load_pairs, training_images
from spark_env.errors import SparkEnvError
from spark_env.evaluation import evaluate
from spark_env.models import build_model, save_weights
from spark_env.models.teachers import MANIFEST, WEIGHTS_DIR, read_manifest, teacher_filename
from spark_env.device import resolve_device

LQ_PATCH = {1: 48, 2: 40, 3: 32, 4: 24}
RECIPES = {
    "cpu": {"iters": 3000, "batch": 16, "patch": None, "lr": 1e-3, "schedule": "cosine", "decay_every": 0},
    "paper": {"iters": 300_000, "batch": 16, "patch": 48, "lr": 1e-4, "schedule": "step", "decay_every": 200_000},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="edsr")
    parser.add_argument("--task", default="sr_x2")
    parser.add_argument("--recipe", choices=list(RECIPES), default="cpu")
    parser.add_argument("--iters", type=int, default=None, help="optimizer steps (default: the recipe's)")
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--patch", type=int, default=None, help="LR patch size (default: the recipe's)")
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--decay-every", type=int, default=None,
                        help="step schedule: halve the learning rate every N iterations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=["cpu", "cuda", "auto"], default="auto",
                        help="auto: CUDA when available (an error for 'cuda' without a GPU, never a silent fallback)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="architecture option, e.g. --option n_feats=32 (repeatable)")
    parser.add_argument("--train-folder", type=Path, default=None,
                        help="training HR images (DIV2K layouts); default: the embedded training split")
    parser.add_argument("--val-folder", type=Path, default=None, help="validation folder for the report")
    parser.add_argument("--test-folder", action="append", default=[], metavar="NAME=PATH",
                        help="test folder for the report, e.g. Set5=/data/Set5 (repeatable)")
    parser.add_argument("--run-dir", type=Path, default=None, help="checkpoints (default runs/teachers/ARCH_TASK)")
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--ship", action="store_true", help="write the weights into the package and the manifest")
    args = parser.parse_args(argv)
    recipe = RECIPES[args.recipe]
    for key in ("iters", "batch", "patch", "lr", "decay_every"):
        if getattr(args, key) is None:
            setattr(args, key, recipe[key])
    args.schedule = "step" if args.decay_every else recipe["schedule"]
    args.test_folders = {name: str(path) for name, path in parse_overrides(args.test_folder, "--test-folder").items()}
    for name, path in [("--train-folder", args.train_folder), ("--val-folder", args.val_folder),
                       *((f"--test-folder {k}", v) for k, v in args.test_folders.items())]:
        if path is not None and not Path(path).is_dir():
            raise SystemExit(f"error: {name} '{path}' is not a folder")
    return args


def _scheduler(optimizer: torch.optim.Optimizer, args: argparse.Namespace):
    if args.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=args.decay_every, gamma=0.5)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.iters, eta_min=args.lr * 0.01)


def train(args: argparse.Namespace) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    task = get_task(args.task)
    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    model = build_model(args.arch, task.scale, **parse_overrides(args.option, "--option")).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = _scheduler(optimizer, args)
    run_dir = args.run_dir or Path("runs/teachers") / f"{args.arch}_{args.task}"
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = run_dir / "checkpoint.pt"
    start = 0
    rng = np.random.default_rng(args.seed)
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start = int(state["iteration"])
        rng = np.random.default_rng([args.seed, start])
        print(f"resuming from {checkpoint} at iteration {start}")
    images = training_images(args.train_folder) if args.train_folder else embedded_images("train")
    patch = args.patch or LQ_PATCH[task.scale]
    model.train()
    began = time.time()
    progress = tqdm(range(start, args.iters), initial=start, total=args.iters, desc=f"{args.arch}/{args.task}")
    for iteration in progress:
        lq, hr = fresh_training_batch(images, task, patch, args.batch, rng)
        loss = F.l1_loss(model(torch.from_numpy(lq).to(device)), torch.from_numpy(hr).to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        progress.set_postfix(l1=f"{loss.item():.4f}")
        if (iteration + 1) % args.checkpoint_every == 0 or iteration + 1 == args.iters:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "iteration": iteration + 1}, checkpoint)
    model.eval()
    report = {"arch": args.arch, "task": args.task, "recipe": args.recipe, "iters": args.iters, "batch": args.batch,
              "patch": patch, "lr": args.lr, "schedule": args.schedule, "device": str(device),
              "train_folder": str(args.train_folder) if args.train_folder else "embedded",
              "train_seconds": round(time.time() - began),
              "params": sum(p.numel() for p in model.parameters()), "config": model.config}
    val_pairs = load_pairs(task, "val", str(args.val_folder) if args.val_folder else None)
    report["val"] = {"model": evaluate(model, val_pairs, task), task.baseline_name: evaluate(None, val_pairs, task)}
    report["test"] = {"model": test_scores(model, args.task, DEFAULT_IMAGE_SET, args.test_folders)[0],
                      task.baseline_name: test_scores(None, args.task, DEFAULT_IMAGE_SET, args.test_folders)[0]}
    weights = run_dir / "teacher.pt"
    report["weights"] = str(weights)
    report["sha256"] = save_weights(model, args.arch, args.task, weights)
    if args.ship:
        filename = teacher_filename(args.arch, args.task)
        report["sha256"] = save_weights(model, args.arch, args.task, WEIGHTS_DIR / filename)
        manifest = read_manifest()
        manifest[filename] = report
        MANIFEST.write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")
    (run_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    return report


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    try:
        return train(args)
    except SparkEnvError as error:
        raise SystemExit(f"error: {error}") from error


if __name__ == "__main__":
    main()
