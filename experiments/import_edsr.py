"""Convert an official EDSR-PyTorch checkpoint into a project weight file, then measure it.

    python -m experiments.import_edsr --checkpoint edsr_baseline_x2-1bc95232.pt --task sr_x2 \
        --out weights/edsr_official_sr_x2.pt [--test-folder Set5=/data/Set5 ...]

The file is an ``edsr_official`` teacher (spark_env.models.edsr_import): pass it as ``teacher_weights`` with
``arch=edsr_official`` (the benchmark's ``teacher_weights: {edsr_official/sr_x2: PATH}``). Prints its SHA-256 and
PSNR-Y / SSIM-Y on the embedded test split, or on each ``--test-folder``.
"""
from __future__ import annotations

import argparse
import json

from experiments.common import parse_overrides
from experiments.qat_runs import test_scores
from spark_env.data import DEFAULT_IMAGE_SET
from spark_env.errors import ConfigError
from spark_env.models.edsr_import import ARCH, import_official_edsr
from spark_env.models.teachers import load_teacher


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="EDSR-PyTorch state dict (.pt)")
    parser.add_argument("--task", required=True, help="sr_x2, sr_x3 or sr_x4 (the checkpoint's scale)")
    parser.add_argument("--out", required=True, help="project weight file to write")
    parser.add_argument("--test-folder", action="append", default=[], metavar="NAME=PATH",
                        help="benchmark folder to measure on (repeatable); default: the embedded test split")
    args = parser.parse_args(argv)
    try:
        folders = {name: str(path) for name, path in parse_overrides(args.test_folder, "--test-folder").items()}
        sha256 = import_official_edsr(args.checkpoint, args.task, args.out)
        teacher = load_teacher(ARCH, args.task, args.out)
        report = {"arch": ARCH, "task": args.task, "weights": args.out, "sha256": sha256, "config": teacher.config,
                  "test": test_scores(teacher, args.task, DEFAULT_IMAGE_SET, folders)[0]}
    except ConfigError as error:
        raise SystemExit(f"error: {error}") from error
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
