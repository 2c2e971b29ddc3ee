"""Memory the env keeps per training image at paper scale: resident memory on a synthetic folder of DIV2K-sized images.

    python -m experiments.bench_memory                          # 8 and 16 images of 2040 x 1356, SR x2
    python -m experiments.bench_memory --images 16 32 --size 2040 1356 --arch edsr --teacher-cache float32

Writes synthetic photographs (smooth colour fields with fine noise, PNG) to a temporary benchmark folder and, for
each count in ``--images``, in a fresh process, builds a ``QATSession`` that trains on the first that many of them
(the ``quick`` preset otherwise: the stored arrays do not depend on the student) and touches every training image,
so that each holds what an episode needs: the LR / HR pair, the frozen teacher's output and the static difficulty
map. Prints each process's resident memory (RSS, from /proc) before and after, the slope between the counts (the
memory per image, without the process's fixed part) and the bytes of each stored array.
"""
from __future__ import annotations

import argparse
import multiprocessing
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

import spark_env
from spark_env.config import TEACHER_CACHES
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
    return {"LR image": mean_bytes([im.pair.lq_stored for im in images]),
            "HR image": mean_bytes([im.pair.hr_stored for im in images]),
            "teacher output": mean_bytes([im.teacher for im in images]),
            "static map": mean_bytes([im.static.laplacian for im in images])}


def measure(folder: str, arch: str, task: str, teacher_cache: str) -> tuple[float, float, dict[str, float]]:
    """(RSS before, RSS after, stored bytes per image) of a session training on ``folder``, every image touched."""
    config = spark_env.make_config("quick", arch=arch, task=task, train_folder=folder, teacher_cache=teacher_cache)
    before = resident_mb()
    session = QATSession(config)
    arrays = stored_bytes(session)
    return before, resident_mb(), arrays


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, nargs=2, default=[8, 16], metavar=("FEW", "MANY"))
    parser.add_argument("--size", type=int, nargs=2, default=[2040, 1356], metavar=("WIDTH", "HEIGHT"))
    parser.add_argument("--arch", default="fsrcnn")
    parser.add_argument("--task", default="sr_x2")
    parser.add_argument("--teacher-cache", default="float16", choices=TEACHER_CACHES,
                        help="precision of the cached teacher outputs (default: the paper preset's)")
    args = parser.parse_args(argv)
    few, many = args.images
    if not 0 < few < many:
        parser.error(f"--images {few} {many}: need two counts 0 < FEW < MANY")
    growth = {}
    with tempfile.TemporaryDirectory() as root:
        write_synthetic_folder(Path(root) / "all", many, *args.size)
        for count in (few, many):
            folder = Path(root) / str(count)
            (folder / "HR").mkdir(parents=True)
            for image in sorted((Path(root) / "all" / "HR").iterdir())[:count]:
                (folder / "HR" / image.name).symlink_to(image)
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                before, after, arrays = pool.submit(measure, str(folder), args.arch, args.task,
                                                    args.teacher_cache).result()
            growth[count] = after - before
            print(f"{count} images of {args.size[0]} x {args.size[1]} ({args.task}, teacher {args.arch}, teacher "
                  f"cache {args.teacher_cache}): resident memory {before:.0f} -> {after:.0f} MB")
    print(f"memory per image (slope from {few} to {many} images): {(growth[many] - growth[few]) / (many - few):.1f} MB")
    print("stored per image: " + ", ".join(f"{name} {size / 2 ** 20:.1f} MB" for name, size in arrays.items())
          + f"; {sum(arrays.values()) / 2 ** 20:.1f} MB in all")


if __name__ == "__main__":
    main()
