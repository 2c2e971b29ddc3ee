"""Memory the env keeps per training image at paper scale: resident memory on a synthetic folder of DIV2K-sized images.

    python -m experiments.bench_memory                          # 8 images of 2040 x 1356, SR x2
    python -m experiments.bench_memory --images 16 --size 2040 1356 --arch edsr

Writes ``--images`` synthetic photographs (smooth colour fields with fine noise, PNG) to a temporary benchmark folder,
builds a ``QATSession`` that trains on it (the ``quick`` preset otherwise: the stored arrays do not depend on the
student) and touches every training image, so that each holds what an episode needs: the LR / HR pair, the frozen
teacher's output and the static difficulty maps. Prints the process's resident memory (RSS, from /proc) before and
after, divided by the image count, and the bytes of each stored array.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np

import spark_env
from spark_env.qat import QATSession


def resident_mb() -> float:
    """Resident set size of this process in MB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("bench_memory reads VmRSS from /proc/self/status (Linux only)")


def write_synthetic_folder(folder: Path, count: int, width: int, height: int, seed: int = 0) -> None:
    """``count`` PNG images of ``width`` x ``height``: upsampled random colour fields plus pixel noise."""
    rng = np.random.default_rng(seed)
    (folder / "HR").mkdir(parents=True)
    for index in range(count):
        coarse = rng.uniform(0, 255, (max(height // 64, 2), max(width // 64, 2), 3)).astype(np.float32)
        image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
        image += rng.normal(0, 12, image.shape).astype(np.float32)
        cv2.imwrite(str(folder / "HR" / f"{index:04d}.png"), np.clip(image, 0, 255).astype(np.uint8))


def stored_bytes(session: QATSession) -> dict[str, float]:
    """Bytes per image (mean over the training images) of each array the training set keeps, every image touched."""
    images = [session.training_set.image(i) for i in range(len(session.training_set.pairs))]

    def mean_bytes(arrays: list) -> float:
        return sum(a.nbytes if isinstance(a, np.ndarray) else a.element_size() * a.nelement() for a in arrays) \
            / len(images)
    return {"LR image": mean_bytes([im.pair.lq for im in images]), "HR image": mean_bytes([im.pair.hr for im in images]),
            "teacher output": mean_bytes([im.teacher for im in images]),
            "static maps": mean_bytes([im.static.maps for im in images])}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--size", type=int, nargs=2, default=[2040, 1356], metavar=("WIDTH", "HEIGHT"))
    parser.add_argument("--arch", default="fsrcnn")
    parser.add_argument("--task", default="sr_x2")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        write_synthetic_folder(Path(folder), args.images, *args.size)
        config = spark_env.make_config("quick", arch=args.arch, task=args.task, train_folder=folder)
        before = resident_mb()
        session = QATSession(config)
        arrays = stored_bytes(session)
        after = resident_mb()
    per_image = (after - before) / args.images
    print(f"{args.images} images of {args.size[0]} x {args.size[1]} ({args.task}, teacher {args.arch}): resident "
          f"memory {before:.0f} -> {after:.0f} MB, {per_image:.1f} MB per image (the session's own models and probe "
          f"included)")
    print("stored per image: " + ", ".join(f"{name} {size / 2 ** 20:.1f} MB" for name, size in arrays.items())
          + f"; {sum(arrays.values()) / 2 ** 20:.1f} MB in all")


if __name__ == "__main__":
    main()
