"""Train a full-precision teacher for an (architecture, task) pair on the embedded training split.

    python -m experiments.train_teacher --arch edsr --task sr_x2 [--iters 3000] [--ship]

L1 loss, Adam with cosine decay, fresh random crops (flips/rotations, new noise for denoising) every batch.
Checkpoints go to ``--run-dir`` every ``--checkpoint-every`` iterations and a rerun resumes from the last one.
The final model is evaluated on the validation and test splits; ``--ship`` writes it into the package
(``spark_env/models/weights``) and records its hash and figures in the manifest.
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
from spark_env.data import embedded_images, fresh_training_batch, get_task, load_pairs
from spark_env.evaluation import evaluate
from spark_env.models import build_model, save_weights
from spark_env.models.teachers import MANIFEST, WEIGHTS_DIR, read_manifest, teacher_filename

LQ_PATCH = {1: 48, 2: 40, 3: 32, 4: 24}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="edsr")
    parser.add_argument("--task", default="sr_x2")
    parser.add_argument("--iters", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=None, help="LR patch size (default by scale: 48/40/32/24)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="architecture option, e.g. --option n_feats=32 (repeatable)")
    parser.add_argument("--run-dir", type=Path, default=None, help="checkpoints (default runs/teachers/ARCH_TASK)")
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--ship", action="store_true", help="write the weights into the package and the manifest")
    return parser.parse_args(argv)


def train(args: argparse.Namespace) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    task = get_task(args.task)
    torch.manual_seed(args.seed)
    model = build_model(args.arch, task.scale, **parse_overrides(args.option, "--option"))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.iters, eta_min=args.lr * 0.01)
    run_dir = args.run_dir or Path("runs/teachers") / f"{args.arch}_{args.task}"
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = run_dir / "checkpoint.pt"
    start = 0
    rng = np.random.default_rng(args.seed)
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start = int(state["iteration"])
        rng = np.random.default_rng([args.seed, start])
        print(f"resuming from {checkpoint} at iteration {start}")
    images = embedded_images("train")
    patch = args.patch or LQ_PATCH[task.scale]
    model.train()
    began = time.time()
    progress = tqdm(range(start, args.iters), initial=start, total=args.iters, desc=f"{args.arch}/{args.task}")
    for iteration in progress:
        lq, hr = fresh_training_batch(images, task, patch, args.batch, rng)
        loss = F.l1_loss(model(torch.from_numpy(lq)), torch.from_numpy(hr))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        progress.set_postfix(l1=f"{loss.item():.4f}")
        if (iteration + 1) % args.checkpoint_every == 0 or iteration + 1 == args.iters:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "iteration": iteration + 1}, checkpoint)
    model.eval()
    report = {"arch": args.arch, "task": args.task, "iters": args.iters, "train_seconds": round(time.time() - began),
              "params": sum(p.numel() for p in model.parameters()), "config": model.config}
    for split in ("val", "test"):
        pairs = load_pairs(task, split)
        report[split] = {"model": evaluate(model, pairs, task), task.baseline_name: evaluate(None, pairs, task)}
    weights = run_dir / "teacher.pt"
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


if __name__ == "__main__":
    train(parse_args())
